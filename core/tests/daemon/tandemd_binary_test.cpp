// The real tandemd binary with a plugin loaded from a .so: --check, systemd
// readiness, clean shutdown on SIGTERM/SIGINT, persisted state across a
// restart, and two daemons that see each other and relay store events.
#include <gtest/gtest.h>

#include <functional>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "support/test_http.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandemd_nodes.h"

namespace tandem::testplugins {
namespace {

using namespace std::chrono_literals;
using sdk::testing::eventually;

bool answers(int port) {
  try {
    return testhttp::get(port, "/v1/status").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

int exit_code_after(sdk::ChildProcess& p, int signal) {
  p.stop(60s, signal);
  auto status = p.exit_status();
  if (!status) return -1000;
  if (WIFEXITED(*status)) return WEXITSTATUS(*status);
  return -WTERMSIG(*status);
}

sdk::ProcessResult run_tandemd(const std::vector<std::string>& args) {
  sdk::ProcessSpec spec;
  spec.argv = {TANDEMD_BINARY};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = 60s;
  auto r = sdk::run_process(spec);
  if (!r) throw std::runtime_error(r.message());
  return r.value();
}

TEST(TandemdBinary, CheckAcceptsAGoodConfigAndExplainsABadOne) {
  sdk::testing::TempDir dir;
  auto good = write_node(dir.path(), "alpha", "primary", sdk::testing::free_port(), sdk::testing::free_port());
  auto ok = run_tandemd({"--config", good.config.string(), "--check"});
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  EXPECT_NE(ok.stdout_text.find("OK"), std::string::npos) << ok.stdout_text;

  auto bad = write_node(dir.path(), "beta", "secondary", sdk::testing::free_port(), sdk::testing::free_port(),
                        "lag_feild = \"x\"\n");
  auto refused = run_tandemd({"--config", bad.config.string(), "--check"});
  EXPECT_EQ(refused.exit_code, 1);
  // file:line:col of the unknown key, and the key it probably meant.
  EXPECT_NE(refused.stderr_text.find("tandem.toml:20:"), std::string::npos) << refused.stderr_text;
  EXPECT_NE(refused.stderr_text.find("lag_field"), std::string::npos) << refused.stderr_text;
  // The same config refuses to start, too.
  auto start = run_tandemd({"--config", bad.config.string()});
  EXPECT_EQ(start.exit_code, 1);

  auto usage = run_tandemd({});
  EXPECT_NE(usage.exit_code, 0);
  EXPECT_NE((usage.stderr_text + usage.stdout_text).find("--config"), std::string::npos);
}

// One row per peer api_url scheme: --check accepts exactly what the daemon's
// HTTP client can use, and a refused URL also stops the daemon from starting
// with the same message.
struct PeerUrlCase {
  std::string url;      // "{port}" is replaced by the peer's port
  std::string refusal;  // empty: accepted
};

std::vector<PeerUrlCase> peer_url_cases() {
  return {{"http://127.0.0.1:{port}", ""},
          {"HTTP://127.0.0.1:{port}/", ""},
          {"http://[::1]:{port}", ""},
          {"https://127.0.0.1:{port}", ""},
          {"ftp://127.0.0.1:{port}", "only http:// and https:// URLs are supported"},
          {"ws://127.0.0.1:{port}", "only http:// and https:// URLs are supported"},
          {"redis://127.0.0.1:{port}", "only http:// and https:// URLs are supported"},
          {"file:///etc/tandem", "only http:// and https:// URLs are supported"},
          {"127.0.0.1:{port}", "no scheme"},
          {"http://127.0.0.1:70000", "out of range"},
          {"http://10.0.0.2:{port}", "in clear to a non-loopback address"},
          {"http://admin:pw-s3cret@127.0.0.1:{port}", "carries credentials"}};
}

TEST(TandemdBinary, CheckRefusesExactlyThePeerUrlsTheDaemonCannotUse) {
  for (const auto& c : peer_url_cases()) {
    sdk::testing::TempDir dir;
    int peer_port = sdk::testing::free_port();
    auto node = write_node(dir.path(), "alpha", "primary", sdk::testing::free_port(), peer_port);
    std::string url = c.url;
    if (auto at = url.find("{port}"); at != std::string::npos) url.replace(at, 6, std::to_string(peer_port));
    std::ifstream in(node.config);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string old = "api_url = \"http://127.0.0.1:" + std::to_string(peer_port) + "\"";
    ASSERT_NE(text.find(old), std::string::npos);
    text.replace(text.find(old), old.size(), "api_url = \"" + url + "\"");
    write_file(node.config, text);

    auto check = run_tandemd({"--config", node.config.string(), "--check"});
    std::string said = check.stdout_text + check.stderr_text;
    EXPECT_EQ(said.find("s3cret"), std::string::npos) << url << " repeated its password: " << said;
    if (c.refusal.empty()) {
      EXPECT_EQ(check.exit_code, 0) << url << ": " << said;
      continue;
    }
    EXPECT_EQ(check.exit_code, 1) << url << " was accepted";
    EXPECT_NE(check.stderr_text.find("tandem.toml:10:11: [peer] api_url"), std::string::npos) << said;
    EXPECT_NE(check.stderr_text.find(c.refusal), std::string::npos) << url << ": " << said;
    auto start = run_tandemd({"--config", node.config.string()});
    EXPECT_EQ(start.exit_code, 1) << url << ": the daemon started on a URL --check refused";
    EXPECT_EQ(start.stderr_text, check.stderr_text) << url;
  }
}

TEST(TandemdBinary, CheckRunsEachStoresConfigureLikeTheDaemon) {
  sdk::testing::TempDir dir;
  auto node = write_node(dir.path(), "alpha", "primary", sdk::testing::free_port(), sdk::testing::free_port(),
                         "lag_field = \"refuse\"\n");
  auto check = run_tandemd({"--config", node.config.string(), "--check"});
  EXPECT_EQ(check.exit_code, 1) << "--check passed a store its configure() refuses";
  EXPECT_NE(check.stderr_text.find("tandem.toml:20:13: store 'app', key 'lag_field': must not be 'refuse'"),
            std::string::npos)
      << check.stderr_text;
  auto start = run_tandemd({"--config", node.config.string()});
  EXPECT_EQ(start.exit_code, 1);
  EXPECT_NE(start.stderr_text.find("must not be 'refuse'"), std::string::npos) << start.stderr_text;
}

// A token file the daemon cannot use is refused by --check with the same
// message the daemon stops with.
TEST(TandemdBinary, CheckAndDaemonRefuseTheSameUnusableTokenFiles) {
  namespace fs = std::filesystem;
  const std::vector<std::pair<std::string, std::function<void(const fs::path&)>>> cases = {
      {"does not exist", [](const fs::path& p) { fs::remove(p); }},
      {"is not a regular file",
       [](const fs::path& p) {
         fs::remove(p);
         fs::create_directory(p);
       }},
      {"is empty",
       [](const fs::path& p) {
         write_file(p, "\n");
         fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
       }},
      {"can be read by group or others; run: chmod 600 ", [](const fs::path& p) {
         fs::permissions(
             p, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
       }}};
  for (const char* token : {"api-token", "peer-token"}) {
    for (const auto& [refusal, spoil] : cases) {
      sdk::testing::TempDir dir;
      auto node = write_node(dir.path(), "alpha", "primary", sdk::testing::free_port(), sdk::testing::free_port());
      auto file = node.config.parent_path() / token;
      spoil(file);
      auto check = run_tandemd({"--config", node.config.string(), "--check"});
      EXPECT_EQ(check.exit_code, 1) << token << " " << refusal << ": --check passed";
      EXPECT_NE(check.stderr_text.find(file.string() + " " + refusal), std::string::npos) << check.stderr_text;
      auto start = run_tandemd({"--config", node.config.string()});
      EXPECT_EQ(start.exit_code, 1) << token << " " << refusal << ": the daemon started";
      EXPECT_NE(start.stderr_text.find(file.string() + " " + refusal), std::string::npos) << start.stderr_text;
    }
  }
}

TEST(TandemdBinary, MissingTokenFileIsAClearStartupError) {
  sdk::testing::TempDir dir;
  auto node = write_node(dir.path(), "alpha", "primary", sdk::testing::free_port(), sdk::testing::free_port());
  std::filesystem::remove(node.config.parent_path() / "api-token");
  auto r = run_tandemd({"--config", node.config.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("api-token"), std::string::npos) << r.stderr_text;
}

TEST(TandemdBinary, NotifiesSystemdAndStopsCleanlyOnSigterm) {
  sdk::testing::TempDir dir;
  auto node = write_node(dir.path(), "alpha", "primary", sdk::testing::free_port(), sdk::testing::free_port());
  std::string sock = (dir.path() / "notify.sock").string();
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{60, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  auto daemon = start_tandemd(node, {{"NOTIFY_SOCKET", sock}});
  char buf[256] = {};
  ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  ASSERT_GT(n, 0) << "no readiness notification; log:\n" << daemon.log_tail();
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)).rfind("READY=1", 0), 0u);
  // Ready means the API answers at once.
  EXPECT_TRUE(answers(node.port)) << daemon.log_tail();

  EXPECT_EQ(exit_code_after(daemon, SIGTERM), 0) << daemon.log_tail();
  n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "STOPPING=1");
  std::string log = daemon.log_tail(100000);
  EXPECT_NE(log.find("[app] stopped"), std::string::npos) << log;
  EXPECT_FALSE(answers(node.port));
}

TEST(TandemdBinary, RoleEpochAndStoreStatePersistAcrossRestart) {
  sdk::testing::TempDir dir;
  int port = sdk::testing::free_port();
  auto node = write_node(dir.path(), "alpha", "primary", port, sdk::testing::free_port());
  {
    auto daemon = start_tandemd(node);
    ASSERT_TRUE(eventually([&] { return answers(port); }, 60s)) << daemon.log_tail();
    auto s = testhttp::get(port, "/v1/status").json();
    EXPECT_EQ(s["role"], "primary");
    EXPECT_EQ(s["epoch"], 1);
    ASSERT_TRUE(eventually(
        [&] { return testhttp::get(port, "/v1/stores/app").json()["health"]["details"]["starts"] == 1; }, 30s));
    EXPECT_EQ(exit_code_after(daemon, SIGINT), 0) << daemon.log_tail();
  }
  EXPECT_TRUE(std::filesystem::exists(node.config.parent_path() / "data" / "node-state.json"));
  EXPECT_TRUE(std::filesystem::exists(node.config.parent_path() / "data" / "stores" / "app" / "state.json"));

  // The configured role is only the initial one: the persisted state wins.
  std::ifstream in(node.config);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto pos = text.find("role = \"primary\"");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 16, "role = \"secondary\"");
  write_file(node.config, text);

  auto daemon = start_tandemd(node);
  ASSERT_TRUE(eventually([&] { return answers(port); }, 60s)) << daemon.log_tail();
  auto s = testhttp::get(port, "/v1/status").json();
  EXPECT_EQ(s["role"], "primary");
  EXPECT_EQ(s["epoch"], 1);
  EXPECT_EQ(testhttp::get(port, "/monitor/replication").json()["replication_mode"], "master");
  // The plugin's own state (a start counter) survived as well.
  EXPECT_TRUE(eventually(
      [&] { return testhttp::get(port, "/v1/stores/app").json()["health"]["details"]["starts"] == 2; }, 30s));
  EXPECT_EQ(exit_code_after(daemon, SIGTERM), 0) << daemon.log_tail();
}

TEST(TandemdBinary, APairSeesEachOtherAndRelaysStoreEvents) {
  sdk::testing::TempDir dir;
  int alpha_port = sdk::testing::free_port();
  int beta_port = sdk::testing::free_port();
  auto alpha = write_node(dir.path(), "alpha", "primary", alpha_port, beta_port);
  auto beta = write_node(dir.path(), "beta", "secondary", beta_port, alpha_port);
  auto a = start_tandemd(alpha);
  auto b = start_tandemd(beta);
  ASSERT_TRUE(eventually([&] { return answers(alpha_port) && answers(beta_port); }, 60s))
      << a.log_tail() << b.log_tail();

  // Each polls the other's status: reachable, with its role and epoch.
  ASSERT_TRUE(eventually(
      [&] {
        auto s = testhttp::get(alpha_port, "/v1/status").json();
        return s["peer"]["reachable"] == true && s["peer"]["role"] == "secondary" && s["peer"]["epoch"] == 1 &&
               s["peer"]["last_seen"].is_string();
      },
      60s))
      << testhttp::get(alpha_port, "/v1/status").body;
  ASSERT_TRUE(
      eventually([&] { return testhttp::get(beta_port, "/v1/status").json()["peer"]["role"] == "primary"; }, 60s));
  auto page = testhttp::get(beta_port, "/monitor/replication").json();
  EXPECT_EQ(page["replication_mode"], "standby");
  EXPECT_TRUE(page["127.0.0.1"]["test_lag"].is_string()) << page.dump();

  // alpha's store tells beta's same store something through notify_peer.
  auto r = testhttp::request(alpha_port, "POST", "/v1/stores/app/actions/tell-peer", R"({"hello":"beta"})",
                             {{"Authorization", "Bearer token-alpha"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(eventually(
      [&] {
        return testhttp::get(beta_port, "/v1/stores/app").json()["health"]["details"]["last_peer_event"] ==
               nlohmann::json{{"hello", "beta"}};
      },
      30s))
      << b.log_tail();

  // When beta goes away, alpha notices.
  EXPECT_EQ(exit_code_after(b, SIGTERM), 0) << b.log_tail();
  EXPECT_TRUE(
      eventually([&] { return testhttp::get(alpha_port, "/v1/status").json()["peer"]["reachable"] == false; }, 60s));
  auto metrics = testhttp::get(alpha_port, "/metrics").body;
  EXPECT_NE(metrics.find("tandem_peer_reachable 0"), std::string::npos);
  EXPECT_EQ(exit_code_after(a, SIGTERM), 0) << a.log_tail();
}

}  // namespace
}  // namespace tandem::testplugins
