// Standby set-up from an empty data directory, and checks of an existing one.
#include <sys/stat.h>

#include <fstream>

#include "pair_fixture.h"
#include "tandem/sdk/file_util.h"

namespace tandem::pgwal::testing {
namespace {

using sdk::testing::eventually;

TEST_F(PgPairTest, BuildsStandbyFromEmptyDataDirAndStreams) {
  alpha_.server->psql("INSERT INTO seq VALUES (1, 'before the base backup')");
  build_standby();
  EXPECT_TRUE(beta_.server->running());
  EXPECT_EQ(beta_.health().status, sdk::HealthStatus::ok) << beta_.health().summary;
  EXPECT_TRUE(std::filesystem::exists(beta_.server->data_dir() / "standby.signal"));
  // Data written before and after the base backup reaches the standby.
  alpha_.server->psql("INSERT INTO seq VALUES (2, 'after')");
  EXPECT_TRUE(eventually(
      [&] {
        return sequence_rows(*beta_.server) == std::vector<long>{1, 2};
      },
      std::chrono::seconds(30)));
  // Through the configured physical slot, which is active.
  EXPECT_EQ(alpha_.server->psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'tandem_standby'"), "t\n");
  // The primary sees it, keyed by its address, with a numeric lag.
  alpha_.sync();
  const std::string lag = alpha_.page_value("127.0.0.1");
  ASSERT_FALSE(lag.empty());
  EXPECT_NE(lag, "unknown");
  EXPECT_NO_THROW((void)std::stoull(lag));
  EXPECT_EQ(alpha_.health().details["standbys"][0]["application_name"], "beta");
}

TEST_F(PgPairTest, PasswordStaysInThePassfileNeverInConfigOrLogs) {
  build_standby();
  const std::string auto_conf = sdk::read_file(beta_.server->data_dir() / "postgresql.auto.conf");
  EXPECT_NE(auto_conf.find("primary_conninfo"), std::string::npos);
  EXPECT_NE(auto_conf.find("passfile="), std::string::npos);
  EXPECT_EQ(auto_conf.find(kReplicationPassword), std::string::npos);
  EXPECT_NE(auto_conf.find("primary_slot_name = 'tandem_standby'"), std::string::npos);
  const auto passfile = beta_.server->root_dir() / ".tandem.pgpass";
  struct stat st {};
  ASSERT_EQ(::stat(passfile.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(sdk::read_file(passfile).find(kReplicationPassword), std::string::npos);
  for (const auto& line : beta_.host->logger().lines()) EXPECT_EQ(line.find(kReplicationPassword), std::string::npos);
  for (const auto& line : alpha_.host->logger().lines()) EXPECT_EQ(line.find(kReplicationPassword), std::string::npos);
}

TEST_F(PgPairTest, ExistingStandbyIsCheckedNotRebuilt) {
  build_standby();
  const std::string sysid = beta_.server->psql("SELECT system_identifier FROM pg_control_system()");
  std::ofstream(beta_.server->data_dir() / "marker-of-this-copy") << "kept";
  // A stopped standby is started again, not rebuilt.
  beta_.server->stop();
  auto report = beta_.plugin->sync();
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_TRUE(beta_.server->running());
  EXPECT_TRUE(std::filesystem::exists(beta_.server->data_dir() / "marker-of-this-copy"));
  EXPECT_EQ(beta_.server->psql("SELECT system_identifier FROM pg_control_system()"), sysid);
  EXPECT_FALSE(report->details.value("actions", nlohmann::json::array()).dump().find("built_standby") !=
               std::string::npos);
}

TEST_F(PgPairTest, StandbyOfAnotherClusterIsReportedNotRebuilt) {
  // beta's data dir holds a different cluster set up as a standby of alpha.
  testsupport::PostgresOptions other_options;
  other_options.start = false;
  testsupport::PostgresServer other(other_options);
  const auto conf = other.data_dir() / "postgresql.auto.conf";
  std::ofstream(conf, std::ios::app) << "primary_conninfo = 'host=127.0.0.1 port=" << alpha_.server->port()
                                     << " user=postgres'\n";
  std::ofstream(other.data_dir() / "standby.signal");
  // Reconfigure beta onto that directory.
  auto values = config_for(other, *alpha_.server, PairOptions{}).values();
  beta_.plugin = std::make_unique<PostgresWalPlugin>();
  ASSERT_TRUE(beta_.plugin->configure(sdk::StoreConfig::from_json("pg", schema(), values), *beta_.host).ok());
  ASSERT_TRUE(beta_.plugin->start().ok());
  other.start();
  ASSERT_TRUE(eventually(
      [&] {
        (void)beta_.plugin->sync();
        return beta_.health().status == sdk::HealthStatus::failed;
      },
      std::chrono::seconds(30)))
      << beta_.health().summary;
  EXPECT_NE(beta_.health().summary.find("another cluster"), std::string::npos) << beta_.health().summary;
  EXPECT_NE(beta_.health().summary.find("basebackup"), std::string::npos);
  EXPECT_EQ(beta_.page_value("127.0.0.1"), "unknown");
  EXPECT_TRUE(std::filesystem::exists(other.data_dir() / "standby.signal"));  // untouched
  beta_.plugin->stop();
}

TEST_F(PgPairTest, NonEmptyDirectoryWithoutClusterIsNotOverwritten) {
  std::ofstream(beta_.server->data_dir() / "precious.txt") << "do not delete";
  auto report = beta_.plugin->sync();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(beta_.health().status, sdk::HealthStatus::failed);
  EXPECT_NE(beta_.health().summary.find("not empty"), std::string::npos) << beta_.health().summary;
  EXPECT_TRUE(std::filesystem::exists(beta_.server->data_dir() / "precious.txt"));
  EXPECT_FALSE(std::filesystem::exists(beta_.server->data_dir() / "PG_VERSION"));
}

}  // namespace
}  // namespace tandem::pgwal::testing
