// Promote, switchover under a writer, and rejoin with pg_rewind after an
// unplanned failover (kill -9 of the primary).
#include <signal.h>

#include <algorithm>
#include <iostream>

#include "pair_fixture.h"

namespace tandem::pgwal::testing {
namespace {

using sdk::testing::eventually;

sdk::FailoverRequest request(sdk::FailoverKind kind, nlohmann::json handoff = nlohmann::json::object()) {
  sdk::FailoverRequest r;
  r.kind = kind;
  r.new_epoch = 2;
  r.handoff = std::move(handoff);
  return r;
}

// The promoted node takes writes: the first INSERT after promotion succeeds.
void expect_writable(const testsupport::PostgresServer& server, long n) {
  EXPECT_EQ(server.psql("SELECT pg_is_in_recovery()"), "f\n");
  EXPECT_NO_THROW(server.psql("INSERT INTO seq VALUES (" + std::to_string(n) + ", 'after promote')"));
}

TEST_F(PgPairTest, PrepareRefusesWhileThePrimaryIsUpThenPromoteIsIdempotent) {
  build_standby();
  alpha_.server->psql("INSERT INTO seq VALUES (1, 'x')");
  auto prep = beta_.plugin->prepare(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(prep.ok()) << prep.message();
  EXPECT_FALSE(prep->ready);
  EXPECT_NE(prep->refusal.find("still up"), std::string::npos) << prep->refusal;
  EXPECT_EQ(prep->loss["primary_alive"], true);

  alpha_.server->kill9();
  prep = beta_.plugin->prepare(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(prep.ok()) << prep.message();
  EXPECT_TRUE(prep->ready) << prep->refusal;
  EXPECT_EQ(prep->loss["primary_alive"], false);
  EXPECT_FALSE(prep->loss_summary.empty());

  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  EXPECT_TRUE(promoted->changed);
  EXPECT_EQ(promoted->details["timeline"], 2);
  expect_writable(*beta_.server, 2);
  EXPECT_EQ(sequence_rows(*beta_.server), (std::vector<long>{1, 2}));
  // Again: nothing to do, says so.
  auto again = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_FALSE(again->changed);
  // The slot for the old primary's return exists on the new primary.
  EXPECT_EQ(beta_.server->psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'tandem_standby'"), "1\n");
  beta_.host->set_role(sdk::Role::primary);
  beta_.sync();
  EXPECT_EQ(beta_.page_value("127.0.0.1"), "unknown");  // its standby (alpha) is gone
}

TEST_F(PgPairTest, SwitchoverUnderAWriterLosesNoAcknowledgedRow) {
  build_standby();
  SequenceWriter writer(params_for(*alpha_.server));
  ASSERT_TRUE(eventually([&] { return writer.count() >= 200; }, std::chrono::seconds(60))) << writer.error();

  auto demoted = alpha_.plugin->demote(request(sdk::FailoverKind::switchover));
  ASSERT_TRUE(demoted.ok()) << demoted.message();
  EXPECT_TRUE(demoted->changed);
  ASSERT_TRUE(demoted->details.contains("final_lsn"));
  writer.stop();  // its connection was closed by the shutdown
  const auto acked = writer.acknowledged();
  ASSERT_FALSE(acked.empty());
  // Demote again: already done, same final position.
  auto again = alpha_.plugin->demote(request(sdk::FailoverKind::switchover));
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->details["final_lsn"], demoted->details["final_lsn"]);

  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::switchover, demoted->details));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  EXPECT_TRUE(promoted->changed);
  const auto rows = sequence_rows(*beta_.server);
  std::vector<long> missing;
  std::set_difference(acked.begin(), acked.end(), rows.begin(), rows.end(), std::back_inserter(missing));
  EXPECT_TRUE(missing.empty()) << missing.size() << " acknowledged rows missing on the new primary, first "
                               << missing.front();
  expect_writable(*beta_.server, 1'000'000);
  alpha_.host->set_role(sdk::Role::secondary);
  beta_.host->set_role(sdk::Role::primary);

  // The old primary follows the new one.
  auto rejoined = alpha_.plugin->rejoin(request(sdk::FailoverKind::rejoin));
  ASSERT_TRUE(rejoined.ok()) << rejoined.message();
  EXPECT_TRUE(rejoined->changed);
  EXPECT_EQ(alpha_.server->psql("SELECT pg_is_in_recovery()"), "t\n");
  EXPECT_TRUE(eventually([&] { return alpha_.server->psql("SELECT count(*) FROM seq WHERE n = 1000000") == "1\n"; },
                         std::chrono::seconds(30)));
  auto rejoined_again = alpha_.plugin->rejoin(request(sdk::FailoverKind::rejoin));
  ASSERT_TRUE(rejoined_again.ok()) << rejoined_again.message();
  EXPECT_FALSE(rejoined_again->changed) << rejoined_again->summary;
  EXPECT_TRUE(eventually(
      [&] {
        beta_.sync();
        const std::string v = beta_.page_value("127.0.0.1");
        return !v.empty() && v != "unknown";
      },
      std::chrono::seconds(30)));
}

TEST_F(PgPairTest, KilledPrimaryIsRewoundAndFollowsTheNewPrimary) {
  build_standby();
  alpha_.server->psql("INSERT INTO seq SELECT g, 'replicated' FROM generate_series(1, 100) g");
  ASSERT_TRUE(eventually([&] { return sequence_rows(*beta_.server).size() == 100; }, std::chrono::seconds(30)));
  // Make the old primary diverge: rows the standby never receives, then a crash.
  beta_.server->stop();
  alpha_.server->psql("INSERT INTO seq SELECT g, 'lost with the old primary' FROM generate_series(101, 300) g");
  alpha_.server->kill9();
  beta_.server->start();
  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  expect_writable(*beta_.server, 1000);
  beta_.host->set_role(sdk::Role::primary);
  alpha_.host->set_role(sdk::Role::secondary);

  // A secondary whose PostgreSQL is a crashed former primary is not restarted as one.
  auto sync = alpha_.plugin->sync();
  ASSERT_TRUE(sync.ok()) << sync.message();
  EXPECT_FALSE(alpha_.server->running());
  EXPECT_NE(alpha_.health().summary.find("rejoin"), std::string::npos) << alpha_.health().summary;

  auto rejoined = alpha_.plugin->rejoin(request(sdk::FailoverKind::rejoin));
  ASSERT_TRUE(rejoined.ok()) << rejoined.message();
  EXPECT_TRUE(rejoined->changed);
  EXPECT_EQ(rejoined->details["rewound"], true) << rejoined->details.dump();
  EXPECT_TRUE(eventually(
      [&] {
        auto rows = sequence_rows(*alpha_.server);
        return rows.size() == 101 && rows.back() == 1000;  // 1..100 and 1000: the diverged rows are gone
      },
      std::chrono::seconds(30)));
  EXPECT_TRUE(eventually(
      [&] {
        (void)alpha_.plugin->sync();
        return alpha_.health().status == sdk::HealthStatus::ok;
      },
      std::chrono::seconds(30)))
      << alpha_.health().summary;
  beta_.server->psql("INSERT INTO seq VALUES (1001, 'streams to the rejoined node')");
  EXPECT_TRUE(eventually([&] { return sequence_rows(*alpha_.server).back() == 1001; }, std::chrono::seconds(30)));
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A primary the standby cannot reach, while its WAL receiver still says
// "streaming" (a network cut without a reset looks so until
// wal_receiver_timeout): the primary may go on committing for its clients,
// so a forced promotion's loss is "unknown", never "nothing". The postmaster
// is stopped: new connections (the standby's probe) hang, while the
// walsender and a client's open session go on.
TEST_F(PgPairTest, AnUnreachablePrimaryIsUnknownLossEvenWhileTheReceiverStreams) {
  build_standby();
  PgConnection app(params_for(*alpha_.server));  // an application's open session
  app.query("INSERT INTO seq VALUES (1, 'before')");
  ASSERT_TRUE(eventually([&] { return sequence_rows(*beta_.server).size() == 1; }, std::chrono::seconds(30)));
  const pid_t postmaster = alpha_.server->postmaster_pid();
  ASSERT_GT(postmaster, 0);
  ASSERT_EQ(::kill(postmaster, SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{postmaster};
  app.query("INSERT INTO seq VALUES (2, 'committed while unreachable')");  // the primary still commits
  auto r = request(sdk::FailoverKind::failover);
  r.force = true;
  r.peer_timeout = std::chrono::seconds(1);
  auto prep = beta_.plugin->prepare(r);
  ASSERT_TRUE(prep.ok()) << prep.message();
  EXPECT_EQ(prep->loss.value("wal_receiver_status", ""), "streaming") << prep->loss.dump();
  EXPECT_TRUE(prep->loss.contains("primary_unreachable")) << prep->loss.dump();
  EXPECT_EQ(prep->loss_summary.rfind("unknown", 0), 0u) << prep->loss_summary;
  EXPECT_NE(prep->loss_summary.find("unknown and would be lost"), std::string::npos) << prep->loss_summary;
}

// Asynchronous mode, the primary dies after the stream broke: the primary's
// WAL position, reported each sync over the peer channel, bounds the loss from
// below. The bound survives a restart of the standby's tandemd (store state),
// and WAL written after the report is not counted (it is "unknown").
TEST_F(PgPairTest, AfterTheStreamBrokeThePrimarysLastReportBoundsTheLossFromBelow) {
  build_standby();
  alpha_.server->psql("INSERT INTO seq SELECT g, 'replicated' FROM generate_series(1, 100) g");
  ASSERT_TRUE(eventually([&] { return sequence_rows(*beta_.server).size() == 100; }, std::chrono::seconds(30)));
  beta_.server->stop();  // the stream breaks
  alpha_.server->psql("INSERT INTO seq SELECT g, repeat('r', 1000) FROM generate_series(101, 1100) g");
  (void)alpha_.plugin->sync();  // its standby is gone: degraded, but it reports its WAL position
  const std::string reported = trimmed(alpha_.server->psql("SELECT pg_current_wal_lsn()"));
  alpha_.server->psql("INSERT INTO seq SELECT g, repeat('a', 1000) FROM generate_series(1101, 2100) g");
  const std::string final_lsn = trimmed(alpha_.server->psql("SELECT pg_current_wal_lsn()"));
  alpha_.server->kill9();

  (void)beta_.plugin->sync();  // starts beta's PostgreSQL again; keeps the report in the store state
  beta_.plugin->stop();        // beta's tandemd restarts
  beta_.plugin = std::make_unique<PostgresWalPlugin>();
  ASSERT_TRUE(beta_.plugin->configure(config_for(*beta_.server, *alpha_.server, PairOptions{}), *beta_.host).ok());
  ASSERT_TRUE(beta_.plugin->start().ok());
  alpha_.host->connect_peer(beta_.plugin.get());

  auto prep = beta_.plugin->prepare(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(prep.ok()) << prep.message();
  const std::string received = trimmed(beta_.server->psql(
      "SELECT greatest(coalesce(pg_last_wal_receive_lsn(), '0/0'), coalesce(pg_last_wal_replay_lsn(), '0/0'))"));
  const auto diff = [&](const std::string& a, const std::string& b) {
    return std::stoll(beta_.server->psql("SELECT pg_wal_lsn_diff('" + a + "', '" + b + "')::bigint"));
  };
  const long long at_report = diff(reported, received);
  const long long at_death = diff(final_lsn, received);
  ASSERT_TRUE(prep->loss.contains("bytes_lost_at_least")) << prep->loss.dump() << "\n" << prep->loss_summary;
  const long long bound = prep->loss["bytes_lost_at_least"].get<long long>();
  // The report came from the sync, the LSN read just after it: the same WAL end.
  EXPECT_EQ(bound, at_report) << prep->loss.dump();
  EXPECT_GT(bound, 1000 * 1000) << "1000 rows of 1000 bytes were written before the report";
  EXPECT_LT(bound, at_death) << "WAL written after the report must not be counted";
  EXPECT_EQ(prep->loss.value("primary_reported_lsn", ""), reported);
  EXPECT_NE(prep->loss_summary.find("at least " + std::to_string(bound) +
                                    " bytes of WAL the primary had written by its last report"),
            std::string::npos)
      << prep->loss_summary;
  EXPECT_NE(prep->loss_summary.find("WAL it wrote after that report is unknown"), std::string::npos)
      << prep->loss_summary;

  // And the rows: none of those written after the stream broke are here.
  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  EXPECT_EQ(sequence_rows(*beta_.server).size(), 100u);
  std::cout << "stated: at least " << bound << " bytes of WAL lost (by the last report); WAL the primary wrote "
            << "by its death and the standby lacks: " << at_death
            << " bytes; rows lost: " << 2100 - sequence_rows(*beta_.server).size()
            << " of 2100 acknowledged (1000 before the report, 1000 "
            << "after)" << std::endl;
}

// The old primary's host reboots and starts its PostgreSQL as a primary again
// after beta was promoted: the fenced node's sync shuts it down and keeps it
// down; rejoin then rewinds it (the rows it took meanwhile are discarded).
TEST_F(PgPairTest, FencedNodeShutsDownItsStillPrimaryPostgres) {
  build_standby();
  alpha_.server->psql("INSERT INTO seq SELECT g, 'replicated' FROM generate_series(1, 10) g");
  ASSERT_TRUE(eventually([&] { return sequence_rows(*beta_.server).size() == 10; }, std::chrono::seconds(30)));
  alpha_.server->kill9();
  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  beta_.host->set_role(sdk::Role::primary);
  alpha_.server->start();  // as a boot would: a writable primary on the old timeline
  alpha_.server->psql("INSERT INTO seq VALUES (500, 'taken before the fence')");
  alpha_.host->set_fenced(true);  // alpha's tandemd saw beta's higher epoch

  auto sync = alpha_.plugin->sync();
  ASSERT_TRUE(sync.ok()) << sync.message();
  EXPECT_FALSE(alpha_.server->running()) << "a fenced node left its PostgreSQL running as a primary";
  EXPECT_EQ(alpha_.health().status, sdk::HealthStatus::stopped) << alpha_.health().summary;
  EXPECT_NE(alpha_.health().summary.find("fenced"), std::string::npos) << alpha_.health().summary;
  ASSERT_TRUE(alpha_.plugin->sync().ok());
  EXPECT_FALSE(alpha_.server->running()) << "the fenced node started its PostgreSQL again";

  auto rejoined = alpha_.plugin->rejoin(request(sdk::FailoverKind::rejoin));
  ASSERT_TRUE(rejoined.ok()) << rejoined.message();
  EXPECT_EQ(rejoined->details["rewound"], true) << rejoined->details.dump();
  EXPECT_TRUE(eventually([&] { return sequence_rows(*alpha_.server).size() == 10; }, std::chrono::seconds(30)))
      << "the row the fenced primary took before the fence must be gone after the rewind";
}

class PgPairWithoutRewindTest : public PgPairTest {
 protected:
  void SetUp() override {
    PairOptions o;
    o.wal_log_hints = false;
    SetUpPair(o);
  }
};

TEST_F(PgPairWithoutRewindTest, RejoinSaysRewindIsImpossibleAndBasebackupRebuilds) {
  build_standby();
  alpha_.server->kill9();
  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  beta_.host->set_role(sdk::Role::primary);
  alpha_.host->set_role(sdk::Role::secondary);
  beta_.server->psql("INSERT INTO seq VALUES (7, 'on the new primary')");

  auto rejoined = alpha_.plugin->rejoin(request(sdk::FailoverKind::rejoin));
  ASSERT_FALSE(rejoined.ok());
  EXPECT_NE(rejoined.message().find("wal_log_hints"), std::string::npos) << rejoined.message();
  EXPECT_NE(rejoined.message().find("basebackup"), std::string::npos) << rejoined.message();

  auto rebuilt = alpha_.plugin->run_action("basebackup", nlohmann::json::object());
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.message();
  EXPECT_TRUE(std::filesystem::exists(rebuilt.value()["details"]["old_data_dir"].get<std::string>()));
  EXPECT_EQ(alpha_.server->psql("SELECT pg_is_in_recovery()"), "t\n");
  EXPECT_EQ(sequence_rows(*alpha_.server), std::vector<long>{7});
}

}  // namespace
}  // namespace tandem::pgwal::testing
