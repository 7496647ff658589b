// tandemctl subcommands that need no daemon: check-config, diag, plugins, help.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_test_support.h"
#include "tandem/sdk/abi.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::clitest {
namespace {

using sdk::testing::TempDir;

const std::string kGreeter = "[stores.greeter]\nplugin = \"loader-good\"\ngreeting = \"hello\"\n";

::testing::AssertionResult has(const std::string& text, const std::string& fragment) {
  if (text.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << fragment << "'";
}

TEST(CheckConfig, GoodFileExitsZeroAndCountsStores) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480, kGreeter);
  auto r = tandemctl({"check-config", file.string()});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, file.string() + ": OK, 1 store\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "data")) << "check-config must touch nothing";
}

TEST(CheckConfig, HostErrorsExitOneWithFileLineColumn) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480, "[stores.x]\nplugin = \"loader-good\"\ngreeting = \"hi\"\nenabled = 1\n");
  auto r = tandemctl({"check-config", file.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(
      has(r.stderr_text, file.string() + ":22:11: [stores.x] key 'enabled' must be true or false, got integer"));
  EXPECT_TRUE(has(r.stderr_text, file.string() + ": 1 problem"));
  EXPECT_EQ(r.stdout_text, "");
}

TEST(CheckConfig, EveryStoreIsCheckedThroughItsPluginAndAllErrorsPrinted) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480,
                           "[stores.a]\nplugin = \"loader-good\"\ngreting = \"hi\"\n\n"       // lines 19-21
                           "[stores.b]\nplugin = \"loader-good\"\ngreeting = \"refuse\"\n\n"  // lines 23-25
                           "[stores.c]\nplugin = \"no-such-plugin\"\n\n"                      // lines 27-28
                           "[stores.d]\nplugin = \"loader-throwing-configure\"\n");           // lines 30-31
  auto r = tandemctl({"check-config", file.string()});
  EXPECT_EQ(r.exit_code, 1);
  const std::string& e = r.stderr_text;
  EXPECT_TRUE(has(e, file.string() + ":21:1: store 'a': unknown key 'greting'; did you mean 'greeting'?"));
  EXPECT_TRUE(has(e, file.string() + ":25:12: store 'b', key 'greeting': must not be 'refuse'"));
  EXPECT_TRUE(has(e, file.string() + ":27:1: store 'c': plugin 'no-such-plugin' not found: looked for "
                                     "tandem-no-such-plugin.so in " TANDEM_TEST_PLUGIN_DIR));
  EXPECT_TRUE(has(e, file.string() + ":30:1: store 'd' (plugin loader-throwing-configure): configure failed: "
                                     "configure exploded on purpose"));
  EXPECT_TRUE(has(e, ": 5 problems")) << "a's unknown key and its missing greeting count separately";
}

// The same peer api_url rows as tandemd --check (TandemdBinary.CheckRefusesExactly...).
TEST(CheckConfig, PeerUrlSchemesAreCheckedLikeTheDaemon) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"http://127.0.0.1:1", ""},
      {"http://[::1]:7481/tandem", ""},
      {"https://127.0.0.1:1", ""},
      {"ftp://127.0.0.1:1", "only http:// and https:// URLs are supported"},
      {"ws://127.0.0.1:1", "only http:// and https:// URLs are supported"},
      {"127.0.0.1:1", "no scheme"},
      {"http://127.0.0.1:0", "out of range"},
      {"http://admin:pw-s3cret@127.0.0.1:1", "carries credentials"}};
  for (const auto& [url, refusal] : cases) {
    TempDir dir;
    auto file = write_config(dir.path(), 7480, kGreeter);
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string old = "api_url = \"http://127.0.0.1:1\"";
    text.replace(text.find(old), old.size(), "api_url = \"" + url + "\"");
    write_file(file, text);
    auto r = tandemctl({"check-config", file.string()});
    EXPECT_EQ((r.stdout_text + r.stderr_text).find("s3cret"), std::string::npos) << r.stderr_text;
    if (refusal.empty()) {
      EXPECT_EQ(r.exit_code, 0) << url << ": " << r.stderr_text;
      continue;
    }
    EXPECT_EQ(r.exit_code, 1) << url << " was accepted";
    EXPECT_TRUE(has(r.stderr_text, file.string() + ":10:11: [peer] api_url")) << url;
    EXPECT_TRUE(has(r.stderr_text, refusal)) << url;
  }
}

TEST(CheckConfig, MissingFileExitsOne) {
  auto r = tandemctl({"check-config", "/nonexistent/tandem.toml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.stderr_text, "/nonexistent/tandem.toml: cannot read the config file (no such file)"));
}

TEST(CheckConfig, UsesTheConfigOptionWhenNoFileIsGiven) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480, kGreeter);
  auto r = tandemctl({"--config", file.string(), "check-config", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  auto j = nlohmann::json::parse(r.stdout_text);
  EXPECT_EQ(j.at("ok"), true);
  EXPECT_EQ(j.at("stores"), 1);
}

TEST(Diag, ListsTheChecksWhenNoneIsNamed) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480, kGreeter);
  auto r = tandemctl({"--config", file.string(), "diag", "greeter"});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_TRUE(has(r.stdout_text, "  echo - prints the greeting\n"));
  EXPECT_TRUE(has(r.stdout_text, "  count - prints the number of arguments\n"));
}

