// The rules that turn a measurement into health and /monitor/replication cells.
#include <gtest/gtest.h>

#include "health_model.h"

namespace tandem::pgwal {
namespace {

class HealthModel : public ::testing::Test {
 protected:
  HealthModel() {
    settings_.lag_warn_bytes = 1000;
    in_.settings = &settings_;
    in_.own_address = "10.0.0.2";
    in_.peer_address = "10.0.0.9";
  }
  static ServerView primary_with(std::vector<StandbyStatus> standbys) {
    ServerView v;
    v.in_recovery = false;
    v.primary = PrimaryView{"0/3000000", 1, "", std::move(standbys)};
    return v;
  }
  static StandbyStatus streaming(std::string address, std::uint64_t replay_gap) {
    StandbyStatus s;
    s.address = std::move(address);
    s.application_name = "beta";
    s.state = "streaming";
    s.sync_state = "async";
    s.sent_gap = s.write_gap = s.flush_gap = 0;
    s.replay_gap = replay_gap;
    return s;
  }
  static ServerView standby_with(std::string receiver, std::optional<std::uint64_t> gap) {
    ServerView v;
    v.in_recovery = true;
    StandbyView s;
    s.receiver_status = std::move(receiver);
    s.replay_gap = gap;
    s.last_replay_age_seconds = 42.0;
    s.sender_host = "10.0.0.9";
    s.timeline = 1;
    v.standby = s;
    return v;
  }
  Settings settings_;
  HealthInputs in_;
};

TEST_F(HealthModel, PrimaryWithStreamingStandbyIsOkAndKeyedByItsAddress) {
  in_.role = sdk::Role::primary;
  auto h = health_from_view(primary_with({streaming("10.0.0.2", 120)}), in_);
  EXPECT_EQ(h.status, sdk::HealthStatus::ok) << h.summary;
  ASSERT_EQ(h.replication.size(), 1u);
  EXPECT_EQ(h.replication[0].address, "10.0.0.2");
  EXPECT_EQ(h.replication[0].field, "postgres_lag_bytes");
  EXPECT_EQ(h.replication[0].value, "120");
  EXPECT_EQ(h.lag_bytes, 120u);
}

TEST_F(HealthModel, PrimaryWithoutStandbyReportsUnknownForThePeer) {
  in_.role = sdk::Role::primary;
  auto h = health_from_view(primary_with({}), in_);
  EXPECT_EQ(h.status, sdk::HealthStatus::degraded);
  ASSERT_EQ(h.replication.size(), 1u);
  EXPECT_EQ(h.replication[0].address, "10.0.0.9");
  EXPECT_EQ(h.replication[0].value, "unknown");
  EXPECT_NE(h.summary.find("not running"), std::string::npos);
}

TEST_F(HealthModel, LargeLagDegradesAndIncreasingIsSaid) {
  in_.role = sdk::Role::primary;
  in_.lag_increasing = true;
  auto h = health_from_view(primary_with({streaming("10.0.0.2", 5000)}), in_);
  EXPECT_EQ(h.status, sdk::HealthStatus::degraded);
  EXPECT_NE(h.summary.find("increasing"), std::string::npos) << h.summary;
  EXPECT_EQ(h.details["lag_increasing"], true);
}

TEST_F(HealthModel, SynchronousDegradedIsNotOk) {
  in_.role = sdk::Role::primary;
  settings_.synchronous = true;
  in_.sync_mode = SyncModeState::degraded;
  auto h = health_from_view(primary_with({}), in_);
  EXPECT_EQ(h.status, sdk::HealthStatus::degraded);
  EXPECT_NE(h.summary.find("degraded to async"), std::string::npos) << h.summary;
  in_.sync_mode = SyncModeState::blocking;
  h = health_from_view(primary_with({}), in_);
  EXPECT_NE(h.summary.find("waiting"), std::string::npos) << h.summary;
  EXPECT_EQ(h.details["synchronous"]["in_effect"], to_string(SyncModeState::blocking));
}

TEST_F(HealthModel, APrimaryWithNoPeerAtAllIsOkAndShowsNoPeerCell) {
  // A test instance ([node] role = "test", no [peer]): nothing to replicate to.
  in_.role = sdk::Role::primary;
  in_.peer_address.clear();
  auto h = health_from_view(primary_with({}), in_);
  EXPECT_EQ(h.status, sdk::HealthStatus::ok) << h.summary;
  EXPECT_TRUE(h.replication.empty());
  EXPECT_NE(h.summary.find("no peer is configured"), std::string::npos) << h.summary;
}

TEST_F(HealthModel, StandbyStreamingReportsItsOwnAddress) {
  in_.role = sdk::Role::secondary;
  auto h = health_from_view(standby_with("streaming", 0), in_);
  EXPECT_EQ(h.status, sdk::HealthStatus::ok) << h.summary;
  ASSERT_EQ(h.replication.size(), 1u);
  EXPECT_EQ(h.replication[0].address, "10.0.0.2");
  EXPECT_EQ(h.replication[0].value, "0");
  EXPECT_EQ(h.lag_seconds, 0.0);  // caught up: the age of the last transaction is not lag
}

TEST_F(HealthModel, StandbyNotStreamingIsUnknownAndDegraded) {
  in_.role = sdk::Role::secondary;
  auto h = health_from_view(standby_with("", 0), in_);
  EXPECT_EQ(h.status, sdk::HealthStatus::degraded);
  EXPECT_EQ(h.replication.at(0).value, "unknown");
}

// The primary gone, the standby still knows what it received and has not
// replayed: the lag automatic failover's gate weighs.
TEST_F(HealthModel, StandbyNotStreamingStillReportsItsUnreplayedBytes) {
  in_.role = sdk::Role::secondary;
  auto h = health_from_view(standby_with("", 5u << 20), in_);
  EXPECT_EQ(h.status, sdk::HealthStatus::degraded);
  EXPECT_EQ(h.lag_bytes, std::optional<std::uint64_t>(5u << 20));
}

TEST_F(HealthModel, RoleAndServerDisagreeingIsFailed) {
  in_.role = sdk::Role::secondary;
  EXPECT_EQ(health_from_view(primary_with({}), in_).status, sdk::HealthStatus::failed);
  in_.role = sdk::Role::primary;
  EXPECT_EQ(health_from_view(standby_with("streaming", 0), in_).status, sdk::HealthStatus::failed);
  in_.fenced = true;
  EXPECT_EQ(health_from_view(primary_with({}), in_).status, sdk::HealthStatus::failed);
}

TEST_F(HealthModel, UnreachableIsFailedWithUnknownLag) {
  in_.role = sdk::Role::primary;
  auto h = health_unreachable("cannot connect", in_);
  EXPECT_EQ(h.status, sdk::HealthStatus::failed);
  EXPECT_EQ(h.replication.at(0).address, "10.0.0.9");
  EXPECT_EQ(h.replication.at(0).value, "unknown");
}

// Automatic failover's gate from the primary's last report (apply_primary_report).
TEST_F(HealthModel, APrimaryReportAheadOfWhatTheStandbyReceivedCountsAsLag) {
  StandbyView s = *standby_with("", 0).standby;
  s.receive_lsn = "0/1000000";
  s.replay_lsn = "0/1000000";
  sdk::Health h = health_from_view(standby_with("", 0), in_);
  apply_primary_report(h, s, PeerWalReport{"0/3000000", 1, 0, "async"}, settings_, 2000);
  EXPECT_EQ(h.lag_bytes, 0x2000000u);
  EXPECT_EQ(h.details["behind_primary_report_bytes"], 0x2000000u);
  EXPECT_TRUE(h.takeover_refusal.empty()) << "asynchronous by configuration: only the lag counts";
  // A report of another timeline (an earlier primary) says nothing about this one.
  sdk::Health other = health_from_view(standby_with("", 0), in_);
  apply_primary_report(other, s, PeerWalReport{"0/3000000", 2, 0, "async"}, settings_, 2000);
  EXPECT_EQ(other.lag_bytes, 0u);
}

TEST_F(HealthModel, SynchronousButNotTheSyncStandbyAtTheLastReportRefusesATakeover) {
  settings_.synchronous = true;
  StandbyView s = *standby_with("streaming", 0).standby;
  s.receive_lsn = s.replay_lsn = "0/3000000";
  for (const char* state : {"sync", "quorum"}) {
    sdk::Health h = health_from_view(standby_with("streaming", 0), in_);
    apply_primary_report(h, s, PeerWalReport{"0/3000000", 1, 0, state}, settings_, 1500);
    EXPECT_TRUE(h.takeover_refusal.empty()) << state << ": " << h.takeover_refusal;
    EXPECT_EQ(h.lag_bytes, 0u);
  }
  sdk::Health h = health_from_view(standby_with("streaming", 0), in_);
  apply_primary_report(h, s, PeerWalReport{"0/3000000", 1, 0, "none"}, settings_, 1500);
  EXPECT_EQ(h.takeover_refusal,
            "PostgreSQL was not replicating synchronously to this standby at the primary's last report (1.5 s ago, "
            "its sync_state 'none'): commits it acknowledged meanwhile may be missing here");
  // An older primary that does not say: no refusal on a guess.
  sdk::Health silent = health_from_view(standby_with("streaming", 0), in_);
  apply_primary_report(silent, s, PeerWalReport{"0/3000000", 1, 0, ""}, settings_, 1500);
  EXPECT_TRUE(silent.takeover_refusal.empty());
}

}  // namespace
}  // namespace tandem::pgwal
