// A test instance ([node] role = "test", what `tandemctl clone-test` makes)
// through the real binaries: it says "test" everywhere a role is shown, it
// watches no peer, and every failover command is refused with the reason.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_test_support.h"
#include "support/background_process.h"
#include "support/test_http.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::clitest {
namespace {

using namespace std::chrono_literals;
using sdk::testing::TempDir;

::testing::AssertionResult has(const std::string& text, const std::string& fragment) {
  if (text.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << fragment << "'";
}

// write_config's pair node turned into a test node: role "test", no [peer].
std::filesystem::path write_test_node_config(const std::filesystem::path& dir, int port, const std::string& tail) {
  auto config = write_config(dir, port, tail);
  std::string text = sdk::read_file(config);
  text.replace(text.find("role = \"primary\""), 16, "role = \"test\"");
  auto peer = text.find("[peer]");
  text.erase(peer, text.find("[api]") - peer);
  write_file(config, text);
  return config;
}

TEST(TestInstance, SaysTestEverywhereAndRefusesEveryFailoverCommandWithTheReason) {
  TempDir dir;
  int port = sdk::testing::free_port();
  auto config =
      write_test_node_config(dir.path(), port, "[stores.greeter]\nplugin = \"loader-good\"\ngreeting = \"hi\"\n");
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config.string()});
    return tandemctl(args);
  };
  sdk::ChildSpec spec;
  spec.argv = {TANDEMD_BINARY, "--config", config.string()};
  spec.env = {{"TANDEM_PLUGIN_PATH", ""}};
  spec.log_file = dir.path() / "tandemd.log";
  auto daemon = testsupport::start_background(spec);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, 60s)) << daemon.log_tail();

  auto page = testhttp::get(port, "/monitor/replication").json();
  EXPECT_EQ(page.value("replication_mode", ""), "test") << page.dump();
  auto status_json = testhttp::get(port, "/v1/status").json();
  EXPECT_EQ(status_json.value("role", ""), "test") << status_json.dump();
  // Nobody's primary: a load balancer that lists it by mistake sends it nothing.
  EXPECT_EQ(testhttp::get(port, "/primary").status, 503);

  auto status = ctl({"status"});
  EXPECT_EQ(status.exit_code, 0) << status.stderr_text;
  EXPECT_TRUE(has(status.stdout_text, "role test"));
  EXPECT_TRUE(has(status.stdout_text, "peer   none: a test instance"));

  for (const char* command : {"promote", "switchover", "rejoin"}) {
    for (bool forced : {false, true}) {
      if (forced && std::string(command) == "rejoin") continue;  // rejoin has no --force
      std::vector<std::string> args = {command};
      if (forced) args.push_back("--force");
      auto r = ctl(args);
      EXPECT_EQ(r.exit_code, 1) << command << (forced ? " --force" : "") << ": " << r.stdout_text << r.stderr_text;
      EXPECT_TRUE(has(r.stdout_text, "refused")) << command;
      EXPECT_TRUE(has(r.stdout_text, "this is a test instance ([node] role = \"test\"")) << command;
    }
  }
  // Still test, epoch unchanged, after all those attempts.
  auto after = testhttp::get(port, "/v1/status").json();
  EXPECT_EQ(after.value("role", ""), "test");
  EXPECT_EQ(after["epoch"], status_json["epoch"]);
  EXPECT_TRUE(has(daemon.log_tail(), "test instance: no peer, failover commands refused"));
}

}  // namespace
}  // namespace tandem::clitest
