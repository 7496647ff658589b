// Lag on /monitor/replication: a number while a writer runs, "0" once idle,
// "unknown" when the standby is gone; "increasing" while replay is held back.
#include "pair_fixture.h"

namespace tandem::pgwal::testing {
namespace {

using sdk::testing::eventually;

bool is_number(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

TEST_F(PgPairTest, LagIsReportedWhileWritingAndBackToZeroWhenIdle) {
  build_standby();
  {
    SequenceWriter writer(params_for(*alpha_.server), 4000);
    // While WAL is being generated, the primary sees the standby a few bytes behind.
    std::string seen;
    EXPECT_TRUE(eventually(
        [&] {
          alpha_.sync();
          seen = alpha_.page_value("127.0.0.1");
          return is_number(seen) && seen != "0";
        },
        std::chrono::seconds(60)))
        << "last value " << seen << ", writer error: " << writer.error();
    EXPECT_TRUE(alpha_.health().lag_bytes.has_value());
    // The standby reports its own number too.
    beta_.sync();
    EXPECT_TRUE(is_number(beta_.page_value("127.0.0.1"))) << beta_.page_value("127.0.0.1");
    writer.stop();
    EXPECT_GT(writer.count(), 0u) << writer.error();
  }
  EXPECT_TRUE(eventually(
      [&] {
        alpha_.sync();
        return alpha_.page_value("127.0.0.1") == "0";
      },
      std::chrono::seconds(60)))
      << alpha_.page_value("127.0.0.1");
  EXPECT_TRUE(eventually(
      [&] {
        beta_.sync();
        return beta_.page_value("127.0.0.1") == "0";
      },
      std::chrono::seconds(60)))
      << beta_.page_value("127.0.0.1");
  EXPECT_EQ(alpha_.health().status, sdk::HealthStatus::ok) << alpha_.health().summary;
  EXPECT_EQ(beta_.health().status, sdk::HealthStatus::ok) << beta_.health().summary;
  auto gauge = alpha_.host->recorded_metrics().value("postgres_wal_lag_bytes", {{"standby", "127.0.0.1"}});
  ASSERT_TRUE(gauge.has_value());
  EXPECT_EQ(*gauge, 0.0);
}

TEST_F(PgPairTest, UnknownWhenTheStandbyIsStopped) {
  build_standby();
  // The standby streams before the primary's pg_stat_replication lists it: poll.
  EXPECT_TRUE(eventually(
      [&] {
        alpha_.sync();
        return is_number(alpha_.page_value("127.0.0.1"));
      },
      std::chrono::seconds(30)))
      << alpha_.page_value("127.0.0.1");
  beta_.server->stop();
  EXPECT_TRUE(eventually(
      [&] {
        alpha_.sync();
        return alpha_.page_value("127.0.0.1") == "unknown";
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(alpha_.health().status, sdk::HealthStatus::degraded);
  EXPECT_NE(alpha_.health().summary.find("no standby is streaming"), std::string::npos) << alpha_.health().summary;
  EXPECT_EQ(alpha_.host->recorded_metrics().value("postgres_wal_streaming"), 0.0);
}

TEST_F(PgPairTest, StandbyReportsUnknownWhenThePrimaryIsGone) {
  build_standby();
  alpha_.server->stop();
  EXPECT_TRUE(eventually(
      [&] {
        (void)beta_.plugin->sync();
        return beta_.page_value("127.0.0.1") == "unknown";
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(beta_.health().status, sdk::HealthStatus::degraded) << beta_.health().summary;
  EXPECT_EQ(beta_.health().details["primary_check"]["reachable"], false);
}

TEST_F(PgPairTest, LagHeldBackByPausedReplayIsIncreasing) {
  build_standby();
  beta_.server->psql("SELECT pg_wal_replay_pause()");
  {
    SequenceWriter writer(params_for(*alpha_.server), 2000);
    EXPECT_TRUE(eventually(
        [&] {
          alpha_.sync();
          return alpha_.health().details.value("lag_increasing", false);
        },
        std::chrono::seconds(90)))
        << alpha_.health().summary;
    EXPECT_NE(alpha_.health().summary.find("increasing"), std::string::npos) << alpha_.health().summary;
    writer.stop();
  }
  beta_.server->psql("SELECT pg_wal_replay_resume()");
  EXPECT_TRUE(eventually(
      [&] {
        alpha_.sync();
        return alpha_.page_value("127.0.0.1") == "0" && !alpha_.health().details.value("lag_increasing", true);
      },
      std::chrono::seconds(60)));
}

TEST_F(PgPairTest, DiagnosticsReportSettingsSlotsTimelineAndLag) {
  build_standby();
  auto settings = alpha_.plugin->diagnose("settings", {});
  ASSERT_TRUE(settings.ok()) << settings.message();
  EXPECT_TRUE(settings->passed) << settings->output;
  EXPECT_NE(settings->output.find("wal_log_hints = on"), std::string::npos) << settings->output;
  auto slots = beta_.plugin->diagnose("slots", {});  // from the standby: looks at the primary
  ASSERT_TRUE(slots.ok()) << slots.message();
  EXPECT_TRUE(slots->passed) << slots->output;
  EXPECT_NE(slots->output.find("slot tandem_standby"), std::string::npos) << slots->output;
  auto conninfo = beta_.plugin->diagnose("conninfo", {});
  ASSERT_TRUE(conninfo.ok()) << conninfo.message();
  EXPECT_TRUE(conninfo->passed) << conninfo->output;
  auto timeline = beta_.plugin->diagnose("timeline", {});
  ASSERT_TRUE(timeline.ok()) << timeline.message();
  EXPECT_TRUE(timeline->passed) << timeline->output;
  EXPECT_EQ(timeline->details["local"]["system_identifier"], timeline->details["peer"]["system_identifier"]);
  auto lag = alpha_.plugin->diagnose("lag", {});
  ASSERT_TRUE(lag.ok()) << lag.message();
  EXPECT_NE(lag->output.find("postgres_lag_bytes"), std::string::npos) << lag->output;
  EXPECT_FALSE(alpha_.plugin->diagnose("nonsense", {}).ok());
}

}  // namespace
}  // namespace tandem::pgwal::testing