TEST(Diag, RunsACheckWithTheDaemonDown) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480, kGreeter);
  auto r = tandemctl({"--config", file.string(), "diag", "greeter", "echo"});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "== echo: PASSED\ngreeter: hello\n");
  auto args = tandemctl({"--config", file.string(), "diag", "greeter", "count", "--", "a", "b", "c"});
  EXPECT_EQ(args.exit_code, 0) << args.stderr_text;
  EXPECT_EQ(args.stdout_text, "== count: PASSED\n3 args\n");
}

TEST(Diag, AFailedCheckExitsOne) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480, kGreeter + "fail_check = true\n");
  auto r = tandemctl({"--config", file.string(), "diag", "greeter", "--all", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  auto j = nlohmann::json::parse(r.stdout_text);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0].at("check"), "echo");
  EXPECT_EQ(j[0].at("passed"), false);
  EXPECT_EQ(j[1].at("check"), "count");
  EXPECT_EQ(j[1].at("passed"), true);
}

TEST(Diag, UnknownStoreOrCheckExitsOneSayingWhatExists) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480, kGreeter);
  auto store = tandemctl({"--config", file.string(), "diag", "nope"});
  EXPECT_EQ(store.exit_code, 1);
  EXPECT_TRUE(has(store.stderr_text, "no store 'nope' in " + file.string() + "; stores: greeter"));
  auto check = tandemctl({"--config", file.string(), "diag", "greeter", "nope"});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_TRUE(has(check.stderr_text, "store 'greeter' has no check 'nope'; its checks: echo, count"));
}

TEST(Plugins, ListsEveryPluginInTheSearchDirs) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480, "");
  auto r = tandemctl({"--config", file.string(), "plugins", "--json"});
  // The search dir deliberately holds broken plugins: the listing reports
  // them and exits 1.
  EXPECT_EQ(r.exit_code, 1);
  auto j = nlohmann::json::parse(r.stdout_text);
  bool good = false, abi = false;
  for (const auto& p : j.at("plugins")) {
    if (p.value("name", "") == "loader-good") {
      good = true;
      EXPECT_EQ(p.at("version"), "1.2.3");
      EXPECT_EQ(p.at("abi"), sdk::kAbiVersion);
      EXPECT_EQ(p.at("path"), TANDEM_TEST_PLUGIN_DIR "/tandem-loader-good.so");
    }
    if (p.value("path", "").find("abi999") != std::string::npos) {
      abi = true;
      EXPECT_TRUE(has(p.at("error").get<std::string>(), "ABI mismatch"));
    }
  }
  EXPECT_TRUE(good);
  EXPECT_TRUE(abi);
  auto human = tandemctl({"--config", file.string(), "plugins"});
  EXPECT_TRUE(has(human.stdout_text, "loader-good               1.2.3     " + std::to_string(sdk::kAbiVersion) +
                                         "    " TANDEM_TEST_PLUGIN_DIR));
  EXPECT_TRUE(has(human.stderr_text, "unusable: plugin " TANDEM_TEST_PLUGIN_DIR "/tandem-loader-not-elf.so"));
}

TEST(Plugins, DescribePrintsTheSchema) {
  TempDir dir;
  auto file = write_config(dir.path(), 7480, "");
  auto r = tandemctl({"--config", file.string(), "plugins", "describe", "loader-good"});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_TRUE(
      has(r.stdout_text, "loader-good 1.2.3 (ABI " + std::to_string(sdk::kAbiVersion) + ") - loader test plugin"));
  EXPECT_TRUE(has(
      r.stdout_text,
      "sync_interval           duration          30s           no        How often the host runs the store's sync()"));
  EXPECT_TRUE(has(r.stdout_text, "greeting                string            -             yes"));
  auto j = tandemctl({"--config", file.string(), "--json", "plugins", "describe", "loader-good"});
  ASSERT_EQ(j.exit_code, 0) << j.stderr_text;
  auto schema = nlohmann::json::parse(j.stdout_text).at("schema");
  ASSERT_EQ(schema.size(), 4u);
  EXPECT_EQ(schema[0].at("name"), "greeting");
  EXPECT_EQ(schema[0].at("required"), true);
  auto missing = tandemctl({"--config", file.string(), "plugins", "describe", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(has(missing.stderr_text, "plugin 'nope' not found"));
}

TEST(Help, EverySubcommandHasHelpAndBadUsageFails) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"status", "--help"},
                                        {"plugins", "--help"},
                                        {"plugins", "describe", "--help"},
                                        {"check-config", "--help"},
                                        {"diag", "--help"},
                                        {"rebuild", "--help"},
                                        {"action", "--help"}}) {
    auto r = tandemctl(args);
    EXPECT_EQ(r.exit_code, 0) << args[0];
    EXPECT_TRUE(has(r.stdout_text, "Usage:")) << args[0];
  }
  EXPECT_NE(tandemctl({}).exit_code, 0);
  EXPECT_NE(tandemctl({"frobnicate"}).exit_code, 0);
  EXPECT_NE(tandemctl({"diag"}).exit_code, 0) << "STORE is required";
}

TEST(Status, UnreachableDaemonExitsOneWithAClearMessage) {
  TempDir dir;
  int port = sdk::testing::free_port();
  auto file = write_config(dir.path(), port, "");
  auto r = tandemctl({"--config", file.string(), "status"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(
      has(r.stderr_text, "tandemd not answering at http://127.0.0.1:" + std::to_string(port) + ": is it running?"));
}

}  // namespace
}  // namespace tandem::clitest
