// GET /ui in a real browser: headless Chromium (Debian's chromium) opens the
// dashboard of a running pair of real tandemd processes, and the DOM, read
// after the page's script ran, must show both nodes with their roles and
// stores; after a switchover the swapped roles without a reload. Every
// request the page makes is recorded over the DevTools protocol (with the
// page's CSP bypassed): one to any origin but the node's fails the test.
// The screenshots stay in the build tree; the test prints their paths.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <iostream>

#include "support/headless_chromium.h"
#include "support/test_http.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandemd_nodes.h"

namespace tandem::testplugins {
namespace {

using namespace std::chrono_literals;
using sdk::testing::eventually;

// Each node card as the page shows it: name, role and "store:health" rows.
const char* kCards = R"JS(
  JSON.stringify([...document.querySelectorAll("[data-node]")].map(c => ({
    node: c.dataset.node, role: c.dataset.role, reachable: c.dataset.reachable || "self",
    stores: [...c.querySelectorAll("[data-store]")].map(s => s.dataset.store + ":" + s.dataset.health),
    text: c.textContent})))
)JS";

// Per node card: its store rows, the lag charts among them, the points and
// line segments of its first chart.
const char* kCharts = R"JS(
  JSON.stringify([...document.querySelectorAll("[data-node]")].map(c => {
    const svgs = [...c.querySelectorAll("[data-store] svg[data-chart]")];
    return {node: c.dataset.node, rows: c.querySelectorAll("[data-store]").length, charts: svgs.length,
            points: svgs.length ? Number(svgs[0].dataset.points) : 0,
            lines: svgs.length ? svgs[0].querySelectorAll("polyline").length : 0,
            store: svgs.length ? svgs[0].dataset.chart : null};
  }))
)JS";

nlohmann::json cards(testsupport::HeadlessChromium& browser) {
  return nlohmann::json::parse(browser.evaluate(kCards).get<std::string>());
}

// The cards show exactly these nodes with these roles, each with store "app" healthy.
bool shows(const nlohmann::json& cs, const std::map<std::string, std::string>& roles) {
  if (cs.size() != roles.size()) return false;
  for (const auto& c : cs) {
    auto it = roles.find(c.value("node", ""));
    if (it == roles.end() || c.value("role", "") != it->second) return false;
    if (c["stores"] != nlohmann::json::array({"app:ok"})) return false;
  }
  return true;
}

std::filesystem::path screenshot_path(const std::string& name) {
  std::filesystem::path dir = DASHBOARD_SCREENSHOT_DIR;
  std::filesystem::create_directories(dir);
  return dir / name;
}

