// core/src/dcs/etcd_client against a real three-member etcd: leases, the
// compare-and-swap transaction the leader key uses, and each error kind as
// the cluster produces it (a member down, all down, all paused, no quorum,
// auth), and TLS.
#include <gtest/gtest.h>

#include <thread>

#include "dcs/etcd_client.h"
#include "support/etcd_cluster.h"
#include "support/test_certs.h"
#include "tandem/sdk/net/http_client.h"
#include "tandem/sdk/net/tls.h"

namespace {

using namespace tandem::core::dcs;
using tandem::testsupport::EtcdCluster;
using namespace std::chrono_literals;

EtcdOptions options_for(const std::vector<std::string>& urls, std::chrono::milliseconds request = 1s,
                        std::chrono::milliseconds retry = 3s) {
  EtcdOptions o;
  for (const auto& u : urls) o.endpoints.push_back(*tandem::sdk::net::parse_url(u));
  o.request_timeout = request;
  o.retry_timeout = retry;
  return o;
}

// Create `key` = `value` bound to `lease` only if the key does not exist,
// reading the key in the same transaction either way.
tandem::sdk::Result<TxnResult> create_if_absent(EtcdClient& c, const std::string& key, const std::string& value,
                                                std::int64_t lease) {
  return c.txn({Compare{key, Compare::Target::create_revision, Compare::Op::equal, 0, ""}},
               {TxnOp{TxnOp::Kind::put, key, value, lease}, TxnOp{TxnOp::Kind::get, key, "", 0}},
               {TxnOp{TxnOp::Kind::get, key, "", 0}});
}

TEST(EtcdClient, LeaseKeyCompareAndSwapAndRevoke) {
  EtcdCluster cluster;
  EtcdClient c(options_for(cluster.client_urls()));
  auto lease = c.grant_lease(10s);
  ASSERT_TRUE(lease) << lease.message();
  EXPECT_EQ(lease->ttl, 10s);
  auto renewed = c.keep_alive(lease->id);
  ASSERT_TRUE(renewed) << renewed.message();
  EXPECT_EQ(*renewed, 10s);

  // Binary-safe keys and values (base64 on the wire).
  const std::string value = std::string("node=alpha\0epoch=3", 18);
  auto first = create_if_absent(c, "/t/leader", value, lease->id);
  ASSERT_TRUE(first) << first.message();
  EXPECT_TRUE(first->succeeded);
  ASSERT_EQ(first->gets.size(), 1u);
  ASSERT_TRUE(first->gets[0]);
  EXPECT_EQ(first->gets[0]->value, value);
  EXPECT_EQ(first->gets[0]->lease, lease->id);

  auto second = create_if_absent(c, "/t/leader", "node=beta", 0);
  ASSERT_TRUE(second) << second.message();
  EXPECT_FALSE(second->succeeded) << "a second create of an existing key succeeded";
  ASSERT_EQ(second->gets.size(), 1u);
  ASSERT_TRUE(second->gets[0]);
  EXPECT_EQ(second->gets[0]->value, value) << "the failed compare changed the key";

  // Every member sees it (a linearizable read through another member).
  EtcdClient other(options_for({cluster.client_url(2)}));
  auto seen = other.get("/t/leader");
  ASSERT_TRUE(seen) << seen.message();
  ASSERT_TRUE(seen->has_value());
  EXPECT_EQ((*seen)->value, value);

  ASSERT_TRUE(c.revoke_lease(lease->id).ok());
  auto gone = c.get("/t/leader");
  ASSERT_TRUE(gone) << gone.message();
  EXPECT_FALSE(gone->has_value()) << "the key outlived its revoked lease";
  auto dead = c.keep_alive(lease->id);
  ASSERT_FALSE(dead) << "a revoked lease was renewed";
  EXPECT_EQ(classify(dead.error()), EtcdErrorKind::lease_not_found) << dead.message();
}

TEST(EtcdClient, AnUnrenewedLeaseExpiresAndTakesItsKey) {
  EtcdCluster cluster;
  EtcdClient c(options_for(cluster.client_urls()));
  auto lease = c.grant_lease(2s);
  ASSERT_TRUE(lease) << lease.message();
  ASSERT_TRUE(create_if_absent(c, "/t/k", "v", lease->id));
  EXPECT_TRUE(tandem::sdk::testing::eventually(
      [&] {
        auto r = c.get("/t/k");
        return r && !r->has_value();
      },
      6s))
      << "the key of a 2 s lease still exists after 6 s";
  auto dead = c.keep_alive(lease->id);
  ASSERT_FALSE(dead);
  EXPECT_EQ(classify(dead.error()), EtcdErrorKind::lease_not_found) << dead.message();
}

TEST(EtcdClient, OneMemberDownTheOthersAnswer) {
  EtcdCluster cluster;
  cluster.stop(0);  // the first endpoint of the list
  EtcdClient c(options_for(cluster.client_urls(), 1s, 10s));
  auto lease = c.grant_lease(5s);
  ASSERT_TRUE(lease) << lease.message();
  EXPECT_NE(c.last_endpoint(), cluster.client_url(0));
  auto renewed = c.keep_alive(lease->id);
  EXPECT_TRUE(renewed) << renewed.message();

  cluster.start(0);
  ASSERT_TRUE(cluster.wait_healthy(0, 30s)) << cluster.log_tails();
  cluster.pause(1);  // a member that takes connections and never answers
  EtcdClient paused_first(options_for({cluster.client_url(1), cluster.client_url(2)}, 500ms, 10s));
  auto read = paused_first.get("/t/none");
  EXPECT_TRUE(read) << read.message();
  EXPECT_EQ(paused_first.last_endpoint(), cluster.client_url(2));
}

TEST(EtcdClient, AllMembersDownIsUnreachable) {
  EtcdCluster cluster;
  auto urls = cluster.client_urls();
  cluster.stop_all();
  EtcdClient c(options_for(urls, 500ms, 1500ms));
  auto started = std::chrono::steady_clock::now();
  auto r = c.grant_lease(5s);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r);
  EXPECT_EQ(classify(r.error()), EtcdErrorKind::unreachable) << r.message();
  EXPECT_EQ(r.code(), tandem::sdk::ErrorCode::unavailable);
  EXPECT_LT(took, 5s) << "the retry budget of 1.5 s was not kept";
}

