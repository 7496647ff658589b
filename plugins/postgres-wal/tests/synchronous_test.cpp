// Synchronous mode: an acknowledged commit is on the standby, so a kill -9 of
// the primary right after commits loses none; on standby loss, degrade or block.
#include <signal.h>

#include <algorithm>
#include <future>

#include "pair_fixture.h"

namespace tandem::pgwal::testing {
namespace {

using sdk::testing::eventually;

class PgSyncPairTest : public PgPairTest {
 protected:
  void SetUpWith(std::string policy) {
    PairOptions o;
    o.synchronous = true;
    o.on_standby_loss = std::move(policy);
    o.standby_loss_timeout = "1s";
    SetUpPair(o);
  }
  void SetUp() override {}
  // Syncs alpha until its synchronous mode in effect is `state`.
  bool alpha_reaches(SyncModeState state, std::chrono::seconds timeout) {
    return eventually(
        [&] {
          alpha_.sync();
          return alpha_.health().details["synchronous"]["in_effect"] == to_string(state);
        },
        timeout);
  }
  // Start synchronous replication and wait until the standby is 'sync'.
  void become_synchronous() {
    build_standby();
    ASSERT_TRUE(eventually(
        [&] {
          alpha_.sync();
          return alpha_.server->psql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'beta'") ==
                 "sync\n";
        },
        std::chrono::seconds(60)))
        << alpha_.health().summary;
    EXPECT_EQ(alpha_.health().details["synchronous"]["in_effect"], to_string(SyncModeState::sync));
    EXPECT_EQ(alpha_.health().status, sdk::HealthStatus::ok) << alpha_.health().summary;
  }
};

TEST_F(PgSyncPairTest, KillNineRightAfterCommitsLosesNoAcknowledgedRow) {
  SetUpWith("degrade");
  become_synchronous();
  SequenceWriter writer(params_for(*alpha_.server));
  ASSERT_TRUE(eventually([&] { return writer.count() >= 300; }, std::chrono::seconds(90))) << writer.error();
  alpha_.server->kill9();  // while the writer is committing
  writer.stop();
  const auto acked = writer.acknowledged();
  sdk::FailoverRequest r;
  r.kind = sdk::FailoverKind::failover;
  auto promoted = beta_.plugin->promote(r);
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  const auto rows = sequence_rows(*beta_.server);
  std::vector<long> missing;
  std::set_difference(acked.begin(), acked.end(), rows.begin(), rows.end(), std::back_inserter(missing));
  EXPECT_TRUE(missing.empty()) << missing.size() << " of " << acked.size() << " acknowledged rows lost";
  // The new primary does not wait for a standby that is gone (policy degrade).
  EXPECT_EQ(beta_.server->psql("SHOW synchronous_standby_names"), "\n");
  EXPECT_NO_THROW(beta_.server->psql("INSERT INTO seq VALUES (1000000, 'x')"));
}

TEST_F(PgSyncPairTest, DegradesToAsyncWhenTheStandbyIsGone) {
  SetUpWith("degrade");
  become_synchronous();
  beta_.server->stop();
  EXPECT_TRUE(alpha_reaches(SyncModeState::degraded, std::chrono::seconds(30))) << alpha_.health().summary;
  EXPECT_EQ(alpha_.health().status, sdk::HealthStatus::degraded);
  EXPECT_EQ(alpha_.server->psql("SHOW synchronous_standby_names"), "\n");
  EXPECT_NO_THROW(alpha_.server->psql("INSERT INTO seq VALUES (1, 'committed without the standby')"));
  // Back to synchronous once the standby streams again.
  beta_.server->start();
  EXPECT_TRUE(alpha_reaches(SyncModeState::sync, std::chrono::seconds(60))) << alpha_.health().summary;
}

// A standby that is connected but silent (its WAL receiver stopped, as on a
// hung host or a network cut without a reset) stays 'streaming' on the
// primary until wal_sender_timeout, 60 s by default. The primary does not
// wait that long: a standby that owes the reply for WAL it was sent is gone
// after standby_loss_timeout (1 s here), so a commit waiting for it goes
// through well before the walsender would give up.
TEST_F(PgSyncPairTest, DegradesWhenTheStandbyIsConnectedButSilent) {
  SetUpWith("degrade");
  become_synchronous();
  const std::string receiver = beta_.server->psql("SELECT pid FROM pg_stat_wal_receiver");
  const pid_t pid = static_cast<pid_t>(std::stol(receiver));
  ASSERT_GT(pid, 0) << receiver;
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{pid};
  auto commit = std::async(std::launch::async, [&] { return alpha_.server->psql("INSERT INTO seq VALUES (7, 'w')"); });
  EXPECT_TRUE(eventually(
      [&] {
        alpha_.sync();
        return commit.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready;
      },
      std::chrono::seconds(40)))
      << "the commit still waits for the silent standby: " << alpha_.health().summary;
  EXPECT_EQ(alpha_.health().details["synchronous"]["in_effect"], to_string(SyncModeState::degraded))
      << alpha_.health().summary;
  EXPECT_EQ(alpha_.server->psql("SELECT state FROM pg_stat_replication WHERE application_name = 'beta'"), "streaming\n")
      << "the walsender had not given up yet: the standby was found silent, not disconnected";
  // The standby answers again: synchronous again, and it has the row.
  ::kill(pid, SIGCONT);
  EXPECT_TRUE(alpha_reaches(SyncModeState::sync, std::chrono::seconds(60))) << alpha_.health().summary;
  if (commit.valid()) {
    EXPECT_NO_THROW(commit.get());
  }
  EXPECT_TRUE(
      eventually([&] { return sequence_rows(*beta_.server) == std::vector<long>{7}; }, std::chrono::seconds(30)));
}

TEST_F(PgSyncPairTest, BlocksWhenConfiguredAndTheStandbyIsGone) {
  SetUpWith("block");
  become_synchronous();
  beta_.server->stop();
  EXPECT_TRUE(alpha_reaches(SyncModeState::blocking, std::chrono::seconds(30)));
  EXPECT_EQ(alpha_.server->psql("SHOW synchronous_standby_names"), "\"beta\"\n");
  // A commit now waits for the standby: it completes only once the standby is back.
  auto commit = std::async(std::launch::async, [&] { return alpha_.server->psql("INSERT INTO seq VALUES (5, 'w')"); });
  EXPECT_EQ(commit.wait_for(std::chrono::seconds(3)), std::future_status::timeout);
  beta_.server->start();
  EXPECT_EQ(commit.wait_for(std::chrono::seconds(120)), std::future_status::ready);
  EXPECT_NO_THROW(commit.get());
  EXPECT_TRUE(
      eventually([&] { return sequence_rows(*beta_.server) == std::vector<long>{5}; }, std::chrono::seconds(30)));
}

}  // namespace
}  // namespace tandem::pgwal::testing