TEST(Dashboard, ShowsBothNodesAndTheirRolesAndFollowsASwitchoverWithoutReload) {
  sdk::testing::TempDir dir;
  int alpha_port = sdk::testing::free_port();
  int beta_port = sdk::testing::free_port();
  // A sample a second: the lag charts have a line to draw within the test.
  const std::string samples = "history_interval = \"1s\"\n";
  auto a = start_tandemd(write_node(dir.path(), "alpha", "primary", alpha_port, beta_port, "", samples));
  auto b = start_tandemd(write_node(dir.path(), "beta", "secondary", beta_port, alpha_port, "", samples));
  // alpha has heard from beta, stores included: the page has both nodes to show.
  ASSERT_TRUE(eventually(
      [&] {
        try {
          auto s = testhttp::get(alpha_port, "/v1/status").json();
          return s["peer"]["role"] == "secondary" && s["peer"]["fenced"] == false &&
                 s["peer"]["stores"].size() == 1 && s["peer"]["stores"][0]["health"]["status"] == "ok" &&
                 s["stores"][0]["health"]["status"] == "ok";
        } catch (const std::exception&) {
          return false;
        }
      },
      60s))
      << a.log_tail() << b.log_tail();

  const std::string origin = "http://127.0.0.1:" + std::to_string(alpha_port);
  testsupport::HeadlessChromium browser;
  browser.navigate(origin + "/ui");
  nlohmann::json seen;
  EXPECT_TRUE(eventually(
      [&] {
        seen = cards(browser);
        return shows(seen, {{"alpha", "primary"}, {"beta", "secondary"}});
      },
      30s))
      << seen.dump(2);
  // Each of this node's stores has its lag chart, drawn from /v1/history/samples
  // with a line once two samples are in; the peer's stores have none (their
  // samples are on the peer's own page).
  nlohmann::json charts;
  EXPECT_TRUE(eventually(
      [&] {
        charts = nlohmann::json::parse(browser.evaluate(kCharts).get<std::string>());
        return charts.size() == 2 && charts[0]["node"] == "alpha" && charts[0]["charts"] == 1 &&
               charts[0]["points"] >= 2 && charts[0]["lines"] >= 1 && charts[1]["node"] == "beta" &&
               charts[1]["charts"] == 0;
      },
      30s))
      << charts.dump(2);
  auto before = screenshot_path("dashboard-pair.png");
  browser.screenshot(before);
  std::cout << "dashboard screenshot (alpha primary, beta secondary): " << before.string() << std::endl;
  EXPECT_GT(std::filesystem::file_size(before), 10000u);
  // What a person reads: both names, roles, epoch, the peer's reachability.
  auto text = browser.evaluate("document.body.textContent").get<std::string>();
  for (const char* want : {"alpha", "beta", "primary", "secondary", "Epoch", "yes, last answer", "daemon-test store"})
    EXPECT_NE(text.find(want), std::string::npos) << want << " not on the page:\n" << text;

  // A phone's width: each store a block, its chart at full width, nothing wider than the screen.
  {
    testsupport::HeadlessChromium narrow(400, 900);
    narrow.navigate(origin + "/ui");
    EXPECT_TRUE(eventually(
        [&] { return narrow.evaluate("document.querySelectorAll('svg[data-chart]').length").get<int>() == 1; }, 30s));
    EXPECT_LE(narrow.evaluate("document.documentElement.scrollWidth").get<int>(), 400);
    auto phone = screenshot_path("dashboard-narrow.png");
    narrow.screenshot(phone);
    std::cout << "dashboard screenshot (400 px wide): " << phone.string() << std::endl;
  }

  // A switchover run from beta: the open page follows by itself.
  browser.evaluate("window.tandemTestMarker = 17");
  auto r = testhttp::request(beta_port, "POST", "/v1/switchover", "{}", {{"Authorization", "Bearer token-beta"}},
                             120s);
  ASSERT_EQ(r.status, 200) << r.body << a.log_tail() << b.log_tail();
  EXPECT_TRUE(eventually(
      [&] {
        seen = cards(browser);
        return shows(seen, {{"alpha", "secondary"}, {"beta", "primary"}});
      },
      30s))
      << seen.dump(2);
  EXPECT_EQ(browser.evaluate("window.tandemTestMarker"), 17) << "the page was reloaded";
  EXPECT_TRUE(eventually(
      [&] { return browser.evaluate("document.querySelectorAll('[data-report]').length").get<int>() >= 1; }, 30s))
      << "the switchover's report is not in the history";
  // A report the reader opened stays open through the next redraws.
  browser.evaluate("document.querySelector('[data-report]').open = true");
  int refreshes = std::stoi(browser.evaluate("document.body.dataset.refreshes").get<std::string>());
  EXPECT_TRUE(eventually(
      [&] { return std::stoi(browser.evaluate("document.body.dataset.refreshes").get<std::string>()) >= refreshes + 2; },
      30s));
  EXPECT_EQ(browser.evaluate("document.querySelector('[data-report]').open"), true) << "a redraw closed the report";
  auto after = screenshot_path("dashboard-after-switchover.png");
  browser.screenshot(after);
  std::cout << "dashboard screenshot (after the switchover): " << after.string() << std::endl;

  // Every request went to the node itself, and the page did request its parts.
  auto urls = browser.requested_urls();
  EXPECT_EQ(testsupport::foreign_requests(urls, origin), std::vector<std::string>{}) << "requests to other hosts";
  for (const char* part : {"/ui", "/ui/dashboard.js", "/ui/dashboard.css", "/v1/status", "/v1/history",
                           "/v1/history/samples"})
    EXPECT_NE(std::find(urls.begin(), urls.end(), origin + part), urls.end()) << part << " never requested";

  // The check above can fail: a request elsewhere made from the page is seen.
  browser.evaluate(
      "fetch('http://cdn.example.com/lib.js').catch(() => 0).then(() => "
      "fetch('http://127.0.0.1:" + std::to_string(beta_port) + "/v1/status').catch(() => 0))");
  auto foreign = testsupport::foreign_requests(browser.requested_urls(), origin);
  EXPECT_EQ(foreign, (std::vector<std::string>{"http://cdn.example.com/lib.js",
                                                "http://127.0.0.1:" + std::to_string(beta_port) + "/v1/status"}));
}

TEST(Dashboard, PageIsSmallSelfContainedAndRefusesOtherOrigins) {
  sdk::testing::TempDir dir;
  int port = sdk::testing::free_port();
  auto node = start_tandemd(write_node(dir.path(), "alpha", "primary", port, sdk::testing::free_port()));
  ASSERT_TRUE(eventually(
      [&] {
        try {
          return testhttp::get(port, "/v1/status").status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      60s))
      << node.log_tail();
  std::size_t total = 0;
  for (const char* part : {"/ui", "/ui/dashboard.js", "/ui/dashboard.css"}) {
    auto r = testhttp::get(port, part);
    ASSERT_EQ(r.status, 200) << part;
    total += r.body.size();
    EXPECT_NE(r.header("Content-Security-Policy").find("default-src 'none'"), std::string::npos) << part;
    EXPECT_NE(r.header("Content-Security-Policy").find("connect-src 'self'"), std::string::npos) << part;
    // No absolute URL anywhere in the page's files: nothing can come from elsewhere.
    EXPECT_EQ(r.body.find("://"), std::string::npos) << part;
  }
  EXPECT_LT(total, 100u * 1024);
  EXPECT_NE(testhttp::get(port, "/ui").header("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(testhttp::get(port, "/ui/dashboard.js").header("Content-Type").find("javascript"), std::string::npos);
  EXPECT_EQ(testhttp::get(port, "/ui/nothing.js").status, 404);
  EXPECT_EQ(testhttp::request(port, "POST", "/ui", "{}").status, 405);
  auto head = testhttp::request(port, "HEAD", "/ui");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Length"), std::to_string(testhttp::get(port, "/ui").body.size()));
  auto root = testhttp::get(port, "/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.header("Location"), "/ui");
}

}  // namespace
}  // namespace tandem::testplugins
