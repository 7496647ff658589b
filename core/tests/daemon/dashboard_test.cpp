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

// Within 30 s the page shows these nodes with these roles (what it showed last in `seen`).
bool eventually_shows(testsupport::HeadlessChromium& browser, const std::map<std::string, std::string>& roles,
                      nlohmann::json& seen) {
  return eventually(
      [&] {
        seen = cards(browser);
        return shows(seen, roles);
      },
      30s);
}

std::filesystem::path screenshot_path(const std::string& name) {
  std::filesystem::path dir = DASHBOARD_SCREENSHOT_DIR;
  std::filesystem::create_directories(dir);
  return dir / name;
}

// A pair of real tandemd processes (alpha primary, beta secondary) with
// `api_keys` in both [api] sections; ready() once alpha has heard from beta,
// stores included: the page has both nodes to show.
struct Pair {
  explicit Pair(const std::string& api_keys)
      : a(start_tandemd(write_node(dir.path(), "alpha", "primary", alpha_port, beta_port, "", api_keys))),
        b(start_tandemd(write_node(dir.path(), "beta", "secondary", beta_port, alpha_port, "", api_keys))) {}

  bool ready() {
    return eventually(
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
        60s);
  }

  sdk::testing::TempDir dir;
  int alpha_port = sdk::testing::free_port();
  int beta_port = sdk::testing::free_port();
  sdk::ChildProcess a;
  sdk::ChildProcess b;
};

// actions.js has read /ui/settings.json: "yes" (its bar added) or "no".
std::string actions_offered(testsupport::HeadlessChromium& browser) {
  return browser.evaluate("document.body.dataset.actionsOffered || ''").get<std::string>();
}

