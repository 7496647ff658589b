// Each endpoint of the HTTP API (docs/http-api.md) against an in-process tandemd.
#include <gtest/gtest.h>

#include "in_process_daemon.h"
#include "support/test_http.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testplugins {
namespace {

using sdk::testing::eventually;
using namespace std::chrono_literals;
const std::map<std::string, std::string> kAuth = {{"Authorization", "Bearer s3cret-token"}};

std::shared_ptr<TestStorePlugin> pg_like() {
  TestStoreKnobs k;
  k.replication = {{"10.11.2.60", "postgres_lag_bytes", "0"}};
  k.lag_bytes = 0;
  return std::make_shared<TestStorePlugin>(k);
}

TEST(ApiEndpoints, ReplicationPageHasTheSeedShapeOnThePrimary) {
  InProcessDaemon d({{"pg", pg_like()}});
  nlohmann::json expected =
      nlohmann::json::parse(R"({"10.11.2.60":{"postgres_lag_bytes":"0"},"replication_mode":"master"})");
  ASSERT_TRUE(eventually([&] { return testhttp::get(d.port, "/monitor/replication").json() == expected; }, 10s))
      << testhttp::get(d.port, "/monitor/replication").body;
  auto r = testhttp::get(d.port, "/monitor/replication");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.body, R"({"10.11.2.60":{"postgres_lag_bytes":"0"},"replication_mode":"master"})"
                    "\n");
}

TEST(ApiEndpoints, ReplicationPageWithoutEntriesIsTheModeAlone) {
  InProcessDaemon d({{"plain", std::make_shared<TestStorePlugin>()}});
  auto r = testhttp::get(d.port, "/monitor/replication");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), nlohmann::json::parse(R"({"replication_mode":"master"})"));
}

TEST(ApiEndpoints, ReplicationPageOnASecondarySaysStandby) {
  TestStoreKnobs k;
  k.replication = {{"10.0.0.2", "postgres_lag_bytes", "unknown"}};
  InProcessOptions o;
  o.role = sdk::Role::secondary;
  InProcessDaemon d({{"pg", std::make_shared<TestStorePlugin>(k)}}, o);
  nlohmann::json expected = {{"10.0.0.2", {{"postgres_lag_bytes", "unknown"}}}, {"replication_mode", "standby"}};
  EXPECT_TRUE(eventually([&] { return testhttp::get(d.port, "/monitor/replication").json() == expected; }, 10s));
}

TEST(ApiEndpoints, StatusReportsNodePeerAndEveryStore) {
  TestStoreKnobs fast;
  fast.interval = 50ms;
  auto a = std::make_shared<TestStorePlugin>(fast);
  auto b = pg_like();
  InProcessDaemon d({{"alpha-config", a}, {"pg", b}});
  ASSERT_TRUE(eventually([&] { return a->sync_calls >= 2; }, 20s));
  ASSERT_TRUE(eventually(
      [&] {
        auto s = testhttp::get(d.port, "/v1/status").json();
        return s["stores"][0]["sync"]["runs"].get<int>() >= 2 && s["stores"][0]["health"]["status"] == "ok";
      },
      20s));
  auto r = testhttp::get(d.port, "/v1/status");
  ASSERT_EQ(r.status, 200);
  auto s = r.json();
  EXPECT_EQ(s["node"]["name"], "alpha");
  EXPECT_EQ(s["node"]["address"], "10.0.0.1");
  EXPECT_EQ(s["role"], "primary");
  EXPECT_EQ(s["epoch"], 1);
  EXPECT_EQ(s["fenced"], false);
  EXPECT_EQ(s["peer"]["name"], "beta");
  EXPECT_EQ(s["peer"]["api_url"], "http://127.0.0.1:1");
  EXPECT_EQ(s["peer"]["reachable"], false);
  EXPECT_TRUE(s["peer"]["role"].is_null());
  ASSERT_EQ(s["stores"].size(), 2u);
  const auto& st = s["stores"][0];
  EXPECT_EQ(st["name"], "alpha-config");
  EXPECT_EQ(st["plugin"], "test-store");
  EXPECT_EQ(st["version"], "9.9.9");
  EXPECT_EQ(st["state"], "running");
  for (const char* key : {"status", "summary", "lag_bytes", "lag_seconds", "details", "observed_at"})
    EXPECT_TRUE(st["health"].contains(key)) << key;
  for (const char* key : {"runs", "failures", "last_duration_ms", "last_error", "last_success"})
    EXPECT_TRUE(st["sync"].contains(key)) << key;
  EXPECT_EQ(st["sync"]["failures"], 0);
  EXPECT_TRUE(st["sync"]["last_success"].is_string());
  EXPECT_EQ(s["stores"][1]["health"]["lag_bytes"], 0);
}

