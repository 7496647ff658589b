// The load-balancer health checks (/primary, /replica, /health, /liveness,
// /readiness, /v1/stores/<name>/primary) against an in-process tandemd: the
// real runtime, store runners and HTTP server.
#include <gtest/gtest.h>

#include "in_process_daemon.h"
#include "support/test_http.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testplugins {
namespace {

using sdk::testing::eventually;
using namespace std::chrono_literals;

std::shared_ptr<TestStorePlugin> store(sdk::HealthStatus status = sdk::HealthStatus::ok,
                                       std::optional<std::uint64_t> lag_bytes = std::nullopt) {
  TestStoreKnobs k;
  k.status = status;
  k.lag_bytes = lag_bytes;
  return std::make_shared<TestStorePlugin>(k);
}

InProcessOptions as(sdk::Role role) {
  InProcessOptions o;
  o.role = role;
  return o;
}

// Waits until the stores started and their health was cached once, so the
// checks answer from settled state.
void wait_settled(const InProcessDaemon& d) {
  ASSERT_TRUE(eventually([&] { return testhttp::get(d.port, "/health").status == 200; }, 20s))
      << testhttp::get(d.port, "/health").body;
  ASSERT_TRUE(eventually(
      [&] {
        auto s = testhttp::get(d.port, "/v1/status").json();
        for (const auto& st : s["stores"])
          if (st["health"]["status"] == "unknown") return false;
        return true;
      },
      20s));
}

TEST(HealthChecks, PrimaryAnswers200OnThePrimaryAnd503ForReplica) {
  InProcessDaemon d({{"pg", store()}}, as(sdk::Role::primary));
  wait_settled(d);
  auto r = testhttp::get(d.port, "/primary");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.json()["role"], "primary");
  EXPECT_EQ(r.json()["ok"], true);
  EXPECT_EQ(testhttp::get(d.port, "/read-write").status, 200);
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/pg/primary").status, 200);
  auto replica = testhttp::get(d.port, "/replica");
  EXPECT_EQ(replica.status, 503);
  EXPECT_EQ(replica.json()["reason"], "this node is the primary");
  EXPECT_EQ(testhttp::get(d.port, "/readiness").status, 200);
  EXPECT_EQ(testhttp::get(d.port, "/liveness").status, 200);
}

TEST(HealthChecks, SecondaryAnswers200ForReplicaAnd503ForPrimary) {
  InProcessDaemon d({{"pg", store()}}, as(sdk::Role::secondary));
  wait_settled(d);
  auto r = testhttp::get(d.port, "/primary");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.json()["reason"], "this node is the secondary");
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/pg/primary").status, 503);
  EXPECT_EQ(testhttp::get(d.port, "/replica").status, 200);
  EXPECT_EQ(testhttp::get(d.port, "/health").status, 200);
}

TEST(HealthChecks, NoTokenIsNeededAndHeadAndOptionsAnswerLikeGet) {
  InProcessDaemon d({{"pg", store()}}, as(sdk::Role::primary));
  wait_settled(d);
  auto head = testhttp::request(d.port, "HEAD", "/primary");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty()) << head.body;
  EXPECT_NE(head.header("Content-Length"), "0");
  auto options = testhttp::request(d.port, "OPTIONS", "/primary");
  EXPECT_EQ(options.status, 200);
  EXPECT_EQ(options.header("Allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(testhttp::request(d.port, "HEAD", "/replica").status, 503);
  EXPECT_EQ(testhttp::request(d.port, "OPTIONS", "/replica").status, 503);
  auto post = testhttp::request(d.port, "POST", "/primary");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("Allow"), "GET, HEAD, OPTIONS");
}

TEST(HealthChecks, AFailedStoreMakesThePrimaryNotServe) {
  InProcessDaemon d({{"good", store()}, {"bad", store(sdk::HealthStatus::failed)}}, as(sdk::Role::primary));
  wait_settled(d);
  auto r = testhttp::get(d.port, "/primary");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.json()["reason"].get<std::string>().find("store 'bad' is failed"), std::string::npos) << r.body;
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/good/primary").status, 200);
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/bad/primary").status, 503);
  EXPECT_EQ(testhttp::get(d.port, "/readiness").status, 503);
  // It runs, so the process is healthy and alive; it is just not ready.
  EXPECT_EQ(testhttp::get(d.port, "/health").status, 200);
  EXPECT_EQ(testhttp::get(d.port, "/liveness").status, 200);
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/nosuch/primary").status, 404);
}

TEST(HealthChecks, DegradedStillServes) {
  InProcessDaemon d({{"pg", store(sdk::HealthStatus::degraded)}}, as(sdk::Role::primary));
  wait_settled(d);
  EXPECT_EQ(testhttp::get(d.port, "/primary").status, 200);
}

TEST(HealthChecks, ReplicaLagLimitInBytes) {
  InProcessDaemon d({{"pg", store(sdk::HealthStatus::ok, 5000)}}, as(sdk::Role::secondary));
  wait_settled(d);
  EXPECT_EQ(testhttp::get(d.port, "/replica?lag=5000").status, 200);
  EXPECT_EQ(testhttp::get(d.port, "/replica?lag=1000000").status, 200);
  auto over = testhttp::get(d.port, "/replica?lag=4999");
  EXPECT_EQ(over.status, 503);
  EXPECT_EQ(over.json()["lag_bytes"], 5000);
  // The store measures no lag in seconds: a seconds limit cannot be vouched for.
  auto secs = testhttp::get(d.port, "/replica?lag=10s");
  EXPECT_EQ(secs.status, 503);
  EXPECT_EQ(secs.json()["reason"], "no store measures its lag in seconds");
}

TEST(HealthChecks, MalformedLagIsABadRequest) {
  InProcessDaemon d({{"pg", store(sdk::HealthStatus::ok, 0)}}, as(sdk::Role::secondary));
  wait_settled(d);
  for (const char* bad : {"/replica?lag=", "/replica?lag=abc", "/replica?lag=-1", "/replica?lag=10ms"}) {
    auto r = testhttp::get(d.port, bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(r.json()["error"].get<std::string>().find("?lag=<bytes>"), std::string::npos) << r.body;
  }
}

}  // namespace
}  // namespace tandem::testplugins
