// The clone-test action against a real pair: a copy of the standby taken
// while the primary is written to, opened as its own primary, refreshed and
// masked, never connected to the pair.
#include <fstream>

#include "pair_fixture.h"
#include "tandem/sdk/process.h"

namespace tandem::pgwal::testing {
namespace {

using nlohmann::json;
using sdk::testing::eventually;
namespace fs = std::filesystem;

// Stops the clone's PostgreSQL, if it runs, when the test ends (its socket
// lives in beta's temp dir, which the fixture removes).
struct CloneServerGuard {
  fs::path data_dir;
  ~CloneServerGuard() {
    if (!fs::exists(data_dir / "postmaster.pid")) return;
    sdk::ProcessSpec spec;
    spec.argv = {(testsupport::PostgresServer::bin_dir() / "pg_ctl").string(),
                 "-D",
                 data_dir.string(),
                 "-m",
                 "immediate",
                 "-w",
                 "stop"};
    spec.run_as_user = "postgres";
    spec.cwd = "/";
    spec.timeout = std::chrono::seconds(60);
    (void)sdk::run_process(spec);
  }
};

std::vector<long> rows_of(const ConnectParams& params, const std::string& where = "") {
  PgConnection conn(params);
  std::vector<long> out;
  for (const auto& row : conn.query("SELECT n FROM seq " + where + " ORDER BY n")) out.push_back(std::stol(*row[0]));
  return out;
}

long count_on(const testsupport::PostgresServer& server, const std::string& sql) { return std::stol(server.psql(sql)); }

TEST_F(PgPairTest, CloneTestCopiesTheStandbyUnderLoadAndNeverReachesThePair) {
  build_standby();
  const long slots_alpha = count_on(*alpha_.server, "SELECT count(*) FROM pg_replication_slots");
  const long slots_beta = count_on(*beta_.server, "SELECT count(*) FROM pg_replication_slots");
  SequenceWriter writer(params_for(*alpha_.server));
  ASSERT_TRUE(eventually([&] { return writer.count() >= 300; }, std::chrono::seconds(60))) << writer.error();

  sdk::testing::TempDir root("tandem-clone");
  root.chown_to("postgres");
  const fs::path dir = root.path() / "db";
  CloneServerGuard guard{dir / "data"};
  const int port = sdk::testing::free_port();
  auto made = beta_.plugin->run_action(sdk::kCloneTestAction, json{{"dir", dir.string()}, {"port", port}});
  ASSERT_TRUE(made.ok()) << made.message();
  const std::size_t written_by_then = writer.count();
  ASSERT_TRUE(made->contains("store") && (*made)["store"].is_object()) << made->dump();
  EXPECT_EQ((*made)["store"].value("port", 0), port);
  EXPECT_EQ((*made)["store"].value("data_dir", ""), (dir / "data").string());
  EXPECT_TRUE(fs::exists(dir / sdk::kCloneMarkerFile));

  ConnectParams clone = params_for(*beta_.server);
  clone.port = port;
  // A consistent prefix of what the single writer committed: 1..M, no hole,
  // and exactly the standby's rows up to M.
  const auto cloned = rows_of(clone);
  ASSERT_GE(cloned.size(), 300u);
  EXPECT_LE(cloned.size(), written_by_then);
  for (std::size_t i = 0; i < cloned.size(); ++i) ASSERT_EQ(cloned[i], static_cast<long>(i + 1)) << "hole at " << i;
  const long m = cloned.back();
  EXPECT_EQ(count_on(*beta_.server, "SELECT count(*) FROM seq WHERE n <= " + std::to_string(m)), m);

  // Its own primary on a new timeline, linked to nothing.
  PgConnection conn(clone);
  EXPECT_EQ(conn.scalar("SELECT pg_is_in_recovery()::text"), "false");
  EXPECT_EQ(conn.scalar("SELECT count(*) FROM pg_stat_wal_receiver"), "0");
  EXPECT_EQ(conn.scalar("SELECT count(*) FROM pg_replication_slots"), "0");
  const int beta_timeline = std::stoi(beta_.server->psql("SELECT timeline_id FROM pg_control_checkpoint()"));
  EXPECT_GT((*made)["details"].value("timeline", 0), beta_timeline);
  EXPECT_EQ(count_on(*alpha_.server, "SELECT count(*) FROM pg_replication_slots"), slots_alpha)
      << "a slot was left on the primary";
  EXPECT_EQ(count_on(*beta_.server, "SELECT count(*) FROM pg_replication_slots"), slots_beta)
      << "a slot was left on the standby";
  EXPECT_EQ(count_on(*alpha_.server, "SELECT count(*) FROM pg_stat_replication"), 1)
      << "only beta streams from the primary";

  // Writes to the clone stay there.
  conn.query("INSERT INTO seq VALUES (-1, 'clone only')");
  const std::size_t before = writer.count();
  ASSERT_TRUE(eventually([&] { return writer.count() >= before + 100; }, std::chrono::seconds(60))) << writer.error();
  EXPECT_TRUE(
      eventually([&] { return count_on(*beta_.server, "SELECT count(*) FROM seq") >= static_cast<long>(before + 100); },
                 std::chrono::seconds(30)));
  EXPECT_EQ(count_on(*alpha_.server, "SELECT count(*) FROM seq WHERE n = -1"), 0);
  EXPECT_EQ(count_on(*beta_.server, "SELECT count(*) FROM seq WHERE n = -1"), 0);

  // A second clone into the same directory is refused; refresh replaces the
  // data with a newer copy, masked before anyone can connect over TCP.
  auto again = beta_.plugin->run_action(sdk::kCloneTestAction, json{{"dir", dir.string()}, {"port", port}});
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.message().find("already holds a clone"), std::string::npos) << again.message();
  const fs::path mask = root.path() / "mask.sql";
  std::ofstream(mask) << "UPDATE seq SET payload = 'masked';\n";
  fs::permissions(mask, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  auto refreshed = beta_.plugin->run_action(
      sdk::kCloneTestAction,
      json{{"dir", dir.string()}, {"port", port}, {"refresh", true}, {"mask_sql", mask.string()}});
  ASSERT_TRUE(refreshed.ok()) << refreshed.message();
  writer.stop();
  const auto fresh = rows_of(clone);
  EXPECT_GT(fresh.back(), m) << "refresh brings newer rows";
  EXPECT_EQ(fresh.front(), 1) << "the clone-only row went with the old copy";
  PgConnection after(clone);
  EXPECT_EQ(after.scalar("SELECT count(*) FROM seq WHERE payload <> 'masked'"), "0");
  EXPECT_EQ(count_on(*alpha_.server, "SELECT count(*) FROM seq WHERE payload = 'masked'"), 0);
  (void)beta_.sync();
  EXPECT_EQ(beta_.health().status, sdk::HealthStatus::ok) << beta_.health().summary;
}

TEST_F(PgPairTest, CloneTestRefusesBadArgumentsAndADirectoryItDidNotWrite) {
  build_standby();
  sdk::testing::TempDir root("tandem-clone");
  auto no_port = beta_.plugin->run_action(sdk::kCloneTestAction, json{{"dir", (root.path() / "a").string()}});
  ASSERT_FALSE(no_port.ok());
  EXPECT_NE(no_port.message().find("'port'"), std::string::npos) << no_port.message();
  auto relative = beta_.plugin->run_action(sdk::kCloneTestAction, json{{"dir", "relative/dir"}, {"port", 1234}});
  ASSERT_FALSE(relative.ok());
  EXPECT_NE(relative.message().find("absolute"), std::string::npos) << relative.message();
  std::ofstream(root.path() / "someone-elses-file") << "keep me\n";
  auto occupied = beta_.plugin->run_action(sdk::kCloneTestAction,
                                           json{{"dir", root.path().string()}, {"port", 1234}, {"refresh", true}});
  ASSERT_FALSE(occupied.ok());
  EXPECT_NE(occupied.message().find("holds no clone"), std::string::npos) << occupied.message();
  EXPECT_TRUE(fs::exists(root.path() / "someone-elses-file"));
}

}  // namespace
}  // namespace tandem::pgwal::testing
