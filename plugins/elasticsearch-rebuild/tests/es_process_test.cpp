// The plugin hosted in its own process (es_rebuild_runner): killed with -9 in
// the middle of a rebuild, then restarted; and its memory while rebuilding a
// million rows.
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "es_test_env.h"
#include "support/sanitizer_allowance.h"

namespace tandem::esrebuild::testing {
namespace {

// VmRSS of a process in bytes (0 once it is gone).
std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

class EsRebuildProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = std::make_unique<testsupport::PostgresServer>();
    mapping_ = write_mapping(dir_.path());
    std::filesystem::create_directories(dir_.path() / "node");
  }
  sdk::ChildProcess run_runner(const json& values, const std::string& log_name) {
    auto config = dir_.path() / "store.json";
    std::ofstream(config) << values.dump();
    sdk::ChildSpec spec;
    spec.argv = {TANDEM_ES_RUNNER_BINARY, config.string(), (dir_.path() / "node").string(), "1"};
    spec.log_file = dir_.path() / log_name;
    return testsupport::start_background(spec);
  }
  // Runs the runner to its end; returns its exit status.
  int run_to_end(const json& values, const std::string& log_name) {
    auto p = run_runner(values, log_name);
    EXPECT_TRUE(sdkt::eventually([&] { return !p.running(); }, std::chrono::minutes(4))) << p.log_tail();
    last_log_ = p.log_tail(6000);
    return p.exit_status().value_or(-1);
  }

  sdk::testing::TempDir dir_{"es-process-test"};
  std::unique_ptr<testsupport::PostgresServer> pg_;
  std::filesystem::path mapping_;
  std::string last_log_;  // tail of the last runner's output, for failure messages
};

TEST_F(EsRebuildProcess, CrashMidRebuildThenRestartCompletesIntoANewIndex) {
  Standin es;
  add_items(*pg_, 1, 20000);
  auto v = store_values(es, *pg_, mapping_);
  v["batch_docs"] = 500;
  ASSERT_EQ(run_to_end(v, "first.log"), 0);
  auto first = es.alias_targets("items");
  ASSERT_EQ(first.size(), 1u);

  es.set_faults({{"delay_ms", 200}});
  auto crashing = run_runner(v, "crashing.log");
  std::string orphan;
  ASSERT_TRUE(sdkt::eventually(
      [&] {
        json stats = es.get("/_standin/stats")["indices"];
        for (auto& [name, info] : stats.items())
          if (name != first[0] && info["docs"].get<int>() > 0) orphan = name;
        return !orphan.empty();
      },
      std::chrono::minutes(2)))
      << crashing.log_tail();
  crashing.kill();
  // The crash left a partial index; the alias never moved.
  EXPECT_EQ(es.alias_targets("items"), first);
  EXPECT_EQ(es.count("items"), 20000u);
  auto stats = es.get("/_standin/stats")["indices"];
  ASSERT_TRUE(stats.contains(orphan));
  EXPECT_LT(stats[orphan]["docs"].get<int>(), 20000);

  es.set_faults(json::object());
  // The dead runner's last _bulk requests are still inside the stand-in.
  ASSERT_TRUE(
      sdkt::eventually([&] { return es.get("/_standin/stats")["bulk_in_flight"] == 0; }, std::chrono::minutes(1)));
  ASSERT_EQ(run_to_end(v, "restart.log"), 0);
  auto now = es.alias_targets("items");
  ASSERT_EQ(now.size(), 1u);
  EXPECT_NE(now[0], first[0]);
  EXPECT_NE(now[0], orphan);
  EXPECT_EQ(es.count("items"), 20000u);
  auto left = es.indices("items-e*");
  EXPECT_EQ(std::count(left.begin(), left.end(), orphan), 0) << "the orphan " << orphan << " was not cleaned up:\n"
                                                             << last_log_;
  EXPECT_EQ(left.size(), 2u);  // the new index and keep_old = 1 previous one
}

TEST_F(EsRebuildProcess, MemoryStaysBoundedWhileRebuildingAMillionRows) {
  Standin es({"--no-sources"});  // keeps the stand-in lean; the runner's memory is what is measured
  pg_->psql(
      "CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, body text, price int);"
      "INSERT INTO items SELECT g, 'item ' || g, md5(g::text) || md5((g + 1)::text), (g % 1000)::int FROM "
      "generate_series(1, 1000000) AS g;");
  auto v = store_values(es, *pg_, mapping_);
  v.erase("batch_docs");  // production defaults: 5 MiB / 5000 docs, 4 in flight
  v.erase("in_flight");
  auto runner = run_runner(v, "runner.log");
  std::uint64_t peak = 0;
  int samples = 0;
  while (runner.running()) {
    peak = std::max(peak, rss_bytes(runner.pid()));
    ++samples;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(runner.exit_status().value_or(-1), 0) << runner.log_tail();
  EXPECT_EQ(es.count("items"), 1000000u);
  EXPECT_GT(samples, 10);
  EXPECT_GT(peak, 0u);
  EXPECT_LT(peak, (150ull << 20) + testsupport::kSanitizerRssAllowanceBytes) << "peak RSS " << (peak >> 20) << " MiB";
  std::cout << "peak RSS of the rebuilding process: " << (peak >> 20) << " MiB over " << samples << " samples\n";
}

}  // namespace
}  // namespace tandem::esrebuild::testing
