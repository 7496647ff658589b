// The test cluster itself: three members form a quorum, one member's loss
// (stopped or paused) leaves the others serving, losing two loses the quorum,
// and members brought back keep their data.
#include <gtest/gtest.h>

#include "support/etcd_cluster.h"
#include "tandem/sdk/net/http_client.h"

namespace {

using tandem::testsupport::EtcdCluster;
namespace net = tandem::sdk::net;

// A raw gateway call (the product's client is tested in etcd_client_test).
tandem::sdk::Result<net::Response> post(const std::string& url, const std::string& target, const std::string& body,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  auto u = net::parse_url(url);
  if (!u) return u.error();
  net::Request r;
  r.method = "POST";
  r.target = target;
  r.body = body;
  r.timeout = timeout;
  return net::request(*u, r);
}

// "a" and "b" base64-encoded: the gateway wants bytes fields in base64.
constexpr const char* kPutAB = R"({"key":"YQ==","value":"Yg=="})";
constexpr const char* kGetA = R"({"key":"YQ=="})";

TEST(EtcdCluster, ThreeMembersServeOneWriteEverywhere) {
  EtcdCluster cluster;
  ASSERT_EQ(cluster.size(), 3u);
  auto put = post(cluster.client_url(0), "/v3/kv/put", kPutAB);
  ASSERT_TRUE(put) << put.message();
  ASSERT_EQ(put->status, 200) << put->body;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    auto got = post(cluster.client_url(i), "/v3/kv/range", kGetA);
    ASSERT_TRUE(got) << got.message();
    EXPECT_NE(got->body.find("\"Yg==\""), std::string::npos) << "member " << i << ": " << got->body;
  }
}

TEST(EtcdCluster, OneMemberDownOrPausedLeavesAQuorum) {
  EtcdCluster cluster;
  cluster.stop(0);
  EXPECT_FALSE(cluster.running(0));
  EXPECT_FALSE(post(cluster.client_url(0), "/v3/kv/range", kGetA).ok()) << "a stopped member answered";
  ASSERT_TRUE(cluster.wait_healthy(1, std::chrono::seconds(15))) << cluster.log_tails();
  auto put = post(cluster.client_url(1), "/v3/kv/put", kPutAB, std::chrono::seconds(10));
  ASSERT_TRUE(put) << put.message();
  EXPECT_EQ(put->status, 200) << put->body;

  cluster.pause(1);
  auto to_paused = post(cluster.client_url(1), "/v3/kv/range", kGetA, std::chrono::milliseconds(500));
  EXPECT_FALSE(to_paused.ok()) << "a paused member answered";
  cluster.resume(1);
  cluster.start(0);
  ASSERT_TRUE(cluster.wait_healthy(0, std::chrono::seconds(30))) << cluster.log_tails();
  auto got = post(cluster.client_url(0), "/v3/kv/range", kGetA);
  ASSERT_TRUE(got) << got.message();
  EXPECT_NE(got->body.find("\"Yg==\""), std::string::npos) << "the restarted member lost the write: " << got->body;
}

TEST(EtcdCluster, TwoMembersDownLoseTheQuorumAndAllBackRegainIt) {
  EtcdCluster cluster;
  cluster.stop(0);
  cluster.stop(1);
  EXPECT_FALSE(cluster.wait_healthy(2, std::chrono::seconds(3))) << "one member of three reported healthy";
  cluster.stop_all();
  for (std::size_t i = 0; i < cluster.size(); ++i) EXPECT_FALSE(cluster.running(i));
  cluster.start_all();
  auto put = post(cluster.client_url(2), "/v3/kv/put", kPutAB, std::chrono::seconds(10));
  ASSERT_TRUE(put) << put.message();
  EXPECT_EQ(put->status, 200) << put->body;
}

}  // namespace