TEST(EtcdClient, AllMembersPausedIsATimeout) {
  EtcdCluster cluster;
  cluster.pause_all();
  EtcdClient c(options_for(cluster.client_urls(), 300ms, 1s));
  auto r = c.get("/t/k");
  cluster.resume_all();
  ASSERT_FALSE(r);
  EXPECT_EQ(classify(r.error()), EtcdErrorKind::timeout) << r.message();
  EXPECT_EQ(r.code(), tandem::sdk::ErrorCode::unavailable);
}

TEST(EtcdClient, ASurvivorWithoutQuorumHasNoLeader) {
  EtcdCluster cluster;
  cluster.stop(0);
  cluster.stop(1);
  // The survivor answers, but cannot commit or serve a linearizable read.
  EtcdClient c(options_for({cluster.client_url(2)}, 1s, 4s));
  // Past an election timeout it knows it has no leader.
  std::this_thread::sleep_for(2s);
  auto r = c.grant_lease(5s);
  ASSERT_FALSE(r) << "a member without quorum granted a lease";
  auto kind = classify(r.error());
  EXPECT_TRUE(kind == EtcdErrorKind::no_leader) << to_string(kind) << ": " << r.message();
  EXPECT_EQ(r.code(), tandem::sdk::ErrorCode::unavailable);
}

// Through every endpoint, as tandemd calls: two refuse, the survivor says
// "no leader", and that is what the caller is told (what tells the most).
TEST(EtcdClient, QuorumLostWithOneMemberUpIsNoLeaderThroughAllEndpoints) {
  EtcdCluster cluster;
  cluster.stop(0);
  cluster.stop(2);
  EtcdClient c(options_for(cluster.client_urls(), 1s, 3s));
  std::this_thread::sleep_for(2s);  // past an election timeout
  for (int i = 0; i < 3; ++i) {
    auto r = c.get("/t/k");
    ASSERT_FALSE(r) << "a member without quorum served a linearizable read";
    EXPECT_EQ(classify(r.error()), EtcdErrorKind::no_leader) << r.message();
  }
}