TEST(ApiEndpoints, StoreDetailListsDiagnosticsAndActions) {
  InProcessDaemon d({{"pg", pg_like()}});
  auto r = testhttp::get(d.port, "/v1/stores/pg");
  ASSERT_EQ(r.status, 200);
  auto j = r.json();
  EXPECT_EQ(j["name"], "pg");
  ASSERT_EQ(j["diagnostics"].size(), 1u);
  EXPECT_EQ(j["diagnostics"][0]["name"], "ping");
  ASSERT_EQ(j["actions"].size(), 3u);
  EXPECT_EQ(j["actions"][0]["name"], "echo");
  EXPECT_TRUE(j.contains("health"));
  EXPECT_TRUE(j.contains("sync"));

  auto missing = testhttp::get(d.port, "/v1/stores/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.json()["error"].get<std::string>().find("nope"), std::string::npos);
}

TEST(ApiEndpoints, MetricsAreInPrometheusTextFormat) {
  TestStoreKnobs k;
  k.interval = 50ms;
  k.lag_bytes = 1234;
  auto p = std::make_shared<TestStorePlugin>(k);
  InProcessDaemon d({{"pg", p}});
  ASSERT_TRUE(eventually([&] { return p->sync_calls >= 1; }, 20s));
  ASSERT_EQ(testhttp::request(d.port, "POST", "/v1/stores/pg/actions/metric", "{}", kAuth).status, 200);
  testhttp::Reply r;
  ASSERT_TRUE(eventually(
      [&] {
        r = testhttp::get(d.port, "/metrics");
        return r.body.find("tandem_store_sync_runs_total{store=\"pg\"} ") != std::string::npos &&
               r.body.find("tandem_store_lag_bytes{store=\"pg\"} 1234\n") != std::string::npos;
      },
      20s))
      << r.body;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  for (const char* line :
       {"# TYPE tandem_store_health gauge\n", "tandem_store_health{status=\"ok\",store=\"pg\"} 1\n",
        "tandem_store_health{status=\"failed\",store=\"pg\"} 0\n", "# TYPE tandem_store_sync_runs_total counter\n",
        "tandem_store_sync_failures_total{store=\"pg\"} 0\n", "# TYPE tandem_store_sync_duration_seconds gauge\n",
        "tandem_node_epoch 1\n", "tandem_node_role{role=\"primary\"} 1\n", "tandem_peer_reachable 0\n",
        "# HELP tandem_test_items Items the test store holds.\n",
        "tandem_test_items{kind=\"a\\\"b\",store=\"pg\"} 42\n", "# TYPE tandem_test_ops_total counter\n",
        "tandem_test_ops_total{store=\"pg\"} 3\n"}) {
    EXPECT_NE(r.body.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << r.body;
  }
  // Every sample line belongs to a family announced with # TYPE.
  std::istringstream in(r.body);
  std::string line, family;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
    } else if (!line.empty() && line[0] != '#') {
      EXPECT_EQ(line.rfind(family, 0), 0u) << line;
    }
  }
}

TEST(ApiEndpoints, ActionsRunOnTheStoreAndReturnTheirJson) {
  InProcessDaemon d({{"pg", pg_like()}});
  auto ok = testhttp::request(d.port, "POST", "/v1/stores/pg/actions/echo", R"({"x":1})", kAuth);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.json(), nlohmann::json::parse(R"({"echo":{"x":1}})"));

  auto no_body = testhttp::request(d.port, "POST", "/v1/stores/pg/actions/echo", "", kAuth);
  EXPECT_EQ(no_body.status, 200);
  EXPECT_EQ(no_body.json()["echo"], nlohmann::json::object());

  auto failed = testhttp::request(d.port, "POST", "/v1/stores/pg/actions/fail", "{}", kAuth);
  EXPECT_EQ(failed.status, 500);
  EXPECT_EQ(failed.json()["error"], "the action failed as told");
  auto unknown = testhttp::request(d.port, "POST", "/v1/stores/pg/actions/rebuild", "{}", kAuth);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.json()["error"].get<std::string>().find("available: echo, fail, metric"), std::string::npos);
  auto bad_json = testhttp::request(d.port, "POST", "/v1/stores/pg/actions/echo", "{nope", kAuth);
  EXPECT_EQ(bad_json.status, 400);
  auto unknown_store = testhttp::request(d.port, "POST", "/v1/stores/zz/actions/echo", "{}", kAuth);
  EXPECT_EQ(unknown_store.status, 404);
}

TEST(ApiEndpoints, PeerEventsReachThePlugin) {
  auto p = pg_like();
  InProcessDaemon d({{"pg", p}});
  auto r = testhttp::request(d.port, "POST", "/v1/stores/pg/events", R"({"changed":"/etc/app"})", kAuth);
  EXPECT_EQ(r.status, 202);
  EXPECT_TRUE(eventually([&] { return p->health().details["events"].size() == 1; }, 10s));
  EXPECT_EQ(p->health().details["events"][0]["changed"], "/etc/app");
  EXPECT_EQ(testhttp::request(d.port, "POST", "/v1/stores/pg/events", "", kAuth).status, 400);
  EXPECT_EQ(testhttp::request(d.port, "POST", "/v1/stores/pg/events", "[1]", kAuth).status, 400);
}

