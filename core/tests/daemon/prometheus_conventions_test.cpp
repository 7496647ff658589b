// /metrics of a running tandemd passes Prometheus' own linter (promtool check
// metrics: HELP on every family, unit suffixes, _total on counters), and the
// alert rules shipped in docs/monitoring/ parse and use only metric names the
// daemon exports. promtool comes from Debian's prometheus package
// (scripts/install-deps.sh); the test fails, not skips, when it is missing.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "in_process_daemon.h"
#include "support/test_http.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testplugins {
namespace {

using sdk::testing::eventually;
using namespace std::chrono_literals;
const std::map<std::string, std::string> kAuth = {{"Authorization", "Bearer s3cret-token"}};

sdk::ProcessResult promtool(std::vector<std::string> args, std::string stdin_data = "") {
  sdk::ProcessSpec spec;
  spec.argv = {"promtool"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.stdin_data = std::move(stdin_data);
  spec.timeout = 60s;
  auto r = sdk::run_process(spec);
  if (!r.ok()) ADD_FAILURE() << "promtool could not run (apt-get install prometheus): " << r.error().message;
  return r.ok() ? r.value() : sdk::ProcessResult{};
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every family the page declares, with and without the sample suffixes.
std::set<std::string> families(const std::string& page) {
  std::set<std::string> out;
  std::regex help(R"(^# HELP (\S+) )");
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, help)) out.insert(m[1]);
  }
  return out;
}

std::string metrics_of_a_running_node() {
  TestStoreKnobs k;
  k.interval = 50ms;
  k.lag_bytes = 1234;
  auto p = std::make_shared<TestStorePlugin>(k);
  InProcessDaemon d({{"pg", p}});
  EXPECT_TRUE(eventually([&] { return p->sync_calls >= 1; }, 20s));
  // A plugin metric too: plugins' families are linted the same way.
  EXPECT_EQ(testhttp::request(d.port, "POST", "/v1/stores/pg/actions/metric", "{}", kAuth).status, 200);
  testhttp::Reply r;
  EXPECT_TRUE(eventually(
      [&] {
        r = testhttp::get(d.port, "/metrics");
        return r.body.find("tandem_store_lag_bytes{store=\"pg\"}") != std::string::npos &&
               r.body.find("test_items") != std::string::npos;
      },
      20s))
      << r.body;
  return r.body;
}

TEST(PrometheusConventions, MetricsPagePassesPromtoolCheckMetrics) {
  auto page = metrics_of_a_running_node();
  ASSERT_FALSE(page.empty());
  auto r = promtool({"check", "metrics"}, page);
  EXPECT_EQ(r.exit_code, 0) << "promtool check metrics:\n" << r.stdout_text << r.stderr_text << "\npage:\n" << page;
  // promtool prints lint findings even for a zero exit in some versions.
  EXPECT_EQ(r.stdout_text + r.stderr_text, "") << page;
}

TEST(PrometheusConventions, PromtoolCatchesAMissingHelpAndAMisnamedCounter) {
  // The check above can fail: the same linter on a page that breaks the conventions.
  auto r = promtool({"check", "metrics"}, "# TYPE tandem_runs counter\ntandem_runs 1\n");
  EXPECT_NE(r.exit_code, 0) << r.stdout_text << r.stderr_text;
}

TEST(PrometheusConventions, AlertRulesParseAndUseExportedMetrics) {
  auto rules = std::filesystem::path(TANDEM_DOCS_DIR) / "monitoring" / "tandem-alerts.yml";
  auto r = promtool({"check", "rules", rules.string()});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;

  auto exported = families(metrics_of_a_running_node());
  // The auto-failover families are rendered only with [dcs]; they are declared in metrics_page.cpp.
  for (const char* f : {"tandem_dcs_last_seen_seconds", "tandem_leader", "tandem_lease_remaining_seconds"})
    exported.insert(f);
  auto check_names = [&](const std::string& text, const std::string& where) {
    std::regex name(R"(\btandem_[a-z_]+\b)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it)
      EXPECT_TRUE(exported.count(it->str())) << where << " uses " << it->str() << ", which /metrics does not export";
  };
  check_names(read_file(rules), rules.string());
  check_names(read_file(std::filesystem::path(TANDEM_DOCS_DIR) / "monitoring" / "grafana-dashboard.json"),
              "grafana-dashboard.json");
}

}  // namespace
}  // namespace tandem::testplugins