// TLS to etcd ([dcs] https:// endpoints, ca_file, cert_file/key_file): a
// cluster serving TLS and requiring client certificates, its certificates
// made for the test. The right CA and a client certificate: served; another
// CA, or no client certificate: refused, and the error says why.
TEST(EtcdClient, MutualTlsTheRightCaIsServedAWrongCaOrNoCertificateIsAClearError) {
  tandem::testsupport::TestCerts certs({{"etcd", "127.0.0.1"}, {"alpha", "127.0.0.1"}});
  tandem::testsupport::EtcdClusterOptions tls;
  tls.tls_cert_file = certs.cert("etcd");
  tls.tls_key_file = certs.key("etcd");
  tls.client_ca_file = certs.ca();
  EtcdCluster cluster(tls);
  ASSERT_EQ(cluster.client_url(0).rfind("https://", 0), 0u) << cluster.client_url(0);
  auto client = [&](tandem::sdk::net::ClientTlsFiles files) {
    auto context = tandem::sdk::net::make_client_tls(files);
    if (!context) throw std::runtime_error(context.message());
    auto o = options_for(cluster.client_urls(), 1s, 2s);
    o.tls = *context;
    return std::make_unique<EtcdClient>(o);
  };

  auto good = client({certs.ca(), certs.cert("alpha"), certs.key("alpha")});
  auto put = good->txn({}, {TxnOp{TxnOp::Kind::put, "/tls/k", "v", 0}});
  ASSERT_TRUE(put && put->succeeded) << (put ? "not applied" : put.message());
  auto read = good->get("/tls/k");
  ASSERT_TRUE(read && *read) << (read ? "no key" : read.message());
  EXPECT_EQ((*read)->value, "v");

  auto wrong_ca = client({certs.dir() / "other-ca.pem", certs.cert("alpha"), certs.key("alpha")});
  auto refused = wrong_ca->get("/tls/k");
  ASSERT_FALSE(refused) << "a client trusting another CA read from etcd";
  EXPECT_EQ(classify(refused.error()), EtcdErrorKind::unreachable) << refused.message();
  EXPECT_NE(refused.message().find("the server's certificate is refused"), std::string::npos) << refused.message();

  auto anonymous = client({certs.ca(), std::nullopt, std::nullopt});
  auto no_cert = anonymous->get("/tls/k");
  ASSERT_FALSE(no_cert) << "etcd served a client without a certificate";
  std::printf("[ figure ] wrong CA: %s\n[ figure ] no client certificate: %s\n", refused.message().c_str(),
              no_cert.message().c_str());
}

TEST(EtcdClient, AuthWithUserAndPassword) {
  EtcdCluster cluster;
  auto url = *tandem::sdk::net::parse_url(cluster.client_url(0));
  auto admin = [&](const std::string& target, const std::string& body) {
    tandem::sdk::net::Request r;
    r.method = "POST";
    r.target = target;
    r.body = body;
    auto a = tandem::sdk::net::request(url, r);
    ASSERT_TRUE(a) << a.message();
    ASSERT_EQ(a->status, 200) << target << ": " << a->body;
  };
  admin("/v3/auth/role/add", R"({"name":"root"})");
  admin("/v3/auth/user/add", R"({"name":"root","password":"s3cret-pw"})");
  admin("/v3/auth/user/grant", R"({"user":"root","role":"root"})");
  admin("/v3/auth/enable", "{}");

  EtcdClient anonymous(options_for(cluster.client_urls()));
  auto refused = anonymous.get("/t/k");  // (etcd 3.4 checks no permission on lease grants)
  ASSERT_FALSE(refused) << "auth is on, yet an anonymous read succeeded";
  EXPECT_EQ(classify(refused.error()), EtcdErrorKind::rejected) << refused.message();

  auto o = options_for(cluster.client_urls());
  o.username = "root";
  o.password = "wrong";
  EtcdClient wrong(o);
  auto bad = wrong.get("/t/k");
  ASSERT_FALSE(bad);
  EXPECT_EQ(classify(bad.error()), EtcdErrorKind::rejected) << bad.message();
  EXPECT_NE(bad.message().find("authenticate"), std::string::npos) << bad.message();
  EXPECT_EQ(bad.message().find("wrong"), std::string::npos) << "the password is in the message: " << bad.message();

  o.password = "s3cret-pw";
  EtcdClient right(o);
  auto lease = right.grant_lease(5s);
  ASSERT_TRUE(lease) << lease.message();
  ASSERT_TRUE(create_if_absent(right, "/t/k", "v", lease->id));
}

}  // namespace
