// tandemctl status / action / rebuild against the real tandemd running the
// loader's good test plugin.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_test_support.h"
#include "support/background_process.h"
#include "support/test_certs.h"
#include "support/test_http.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::clitest {
namespace {

using namespace std::chrono_literals;
using sdk::testing::eventually;
using sdk::testing::TempDir;

::testing::AssertionResult has(const std::string& text, const std::string& fragment) {
  if (text.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << fragment << "'";
}

TEST_F(RunningDaemon, StatusPrintsNodeRoleAndStoresWithProgress) {
  sdk::ProcessResult r;
  // The daemon serves health from a cache refreshed after start: wait for the store's report.
  bool shown = eventually(
      [&] {
        r = tandemctl(with_config({"status"}));
        return r.exit_code == 0 && r.stdout_text.find("50.0%") != std::string::npos;
      },
      60s);
  ASSERT_TRUE(shown) << r.stdout_text << r.stderr_text << daemon_.log_tail();
  EXPECT_TRUE(has(r.stdout_text, "node   alpha (127.0.0.1)  role primary  epoch 1"));
  EXPECT_TRUE(has(r.stdout_text, "peer   beta (127.0.0.1)  NOT reachable"));
  EXPECT_TRUE(has(r.stdout_text, "greeter  loader-good  ok"));
  EXPECT_TRUE(has(r.stdout_text, "[###############...............]  50.0%  5/10  2.5/s  ETA 2.0s"));

  auto j = tandemctl(with_config({"status", "--json"}));
  ASSERT_EQ(j.exit_code, 0) << j.stderr_text;
  auto status = nlohmann::json::parse(j.stdout_text);
  EXPECT_EQ(status.at("role"), "primary");
  EXPECT_EQ(status.at("stores").at(0).at("name"), "greeter");

  auto by_url = tandemctl({"status", "--url", "http://127.0.0.1:" + std::to_string(port_)});
  EXPECT_EQ(by_url.exit_code, 0) << by_url.stderr_text;
}

TEST_F(RunningDaemon, ActionPostsWithTheTokenAndPrintsTheAnswer) {
  auto r = tandemctl(with_config({"action", "greeter", "ping", "--arg", "n=3", "--arg", "word=hi"}));
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text << daemon_.log_tail();
  auto answer = nlohmann::json::parse(r.stdout_text);
  // The endpoint may wrap the plugin's result; find the pong anywhere in it.
  std::string flat = answer.dump();
  EXPECT_TRUE(has(flat, "\"pong\":{\"n\":3,\"word\":\"hi\"}")) << flat;

  write_file(dir_.path() / "wrong-token", "not-the-token\n");
  std::filesystem::permissions(dir_.path() / "wrong-token",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto refused =
      tandemctl(with_config({"action", "greeter", "ping", "--token-file", (dir_.path() / "wrong-token").string()}));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_TRUE(has(refused.stderr_text, "refused (HTTP 401)"));

  auto unknown = tandemctl(with_config({"action", "greeter", "explode"}));
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(has(unknown.stderr_text, "refused (HTTP 404)"));
  EXPECT_TRUE(has(unknown.stderr_text, "explode"));
}

TEST_F(RunningDaemon, RebuildFollowDrawsProgressUntilDone) {
  auto r = tandemctl(with_config({"rebuild", "greeter", "--follow", "--follow-timeout", "120"}));
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text << daemon_.log_tail();
  EXPECT_TRUE(has(r.stdout_text, "100.0%  10/10"));
  EXPECT_TRUE(has(r.stdout_text, "done: greeter is ok - fine"));
}

// write_config with role secondary (it writes a primary).
std::filesystem::path write_secondary_config(const std::filesystem::path& dir, int port, const std::string& tail) {
  auto config = write_config(dir, port, tail);
  std::string text = sdk::read_file(config);
  text.replace(text.find("role = \"primary\""), 16, "role = \"secondary\"");
  write_file(config, text);
  return config;
}

// The real tandemd on `config`, its log in `dir`.
sdk::ChildSpec tandemd_spec(const std::filesystem::path& config, const std::filesystem::path& dir) {
  sdk::ChildSpec spec;
  spec.argv = {TANDEMD_BINARY, "--config", config.string()};
  spec.env = {{"TANDEM_PLUGIN_PATH", ""}};
  spec.log_file = dir / "tandemd.log";
  return spec;
}

// Maintenance mode through the real binaries: a secondary is paused, which
// status, the replication page and /metrics show; promote is refused (the dry
// run too) while syncing goes on; a restart stays paused; --force goes through
// the pause; resume ends it.
TEST(Maintenance, PauseIsShownSurvivesARestartRefusesPromoteAndResumeEndsIt) {
  TempDir dir;
  int port = sdk::testing::free_port();
  auto config = write_secondary_config(
      dir.path(), port, "[stores.greeter]\nplugin = \"loader-good\"\ngreeting = \"hi\"\nsync_interval = \"1s\"\n");
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config.string()});
    return tandemctl(args);
  };
  auto spec = tandemd_spec(config, dir.path());
  auto daemon = testsupport::start_background(spec);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, 60s)) << daemon.log_tail();

  EXPECT_EQ(testhttp::request(port, "POST", "/v1/pause").status, 401) << "pausing needs the token";
  auto paused = ctl({"pause", "--reason", "disk swap"});
  ASSERT_EQ(paused.exit_code, 0) << paused.stderr_text << daemon.log_tail();
  EXPECT_TRUE(has(paused.stdout_text, "paused since "));
  EXPECT_TRUE(has(paused.stdout_text, "(disk swap)"));

  auto status = ctl({"status"});
  EXPECT_TRUE(has(status.stdout_text, "maintenance: PAUSED since "));
  EXPECT_TRUE(has(status.stdout_text, "(disk swap): syncing and monitoring go on"));
  EXPECT_TRUE(has(testhttp::get(port, "/metrics").body, "\ntandem_node_paused 1\n"));
  EXPECT_EQ(testhttp::get(port, "/monitor/replication").json().value("maintenance", ""), "paused");
  EXPECT_EQ(testhttp::get(port, "/v1/status").json()["maintenance"]["reason"], "disk swap");

  auto promote = ctl({"promote"});
  EXPECT_EQ(promote.exit_code, 1);
  EXPECT_TRUE(has(promote.stdout_text, "refused"));
  EXPECT_TRUE(has(promote.stdout_text, "this node is paused (maintenance mode since "));
  EXPECT_TRUE(has(ctl({"promote", "--dry-run"}).stdout_text, "this node is paused"));

  // The restart comes back paused, and the store's sync keeps running.
  daemon.stop();
  daemon = testsupport::start_background(spec);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, 60s)) << daemon.log_tail();
  EXPECT_TRUE(has(ctl({"status"}).stdout_text, "maintenance: PAUSED since "));
  auto runs = [&] { return testhttp::get(port, "/v1/status").json()["stores"][0]["sync"]["runs"].get<int>(); };
  int before = runs();
  EXPECT_TRUE(eventually([&] { return runs() >= before + 2; }, 30s)) << "sync stopped while paused";
  auto forced = ctl({"promote", "--force", "--dry-run"});
  EXPECT_EQ(forced.exit_code, 0) << forced.stdout_text << forced.stderr_text;
  EXPECT_TRUE(has(forced.stdout_text, "dry-run"));

  auto resumed = ctl({"resume"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.stderr_text;
  EXPECT_TRUE(has(resumed.stdout_text, "resumed"));
  EXPECT_FALSE(has(ctl({"status"}).stdout_text, "PAUSED"));
  EXPECT_TRUE(has(testhttp::get(port, "/metrics").body, "\ntandem_node_paused 0\n"));
  EXPECT_FALSE(testhttp::get(port, "/monitor/replication").json().contains("maintenance"));
  EXPECT_FALSE(has(ctl({"promote", "--dry-run"}).stdout_text, "paused"));
}

// [hooks] through the real binaries: a pre_promote that exits non-zero is
// shown by promote --dry-run and refuses the promote, with its first line.
TEST(Hooks, APrePromoteVetoIsShownByTheDryRunAndRefusesThePromote) {
  TempDir dir;
  int port = sdk::testing::free_port();
  sdk::atomic_write_file(dir.path() / "veto.sh", "#!/bin/sh\necho \"not now: $1 as $2\"\nexit 1\n", 0755);
  auto config = write_secondary_config(dir.path(), port, "[hooks]\npre_promote = \"./veto.sh\"\n\n");
  auto check = tandemctl({"check-config", config.string()});
  ASSERT_EQ(check.exit_code, 0) << check.stderr_text;
  auto daemon = testsupport::start_background(tandemd_spec(config, dir.path()));
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, 60s)) << daemon.log_tail();
  for (bool dry : {true, false}) {
    std::vector<std::string> args = {"--config", config.string(), "promote"};
    if (dry) args.push_back("--dry-run");
    auto r = tandemctl(args);
    EXPECT_EQ(r.exit_code, 1) << r.stdout_text;
    EXPECT_TRUE(has(r.stdout_text, "refused"));
    EXPECT_TRUE(has(r.stdout_text, "the pre_promote hook vetoed the promote: not now: pre_promote as secondary"));
    EXPECT_TRUE(has(r.stdout_text, "FAIL pre_promote"));
  }
  EXPECT_TRUE(has(daemon.log_tail(), "[hooks] pre_promote stdout: not now: pre_promote as secondary"))
      << daemon.log_tail();
}

