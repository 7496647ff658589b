// Automatic failover's lag gate end to end (issue 16): two real tandemd in
// mode "automatic" on a real etcd, each with a postgres-wal store on a real
// PostgreSQL (beta's standby built by the plugin). The standby's replay is
// paused (pg_wal_replay_pause) while the primary writes, so it holds WAL it
// has received and not replayed; then the primary's whole host dies
// (tandemd and PostgreSQL, kill -9). Lag above `maximum_lag_on_failover`:
// no promotion; status, tandemctl status, /metrics and the log say why; the
// secondary retries (replay resumed: it takes over by itself), and
// `tandemctl promote --force` still works.
#include <thread>

#include "auto_failover_pair.h"
#include "support/postgres_server.h"
#include "tandem/sdk/file_util.h"

namespace {

using namespace std::chrono_literals;
using namespace tandem::autofailover_test;
using tandem::testsupport::PostgresOptions;
using tandem::testsupport::PostgresServer;

constexpr std::uint64_t kMaxLag = 64 * 1024;

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

class AutoFailoverGate : public AutoFailoverPair {
 protected:
  void SetUp() override {
    AutoFailoverPair::SetUp();
    tandem::sdk::atomic_write_file(temp_.path() / "replication.pw", "gate-replication-pw\n", 0600);
    for (int i = 0; i < 2; ++i) {
      PostgresOptions o;
      o.hba_prepend = {"host replication replicator 127.0.0.1/32 scram-sha-256"};
      o.init = o.start = (i == 0);  // beta's standby is built by its postgres-wal store
      pg_[i] = std::make_unique<PostgresServer>(o);
    }
    pg_[0]->psql(
        "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD 'gate-replication-pw'; "
        "CREATE TABLE filler (id bigint PRIMARY KEY, payload text NOT NULL)");
    failover_extra_ = "maximum_lag_on_failover = \"64KiB\"\n";
  }

  std::string stores_toml(int i) override {
    const PostgresServer& me = *pg_[i];
    const PostgresServer& peer = *pg_[1 - i];
    return "[stores.pg]\nplugin = \"postgres-wal\"\ndata_dir = " + quoted(me.data_dir().string()) +
           "\nbin_dir = " + quoted(PostgresServer::bin_dir().string()) + "\nport = " + std::to_string(me.port()) +
           "\npeer_host = \"127.0.0.1\"\npeer_port = " + std::to_string(peer.port()) +
           "\nreplication_user = \"replicator\"\nreplication_password_file = " +
           quoted((temp_.path() / "replication.pw").string()) + "\nslot_name = \"tandem_standby\"\n" +
           (synchronous_ ? "synchronous = true\non_standby_loss = \"degrade\"\nstandby_loss_timeout = \"1s\"\n"
                         : "synchronous = false\n") +
           "promote_timeout = \"60s\"\npostgres_options = " + quoted("-k " + me.root_dir().string()) + "\n";
  }

  nlohmann::json pg_health(int i) { return store_health(i, "pg"); }
  std::uint64_t beta_lag() {
    auto h = pg_health(1);
    return h.contains("lag_bytes") && h["lag_bytes"].is_number_unsigned() ? h["lag_bytes"].get<std::uint64_t>() : 0;
  }

  // The pair in sync, then beta's replay paused, alpha writing until beta
  // holds more than kMaxLag unreplayed, then alpha's host killed; returns
  // once beta says a gate refuses its takeover.
  void lag_then_lose_the_primary() {
    start_pair();
    ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return pg_health(1).value("status", "") == "ok"; }, 90s))
        << "beta's standby is not streaming: " << pg_health(1).dump() << logs();
    pg_[1]->psql("SELECT pg_wal_replay_pause()");
    pg_[0]->psql("INSERT INTO filler SELECT g, repeat('x', 1000) FROM generate_series(1, 2000) g");
    ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return beta_lag() > kMaxLag; }, 30s))
        << "beta's lag did not grow past " << kMaxLag << ": " << pg_health(1).dump();
    // Past the secondary's start-up grace (one ttl) so it watches.
    std::this_thread::sleep_for(1s);

    nodes_[0].daemon.kill();
    pg_[0]->kill9();
    auto killed = Clock::now();
    ASSERT_TRUE(takeover_refused_soon(1)) << "beta never reported a refused takeover: " << status(1).dump() << logs();
    std::printf(
        "[ figure ] primary's host killed -> beta reports the lag gate's refusal after %lld ms (lag %llu bytes)\n",
        static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count()),
        static_cast<unsigned long long>(beta_lag()));
  }

  // Everything says why beta stays secondary, for a while (it keeps asking).
  void expect_refusal_explained() {
    expect_stays_secondary(1, ttl_ + 2s, "with a lag above the gate");
    if (HasFatalFailure()) return;
    auto s = status(1);
    EXPECT_EQ(s.value("role", ""), "secondary") << s.dump();
    EXPECT_EQ(s.value("epoch", 0), 1) << s.dump();
    const std::string decision = s["failover"].value("decision", "");
    EXPECT_NE(decision.find("takeover is refused: store 'pg' lags "), std::string::npos) << decision;
    EXPECT_NE(decision.find("maximum_lag_on_failover (" + std::to_string(kMaxLag) + ")"), std::string::npos)
        << decision;

    auto printed = ctl(1, {"status"});
    EXPECT_NE(printed.stdout_text.find("takeover is refused: store 'pg' lags"), std::string::npos)
        << printed.stdout_text << printed.stderr_text;

    const std::string m = metrics(1);
    EXPECT_NE(m.find("\ntandem_takeover_refused 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("tandem_store_lag_bytes{store=\"pg\"}"), std::string::npos) << m;
    EXPECT_NE(m.find("\ntandem_leader 0\n"), std::string::npos) << m;

    const std::string log = nodes_[1].daemon.log_tail(20000);
    EXPECT_NE(log.find("takeover is refused: store 'pg' lags"), std::string::npos) << log;
    EXPECT_NE(log.find("retrying every poll"), std::string::npos) << log;
  }

  std::unique_ptr<PostgresServer> pg_[2];
  bool synchronous_ = false;  // postgres-wal synchronous, degrading 1 s after the standby is lost
};

