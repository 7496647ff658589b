// Running tandemctl and writing node configs for the CLI tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/background_process.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::clitest {

// tandemctl with these arguments; TANDEM_CONFIG and TANDEM_PLUGIN_PATH cleared.
sdk::ProcessResult tandemctl(const std::vector<std::string>& args);

void write_file(const std::filesystem::path& p, const std::string& text);

// A node config under `dir` whose plugins come from the loader test plugins,
// with an API on `port` and an api-token file; `stores` is appended.
std::filesystem::path write_config(const std::filesystem::path& dir, int port, const std::string& stores);

// A tandemd on a free port running the loader's good test plugin as store
// "greeter" (reporting progress), started before each test.
class RunningDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = sdk::testing::free_port();
    config_ =
        write_config(dir_.path(), port_,
                     "[stores.greeter]\nplugin = \"loader-good\"\ngreeting = \"hello\"\nreport_progress = true\n");
    start_daemon();
  }

  // (Re)starts the daemon on the same config and port; returns once its API answers.
  void start_daemon() {
    sdk::ChildSpec spec;
    spec.argv = {TANDEMD_BINARY, "--config", config_.string()};
    spec.env = {{"TANDEM_PLUGIN_PATH", ""}};
    spec.log_file = dir_.path() / "tandemd.log";
    daemon_ = testsupport::start_background(spec);
    ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port_, std::chrono::seconds(60))) << daemon_.log_tail();
  }

  std::vector<std::string> with_config(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config_.string()});
    return args;
  }

  sdk::testing::TempDir dir_;
  int port_ = 0;
  std::filesystem::path config_;
  sdk::ChildProcess daemon_;
};

}  // namespace tandem::clitest