TEST_F(RunningDaemon, StatusFailsOnceTheDaemonIsGone) {
  daemon_.stop();
  auto r = tandemctl(with_config({"status"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.stderr_text, "tandemd not answering at http://127.0.0.1:" + std::to_string(port_)));
}

// `config` passes check-config, then tandemd runs on it until its API on `port` answers.
void check_and_start(const std::string& config, const std::filesystem::path& dir, int port, sdk::ChildProcess& daemon) {
  auto check = tandemctl({"check-config", config});
  ASSERT_EQ(check.exit_code, 0) << check.stdout_text << check.stderr_text;
  sdk::ChildSpec spec;
  spec.argv = {TANDEMD_BINARY, "--config", config};
  spec.env = {{"TANDEM_PLUGIN_PATH", ""}};
  spec.log_file = dir / "tandemd.log";
  daemon = testsupport::start_background(spec);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, 60s)) << daemon.log_tail();
}

// tandemctl status sends the token from [api] token_file, so it counts as
// trusted: with every connection clients without the token may use taken by
// requests that never finish, it is still answered; without the token it is not.
TEST(StatusUnderAbuse, StatusSendsTheTokenAndIsAnsweredWhenTheUntrustedShareIsFull) {
  TempDir dir;
  int port = sdk::testing::free_port();
  write_file(dir.path() / "api-token", "cli-test-token\n");
  std::filesystem::permissions(dir.path() / "api-token",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // The peer is elsewhere: loopback clients are not trusted by address.
  write_file(dir.path() / "tandem.toml",
             "[node]\nname = \"alpha\"\naddress = \"127.0.0.1\"\nrole = \"primary\"\ndata_dir = \"data\"\n\n"
             "[peer]\nname = \"beta\"\naddress = \"10.0.0.2\"\napi_url = \"http://127.0.0.1:1\"\n\n"
             "[api]\nlisten = \"127.0.0.1:" +
                 std::to_string(port) +
                 "\"\ntoken_file = \"api-token\"\nmax_connections = 8\nreserved_connections = 4\n"
                 "max_connections_per_address = 8\nheader_timeout = \"60s\"\n");
  auto config = (dir.path() / "tandem.toml").string();
  sdk::ChildProcess daemon;
  ASSERT_NO_FATAL_FAILURE(check_and_start(config, dir.path(), port, daemon));

  std::vector<std::unique_ptr<testhttp::Connection>> busy;
  for (int i = 0; i < 4; ++i) {
    busy.push_back(std::make_unique<testhttp::Connection>(port));
    busy.back()->send("GET /v1/status HTTP/1.1\r\nHost: x\r\n");
  }
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  sdk::ProcessResult without;
  ASSERT_TRUE(eventually(
      [&] {
        without = tandemctl({"status", "--url", url});
        return without.exit_code == 1 && without.stderr_text.find("answered 503") != std::string::npos;
      },
      20s))
      << without.stderr_text << daemon.log_tail();
  for (int i = 0; i < 3; ++i) {
    auto with = tandemctl({"--config", config, "status"});
    EXPECT_EQ(with.exit_code, 0) << with.stderr_text << daemon.log_tail();
    auto by_file = tandemctl({"status", "--url", url, "--token-file", (dir.path() / "api-token").string()});
    EXPECT_EQ(by_file.exit_code, 0) << by_file.stderr_text;
  }
  // A named token file that cannot be read is an error, not a silent fallback.
  auto missing = tandemctl({"status", "--url", url, "--token-file", (dir.path() / "nope").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(has(missing.stderr_text, "cannot read the API token")) << missing.stderr_text;
  EXPECT_EQ(daemon.log_tail().find("cli-test-token"), std::string::npos) << "the token reached the log";
}

// tandemctl speaks HTTPS when the config's [api] has a certificate: it trusts
// [peer] ca_file (or --ca-file), presents [peer] tls_cert_file to an API that
// requires client certificates, and checks the certificate names [node]
// address even though it dials loopback.
TEST(TandemctlTls, StatusAndActionsOverHttpsFromTheConfig) {
  TempDir dir;
  testsupport::TestCerts certs({{"alpha", "10.0.0.1"}, {"beta", "10.0.0.2"}});
  int port = sdk::testing::free_port();
  write_file(dir.path() / "api-token", "cli-test-token\n");
  std::filesystem::permissions(dir.path() / "api-token",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto config_with = [&](const std::string& ca, const std::string& address) {
    write_file(dir.path() / "tandem.toml",
               "[node]\nname = \"alpha\"\naddress = \"" + address +
                   "\"\nrole = \"primary\"\ndata_dir = \"data\"\n\n"
                   "[peer]\nname = \"beta\"\naddress = \"10.0.0.2\"\napi_url = \"https://127.0.0.1:1\"\nca_file = \"" +
                   ca + "\"\ntls_cert_file = \"" + certs.cert("alpha").string() + "\"\ntls_key_file = \"" +
                   certs.key("alpha").string() + "\"\n\n[api]\nlisten = \"0.0.0.0:" + std::to_string(port) +
                   "\"\ntoken_file = \"api-token\"\ntls_cert_file = \"" + certs.cert("alpha").string() +
                   "\"\ntls_key_file = \"" + certs.key("alpha").string() + "\"\ntls_client_ca_file = \"" +
                   certs.ca().string() +
                   "\"\n\n[plugins]\nsearch_dirs = [\"" TANDEM_TEST_PLUGIN_DIR
                   "\"]\n\n[stores.greeter]\nplugin = \"loader-good\"\ngreeting = \"hello\"\n");
    return (dir.path() / "tandem.toml").string();
  };
  auto config = config_with(certs.ca().string(), "10.0.0.1");
  sdk::ChildProcess daemon;
  ASSERT_NO_FATAL_FAILURE(check_and_start(config, dir.path(), port, daemon));

  auto status = tandemctl({"--config", config, "status"});
  EXPECT_EQ(status.exit_code, 0) << status.stderr_text;
  EXPECT_TRUE(has(status.stdout_text, "alpha (10.0.0.1)"));
  auto action = tandemctl({"--config", config, "action", "greeter", "ping", "--arg", "n=3"});
  EXPECT_EQ(action.exit_code, 0) << action.stderr_text;

  // --ca-file: another CA is not trusted, and the error says why.
  auto untrusting = tandemctl({"--config", config, "--ca-file", (certs.dir() / "other-ca.pem").string(), "status"});
  EXPECT_EQ(untrusting.exit_code, 1);
  EXPECT_TRUE(has(untrusting.stderr_text, "TLS handshake failed: the server's certificate is refused"))
      << untrusting.stderr_text;
  // --url https with --ca-file; the verified name is then the URL's host, which the certificate names.
  auto by_url = tandemctl({"--config", config, "--ca-file", certs.ca().string(), "status", "--url",
                           "https://localhost:" + std::to_string(port)});
  EXPECT_EQ(by_url.exit_code, 0) << by_url.stderr_text;
  // A certificate that does not name this node's configured address is refused.
  auto misnamed = tandemctl({"--config", config_with(certs.ca().string(), "10.0.0.9"), "status"});
  EXPECT_EQ(misnamed.exit_code, 1);
  EXPECT_TRUE(has(misnamed.stderr_text, "verified name '10.0.0.9'")) << misnamed.stderr_text;
}

// A bearer token is never sent in clear to an address that is not this host's.
TEST(TandemctlTls, RefusesToSendTheTokenInClearToAnotherHost) {
  TempDir dir;
  auto config = write_config(dir.path(), sdk::testing::free_port(), "");
  // 192.0.2.1 (TEST-NET-1) is no address of this host; nothing is sent there.
  for (std::vector<std::string> cmd :
       {std::vector<std::string>{"promote", "--url", "http://192.0.2.1:7480"},
        {"action", "greeter", "ping", "--url", "http://192.0.2.1:7480"},
        {"status", "--url", "http://192.0.2.1:7480", "--token-file", (dir.path() / "api-token").string()}}) {
    cmd.insert(cmd.begin(), {"--config", config.string()});
    auto r = tandemctl(cmd);
    EXPECT_EQ(r.exit_code, 1) << cmd[2];
    EXPECT_TRUE(has(r.stderr_text,
                    "refusing to send the API token in clear to http://192.0.2.1:7480, which is not "
                    "this host: use https"))
        << cmd[2];
  }
}

}  // namespace
}  // namespace tandem::clitest