TEST(ApiEndpoints, FailoverEndpointsAreGuardedAndAnswerWithAReport) {
  InProcessDaemon d({});  // a primary whose peer does not answer
  for (const char* path : {"/v1/promote", "/v1/switchover", "/v1/rejoin", "/v1/internal/demote"})
    EXPECT_EQ(testhttp::request(d.port, "POST", path, "{}").status, 401) << path;

  auto promote = testhttp::request(d.port, "POST", "/v1/promote", R"({"dry_run":true})", kAuth);
  EXPECT_EQ(promote.status, 200);
  EXPECT_EQ(promote.json()["result"], "succeeded");
  EXPECT_NE(promote.json()["reason"].get<std::string>().find("already primary"), std::string::npos);

  auto rejoin = testhttp::request(d.port, "POST", "/v1/rejoin", "{}", kAuth);
  EXPECT_EQ(rejoin.status, 409);
  EXPECT_EQ(rejoin.json()["result"], "refused");
  EXPECT_NE(rejoin.json()["reason"].get<std::string>().find("not reachable"), std::string::npos);

  EXPECT_EQ(testhttp::request(d.port, "POST", "/v1/promote", "[1]", kAuth).status, 400);
  EXPECT_EQ(testhttp::request(d.port, "GET", "/v1/promote", "", kAuth).status, 405);

  auto history = testhttp::request(d.port, "GET", "/v1/history", "");
  EXPECT_EQ(history.status, 200);
  EXPECT_TRUE(history.json()["history"].is_array());
  EXPECT_TRUE(history.json()["in_progress"].is_null());
}

TEST(ApiEndpoints, MutatingEndpointsNeedTheRightBearerToken) {
  InProcessDaemon d({{"pg", pg_like()}});
  struct Case {
    std::string method, path;
  };
  for (const auto& c : std::vector<Case>{
           {"POST", "/v1/stores/pg/actions/echo"}, {"POST", "/v1/stores/pg/events"}, {"POST", "/v1/promote"}}) {
    auto none = testhttp::request(d.port, c.method, c.path, "{}");
    EXPECT_EQ(none.status, 401) << c.path;
    EXPECT_NE(none.header("WWW-Authenticate").find("Bearer"), std::string::npos);
    EXPECT_NE(none.json()["error"].get<std::string>().find("missing bearer token"), std::string::npos);
    auto wrong = testhttp::request(d.port, c.method, c.path, "{}", {{"Authorization", "Bearer s3cret-tokeN"}});
    EXPECT_EQ(wrong.status, 401) << c.path;
    EXPECT_EQ(wrong.json()["error"], "invalid bearer token");
    auto prefix = testhttp::request(d.port, c.method, c.path, "{}", {{"Authorization", "Bearer s3cret"}});
    EXPECT_EQ(prefix.status, 401) << c.path;
    auto basic = testhttp::request(d.port, c.method, c.path, "{}", {{"Authorization", "Basic czNjcmV0LXRva2Vu"}});
    EXPECT_EQ(basic.status, 401) << c.path;
  }
  // Unknown stores are not revealed to an unauthenticated client.
  EXPECT_EQ(testhttp::request(d.port, "POST", "/v1/stores/secret-store/actions/x", "{}").status, 401);
}

TEST(ApiEndpoints, WithoutATokenFileMutatingEndpointsAreRefused) {
  InProcessOptions o;
  o.token.reset();
  InProcessDaemon d({{"pg", pg_like()}}, o);
  auto r =
      testhttp::request(d.port, "POST", "/v1/stores/pg/actions/echo", "{}", {{"Authorization", "Bearer anything"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.json()["error"].get<std::string>().find("token_file"), std::string::npos);
  EXPECT_EQ(testhttp::request(d.port, "POST", "/v1/promote", "{}").status, 403);
  EXPECT_EQ(testhttp::get(d.port, "/v1/status").status, 200);  // reads stay open
}

TEST(ApiEndpoints, UnknownPathsAndWrongMethodsGetJsonErrors) {
  InProcessDaemon d({{"pg", pg_like()}});
  auto nf = testhttp::get(d.port, "/nope");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.header("Content-Type"), "application/json");
  EXPECT_TRUE(nf.json().contains("error"));
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/pg/bogus").status, 404);
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/").status, 404);

  auto m = testhttp::request(d.port, "POST", "/v1/status", "{}", kAuth);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.header("Allow"), "GET");
  EXPECT_TRUE(m.json().contains("error"));
  EXPECT_EQ(testhttp::request(d.port, "DELETE", "/monitor/replication").status, 405);
  EXPECT_EQ(testhttp::get(d.port, "/v1/promote").status, 405);
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/pg/actions/echo").status, 405);
  EXPECT_EQ(testhttp::get(d.port, "/v1/status?pretty=1").status, 200);  // a query string is ignored
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/p%zz").status, 400);
}

TEST(ApiEndpoints, KeepAliveServesSeveralRequestsOnOneConnection) {
  InProcessDaemon d({{"pg", pg_like()}});
  testhttp::Connection c(d.port);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send("GET /monitor/replication HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read_reply(10s);
    ASSERT_TRUE(r.has_value()) << "request " << i;
    EXPECT_EQ(r->status, 200);
  }
}

}  // namespace
}  // namespace tandem::testplugins