TEST(Dashboard, ShowsBothNodesAndTheirRolesAndFollowsASwitchoverWithoutReload) {
  // A sample a second: the lag charts have a line to draw within the test.
  Pair pair("history_interval = \"1s\"\n");
  ASSERT_TRUE(pair.ready()) << pair.a.log_tail() << pair.b.log_tail();
  const int alpha_port = pair.alpha_port;
  const int beta_port = pair.beta_port;

  const std::string origin = "http://127.0.0.1:" + std::to_string(alpha_port);
  testsupport::HeadlessChromium browser;
  browser.navigate(origin + "/ui");
  nlohmann::json seen;
  EXPECT_TRUE(eventually_shows(browser, {{"alpha", "primary"}, {"beta", "secondary"}}, seen)) << seen.dump(2);
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
  // [api] dashboard_actions is not set: not one button or token field.
  EXPECT_TRUE(eventually([&] { return actions_offered(browser) == "no"; }, 30s));
  EXPECT_EQ(browser.evaluate("[...document.querySelectorAll('button, input, dialog, [data-actions]')]"
                             ".map(e => e.outerHTML.slice(0, 120)).join('\\n')"),
            "");
  auto before = screenshot_path("dashboard-pair.png");
  browser.screenshot(before);
  std::cout << "dashboard screenshot (alpha primary, beta secondary): " << before.string() << std::endl;
  EXPECT_GT(std::filesystem::file_size(before), 10000u);
  // What a person reads: both names, roles, epoch, the peer's reachability.
  auto text = browser.evaluate("document.body.textContent").get<std::string>();
  for (const char* want : {"alpha", "beta", "primary", "secondary", "Epoch", "yes, last answer", "daemon-test store"})
    EXPECT_NE(text.find(want), std::string::npos) << want << " not on the page:\n" << text;

  // A phone's width (the same page, its viewport narrowed): each store a
  // block, its chart at full width, nothing wider than the screen.
  browser.set_viewport(400, 900);
  EXPECT_LE(browser.evaluate("document.documentElement.scrollWidth").get<int>(), 400);
  // Nor does a card or a store table scroll sideways inside (.table would hide it in its own scrollbar).
  EXPECT_EQ(
      browser.evaluate("[...document.querySelectorAll('.node, .table')].filter(e => e.scrollWidth > e.clientWidth)"
                       ".map(e => e.className + ': ' + e.scrollWidth + ' > ' + e.clientWidth).join('; ')"),
      "");
  EXPECT_EQ(browser.evaluate("document.querySelectorAll('svg[data-chart]').length"), 1);
  auto phone = screenshot_path("dashboard-narrow.png");
  browser.screenshot(phone);
  std::cout << "dashboard screenshot (400 px wide): " << phone.string() << std::endl;
  browser.set_viewport(1280, 900);

  // A switchover run from beta: the open page follows by itself.
  browser.evaluate("window.tandemTestMarker = 17");
  auto r = testhttp::request(beta_port, "POST", "/v1/switchover", "{}", {{"Authorization", "Bearer token-beta"}}, 120s);
  ASSERT_EQ(r.status, 200) << r.body << pair.a.log_tail() << pair.b.log_tail();
  EXPECT_TRUE(eventually_shows(browser, {{"alpha", "secondary"}, {"beta", "primary"}}, seen)) << seen.dump(2);
  EXPECT_EQ(browser.evaluate("window.tandemTestMarker"), 17) << "the page was reloaded";
  EXPECT_TRUE(eventually(
      [&] { return browser.evaluate("document.querySelectorAll('[data-report]').length").get<int>() >= 1; }, 30s))
      << "the switchover's report is not in the history";
  // A report the reader opened stays open through the next redraws.
  browser.evaluate("document.querySelector('[data-report]').open = true");
  int refreshes = std::stoi(browser.evaluate("document.body.dataset.refreshes").get<std::string>());
  EXPECT_TRUE(eventually(
      [&] {
        return std::stoi(browser.evaluate("document.body.dataset.refreshes").get<std::string>()) >= refreshes + 2;
      },
      30s));
  EXPECT_EQ(browser.evaluate("document.querySelector('[data-report]').open"), true) << "a redraw closed the report";
  auto after = screenshot_path("dashboard-after-switchover.png");
  browser.screenshot(after);
  std::cout << "dashboard screenshot (after the switchover): " << after.string() << std::endl;

  // Every request went to the node itself, and the page did request its parts.
  auto urls = browser.requested_urls();
  EXPECT_EQ(testsupport::foreign_requests(urls, origin), std::vector<std::string>{}) << "requests to other hosts";
  for (const char* part : {"/ui", "/ui/dashboard.js", "/ui/dashboard.css", "/ui/actions.js", "/ui/settings.json",
                           "/v1/status", "/v1/history", "/v1/history/samples"})
    EXPECT_NE(std::find(urls.begin(), urls.end(), origin + part), urls.end()) << part << " never requested";

  // The check above can fail: a request elsewhere made from the page is seen.
  browser.evaluate(
      "fetch('http://cdn.example.com/lib.js').catch(() => 0).then(() => "
      "fetch('http://127.0.0.1:" +
      std::to_string(beta_port) + "/v1/status').catch(() => 0))");
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
  for (const char* part : {"/ui", "/ui/dashboard.js", "/ui/dashboard.css", "/ui/actions.js"}) {
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
  // Without [api] dashboard_actions the page is told to offer no action.
  auto settings = testhttp::get(port, "/ui/settings.json");
  EXPECT_EQ(settings.status, 200);
  EXPECT_EQ(settings.json(), nlohmann::json({{"actions", false}}));
  EXPECT_NE(settings.header("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(testhttp::request(port, "POST", "/ui", "{}").status, 405);
  auto head = testhttp::request(port, "HEAD", "/ui");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Length"), std::to_string(testhttp::get(port, "/ui").body.size()));
  auto root = testhttp::get(port, "/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.header("Location"), "/ui");
}

// The confirm dialog as the page shows it: open or not, its state (no-token,
// dry-run, confirm, refused, done, failed), its text, whether "Run it" shows.
nlohmann::json confirm_dialog(testsupport::HeadlessChromium& browser) {
  return nlohmann::json::parse(browser
                                   .evaluate(R"JS(JSON.stringify((() => {
    const d = document.querySelector("dialog[data-confirm]");
    return d ? {open: d.open, state: d.dataset.state || "", text: d.querySelector("[data-confirm-text]").textContent,
                run: !d.querySelector("[data-confirm-run]").hidden} : null; })()))JS")
                                   .get<std::string>());
}

TEST(Dashboard, ActionsOnlyWhenConfiguredNeedTheTokenAndShowTheDryRunBeforeASwitchover) {
  Pair pair("dashboard_actions = true\n");
  ASSERT_TRUE(pair.ready()) << pair.a.log_tail() << pair.b.log_tail();
  // The setting opens nothing in the API: a mutation without the token is refused as before.
  EXPECT_EQ(testhttp::request(pair.beta_port, "POST", "/v1/switchover", "{\"dry_run\": true}").status, 401);

  const std::string origin = "http://127.0.0.1:" + std::to_string(pair.beta_port);
  testsupport::HeadlessChromium browser;
  browser.navigate(origin + "/ui");
  nlohmann::json seen;
  ASSERT_TRUE(eventually(
      [&] {
        seen = cards(browser);
        return shows(seen, {{"alpha", "primary"}, {"beta", "secondary"}}) && actions_offered(browser) == "yes";
      },
      30s))
      << seen.dump(2);
  EXPECT_EQ(browser.evaluate("[...document.querySelectorAll('[data-action]')].map(b => b.dataset.action).join()"),
            "switchover,promote,rejoin,pause,resume");
  browser.evaluate("window.tandemTestMarker = 18");
  auto dialog_is = [&](const std::string& state) {
    nlohmann::json d;
    bool ok = eventually(
        [&] {
          d = confirm_dialog(browser);
          return d.is_object() && d["open"] == true && d["state"] == state;
        },
        30s);
    EXPECT_TRUE(ok) << "dialog never " << state << ": " << d.dump(2);
    return d;
  };

  // No token typed yet: the dialog asks for it; nothing is sent.
  browser.click("[data-action=switchover]");
  auto d = dialog_is("no-token");
  EXPECT_NE(d["text"].get<std::string>().find("token"), std::string::npos) << d.dump();
  EXPECT_FALSE(d["run"]);
  browser.click("[data-confirm-cancel]");

  // A wrong token: the dry run's 401 is stated, and there is nothing to confirm.
  browser.type("[data-token]", "not-the-token");
  browser.click("[data-action=switchover]");
  d = dialog_is("refused");
  EXPECT_NE(d["text"].get<std::string>().find("the token was refused (HTTP 401)"), std::string::npos) << d.dump();
  EXPECT_FALSE(d["run"]);
  browser.click("[data-confirm-cancel]");

  // The right token: the dry run's report (tandemctl switchover --dry-run's
  // text) is shown, and until "Run it" nothing has changed.
  browser.evaluate("document.querySelector('[data-token]').value = ''");
  browser.type("[data-token]", "token-beta");
  browser.click("[data-action=switchover]");
  d = dialog_is("confirm");
  std::string dry = d["text"].get<std::string>();
  EXPECT_NE(dry.find("switchover"), std::string::npos) << dry;
  EXPECT_NE(dry.find(": dry-run"), std::string::npos) << dry;
  EXPECT_NE(dry.find("plan: "), std::string::npos) << dry;
  EXPECT_TRUE(d["run"]);
  EXPECT_EQ(testhttp::get(pair.beta_port, "/v1/status").json()["role"], "secondary") << "the dry run changed the role";
  auto confirm = screenshot_path("dashboard-actions-confirm.png");
  browser.screenshot(confirm);
  std::cout << "dashboard screenshot (switchover dry run, to confirm): " << confirm.string() << std::endl;

  browser.click("[data-confirm-run]");
  d = dialog_is("done");
  EXPECT_NE(d["text"].get<std::string>().find(": succeeded"), std::string::npos) << d.dump();
  browser.click("[data-confirm-cancel]");
  EXPECT_TRUE(eventually_shows(browser, {{"alpha", "secondary"}, {"beta", "primary"}}, seen)) << seen.dump(2);
  EXPECT_EQ(browser.evaluate("window.tandemTestMarker"), 18) << "the page was reloaded";
  auto after = screenshot_path("dashboard-actions-after-switchover.png");
  browser.screenshot(after);
  std::cout << "dashboard screenshot (after the switchover from the page): " << after.string() << std::endl;

  // Pause (with a reason) and resume from the page: no dry run in the API,
  // the dialog says what they do and "Run it" sends them.
  browser.click("[data-action=pause]");
  d = dialog_is("confirm");
  EXPECT_NE(d["text"].get<std::string>().find("promote and switchover are refused"), std::string::npos) << d.dump();
  browser.type("[data-reason]", "kernel upgrade");
  browser.click("[data-confirm-run]");
  d = dialog_is("done");
  EXPECT_NE(d["text"].get<std::string>().find("paused (kernel upgrade)"), std::string::npos) << d.dump();
  browser.click("[data-confirm-cancel]");
  auto maintenance = testhttp::get(pair.beta_port, "/v1/status").json()["maintenance"];
  EXPECT_EQ(maintenance["paused"], true) << maintenance.dump();
  EXPECT_EQ(maintenance["reason"], "kernel upgrade") << maintenance.dump();
  browser.click("[data-action=resume]");
  dialog_is("confirm");
  browser.click("[data-confirm-run]");
  d = dialog_is("done");
  EXPECT_NE(d["text"].get<std::string>().find("not paused"), std::string::npos) << d.dump();
  EXPECT_EQ(testhttp::get(pair.beta_port, "/v1/status").json()["maintenance"]["paused"], false);

  // The token was held in the page's memory only.
  EXPECT_EQ(browser.evaluate("localStorage.length + sessionStorage.length"), 0);
  EXPECT_EQ(browser.evaluate("document.cookie"), "");
  EXPECT_EQ(browser.evaluate("location.href"), origin + "/ui");
  EXPECT_EQ(testsupport::foreign_requests(browser.requested_urls(), origin), std::vector<std::string>{});
}

}  // namespace
}  // namespace tandem::testplugins