TEST_F(AutoFailoverGate, LagAboveTheGateNoPromotionSaysWhyAndTakesOverOnceReplayed) {
  lag_then_lose_the_primary();
  if (HasFatalFailure()) return;
  expect_refusal_explained();

  // It retries: once the standby has replayed what it holds, the gate passes.
  auto resumed = Clock::now();
  pg_[1]->psql("SELECT pg_wal_replay_resume()");
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return primary_check(1) == 200; }, 60s))
      << status(1).dump() << logs();
  std::printf(
      "[ figure ] replay resumed -> beta primary (by itself) after %lld ms\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - resumed).count()));
  auto s = status(1);
  EXPECT_EQ(s.value("epoch", 0), 2) << s.dump();
  EXPECT_TRUE(s["failover"].value("holds_leader_key", false)) << s.dump();
  EXPECT_FALSE(s["failover"].value("takeover_refused", true)) << s.dump();
  EXPECT_EQ(pg_[1]->psql("SELECT count(*) FROM filler"), "2000\n");
  EXPECT_NE(metrics(1).find("\ntandem_takeover_refused 0\n"), std::string::npos);
}

TEST_F(AutoFailoverGate, LagAboveTheGatePromoteForceStillWorks) {
  lag_then_lose_the_primary();
  if (HasFatalFailure()) return;
  ASSERT_NE(primary_check(1), 200);

  auto r = ctl(1, {"promote", "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text << logs();
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return primary_check(1) == 200; }, 30s))
      << status(1).dump() << logs();
  // The forced promote bumped the epoch; automatic mode then claims the key at it.
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return holds_key(1); }, 2 * ttl_)) << status(1).dump() << logs();
  EXPECT_EQ(status(1).value("epoch", 0), 2);
  // What it had received and not replayed is there: promotion replays it.
  EXPECT_EQ(pg_[1]->psql("SELECT count(*) FROM filler"), "2000\n");
}

// Synchronous mode, but the standby lost its stream (its replication role
// may no longer log in) and alpha degraded to async, so alpha's WAL reports
// to beta say beta is not the synchronous standby; then alpha's host dies.
// Commits alpha acknowledged without beta may be missing there: beta stays
// secondary, and status, /metrics and the log say why.
TEST_F(AutoFailoverGate, NotTheSynchronousStandbyAtTheLastReportNoPromotionSaysWhy) {
  synchronous_ = true;
  start_pair();
  if (HasFatalFailure()) return;
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return pg_health(1).value("status", "") == "ok"; }, 90s))
      << "beta's standby is not streaming: " << pg_health(1).dump() << logs();
  auto reported_state = [&] {
    return pg_health(1)
        .value("details", nlohmann::json::object())
        .value("primary_reported", nlohmann::json::object())
        .value("standby_sync_state", "");
  };
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return reported_state() == "sync"; }, 30s)) << pg_health(1).dump();
  std::this_thread::sleep_for(ttl_ + 1s);  // past beta's start-up grace: it watches

  pg_[0]->psql("ALTER ROLE replicator NOLOGIN");
  pg_[0]->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication");
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return reported_state() == "none"; }, 30s))
      << "alpha never reported beta gone: " << pg_health(1).dump() << logs();
  // Degraded to async: alpha commits without beta.
  pg_[0]->psql("INSERT INTO filler VALUES (1, 'acknowledged without the standby')");

  nodes_[0].daemon.kill();
  pg_[0]->kill9();
  ASSERT_TRUE(takeover_refused_soon(1)) << "beta never reported a refused takeover: " << status(1).dump() << logs();
  expect_stays_secondary(1, ttl_ + 2s, "though it was not the synchronous standby");
  if (HasFatalFailure()) return;
  auto s = status(1);
  EXPECT_EQ(s.value("epoch", 0), 1) << s.dump();
  const std::string why =
      "store 'pg': PostgreSQL was not replicating synchronously to this standby at the primary's "
      "last report";
  const std::string decision = s["failover"].value("decision", "");
  EXPECT_NE(decision.find(why), std::string::npos) << decision;
  EXPECT_NE(pg_health(1).value("takeover_refusal", "").find("sync_state 'none'"), std::string::npos)
      << pg_health(1).dump();
  EXPECT_NE(metrics(1).find("\ntandem_takeover_refused 1\n"), std::string::npos);
  EXPECT_NE(nodes_[1].daemon.log_tail(20000).find(why), std::string::npos);
  std::printf("[ figure ] not the synchronous standby at the last report: %s\n", decision.c_str());
}

}  // namespace
