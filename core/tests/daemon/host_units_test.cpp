// Small pieces of the host in isolation: the replication page, metrics text,
// the token comparison, URL parsing, readiness datagrams, the task threads.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>

#include "api/bearer_auth.h"
#include "api/status_views.h"
#include "host/metrics_registry.h"
#include "host/sd_notify.h"
#include "host/store_host_context.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "util/task_threads.h"

namespace tandem::core {
namespace {

StoreSnapshot with_cells(std::vector<sdk::ReplicationEntry> cells) {
  StoreSnapshot s;
  s.health.replication = std::move(cells);
  return s;
}

TEST(ReplicationPage, MergesCellsOfAllStoresUnderTheirAddress) {
  auto page = replication_page(
      sdk::Role::primary,
      {with_cells({{"10.11.2.60", "postgres_lag_bytes", "0"}}),
       with_cells({{"10.11.2.60", "kvstore_journal_depth", "3"}, {"10.11.2.61", "postgres_lag_bytes", "unknown"}}),
       with_cells({})});
  EXPECT_EQ(page.dump(), R"({"10.11.2.60":{"kvstore_journal_depth":"3","postgres_lag_bytes":"0"},)"
                         R"("10.11.2.61":{"postgres_lag_bytes":"unknown"},"replication_mode":"master"})");
}

TEST(ReplicationPage, ModeAloneWithoutCellsAndStandbyOnSecondary) {
  EXPECT_EQ(replication_page(sdk::Role::primary, {}).dump(), R"({"replication_mode":"master"})");
  EXPECT_EQ(replication_page(sdk::Role::secondary, {with_cells({})}).dump(), R"({"replication_mode":"standby"})");
}

TEST(ReplicationPage, ACellCannotOverwriteTheMode) {
  auto page = replication_page(sdk::Role::secondary, {with_cells({{"replication_mode", "x", "y"}, {"", "f", "v"}})});
  EXPECT_EQ(page.dump(), R"({"replication_mode":"standby"})");
}

TEST(BearerAuthTest, ComparesWholeTokensOnly) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_TRUE(constant_time_equal("", ""));
  BearerAuth auth(std::string("tok"));
  EXPECT_EQ(auth.check("Bearer tok"), AuthResult::ok);
  EXPECT_EQ(auth.check("bearer tok"), AuthResult::ok);
  EXPECT_EQ(auth.check(""), AuthResult::missing);
  EXPECT_EQ(auth.check("Bearer to"), AuthResult::wrong);
  EXPECT_EQ(auth.check("Bearer tok2"), AuthResult::wrong);
  EXPECT_EQ(auth.check("tok"), AuthResult::wrong);
  EXPECT_EQ(BearerAuth().check("Bearer tok"), AuthResult::not_configured);
}

TEST(PluginMetricsTest, RendersFamiliesAndRejectsBadNames) {
  PluginMetrics table;
  StoreMetrics pg(table, "pg");
  StoreMetrics kv(table, "kv");
  pg.describe("pg_wal_bytes", "WAL written.\nSecond line");
  pg.set_gauge("pg_wal_bytes", 10.5);
  kv.add_counter("kv_writes_total", 2, {{"op", "set"}});
  kv.add_counter("kv_writes_total", 3, {{"op", "set"}});
  kv.set_gauge("BadName", 1);
  kv.set_gauge("kv_writes_total", 1);  // already a counter
  kv.add_counter("kv_down_total", -1);
  kv.set_gauge("kv_label", 1, {{"store", "spoofed"}});
  kv.set_gauge("store_health", 1);  // reserved for the host
  std::string out;
  table.render(out);
  EXPECT_EQ(out,
            "# HELP tandem_kv_label Reported by a store plugin.\n"
            "# TYPE tandem_kv_label gauge\n"
            "tandem_kv_label{store=\"kv\"} 1\n"
            "# HELP tandem_kv_writes_total Reported by a store plugin.\n"
            "# TYPE tandem_kv_writes_total counter\n"
            "tandem_kv_writes_total{op=\"set\",store=\"kv\"} 5\n"
            "# HELP tandem_pg_wal_bytes WAL written. Second line\n"
            "# TYPE tandem_pg_wal_bytes gauge\n"
            "tandem_pg_wal_bytes{store=\"pg\"} 10.5\n");
}

TEST(PluginMetricsTest, NumbersAndEscapes) {
  EXPECT_EQ(prometheus_number(3), "3");
  EXPECT_EQ(prometheus_number(0.25), "0.25");
  EXPECT_EQ(prometheus_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(prometheus_labels({}), "");
}

TEST(SdNotifyTest, SendsTheStateToNotifySocket) {
  sdk::testing::TempDir dir;
  std::string path = (dir.path() / "notify.sock").string();
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  EXPECT_TRUE(sd_notify("READY=1"));
  ::unsetenv("NOTIFY_SOCKET");
  char buf[64] = {};
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "READY=1");
  EXPECT_TRUE(sd_notify("READY=1"));  // unset: a no-op that succeeds
}

TEST(TaskThreadsTest, SerialExecutorRunsInOrderAndSurvivesThrowingTasks) {
  std::vector<int> seen;
  {
    TaskThreads serial("test", 1);
    for (int i = 0; i < 100; ++i) {
      serial.post([&seen, i] {
        if (i == 50) throw std::runtime_error("task 50 throws");
        seen.push_back(i);
      });
    }
    EXPECT_TRUE(serial.shutdown());
    EXPECT_FALSE(serial.post([] {}));
  }
  ASSERT_EQ(seen.size(), 99u);
  for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]);
}

TEST(StoreHostContextTest, StateLivesUnderTheStoreDirAndSurvivesANewContext) {
  sdk::testing::TempDir dir;
  boost::asio::io_context io;
  NodeState state(dir.path(), sdk::Role::primary);
  TaskThreads workers("w", 1);
  PluginMetrics metrics;
  PeerMonitor peer(io, {"beta", "10.0.0.2", "http://127.0.0.1:1"}, "");
  NodeServices services{{"alpha", "10.0.0.1", dir.path()},
                        {"beta", "10.0.0.2", "http://127.0.0.1:1"},
                        &state,
                        &io,
                        &workers,
                        &metrics,
                        &peer};
  {
    StoreHostContext ctx(services, "pg");
    EXPECT_EQ(ctx.store_dir(), dir.path() / "stores" / "pg");
    ctx.state().put("slot", "standby_1");
    EXPECT_EQ(ctx.role(), sdk::Role::primary);
    EXPECT_EQ(ctx.epoch(), 1u);
    std::promise<void> ran;
    ctx.post_blocking([&] { ran.set_value(); });
    EXPECT_EQ(ran.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
  }
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "stores" / "pg" / "state.json"));
  StoreHostContext again(services, "pg");
  EXPECT_EQ(again.state().get("slot").value_or(""), "standby_1");
  state.set({sdk::Role::secondary, 7, true, "peer at epoch 8"});
  EXPECT_EQ(again.role(), sdk::Role::secondary);
  EXPECT_EQ(again.epoch(), 7u);
  EXPECT_TRUE(again.fenced());
}

}  // namespace
}  // namespace tandem::core
