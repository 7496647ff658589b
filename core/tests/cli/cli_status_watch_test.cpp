// tandemctl status --watch against the real tandemd: frames until a signal,
// exit 0; an outage of the daemon shown in the frames and survived; one JSON
// object per line with --json; redraw in place only on a terminal.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <sstream>

#include "cli_test_support.h"
#include "tandem/sdk/file_util.h"

namespace tandem::clitest {
namespace {

using namespace std::chrono_literals;
using sdk::testing::eventually;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

class StatusWatch : public RunningDaemon {
 protected:
  // tandemctl with `args` in the background, stdout and stderr into watch.log.
  void start_watch(std::vector<std::string> args) {
    sdk::ChildSpec spec;
    spec.argv = {TANDEMCTL_BINARY};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = {{"TANDEM_CONFIG", ""}, {"TANDEM_PLUGIN_PATH", ""}};
    spec.log_file = log_;
    watch_ = testsupport::start_background(spec);
  }
  std::string output() const { return std::filesystem::exists(log_) ? sdk::read_file(log_) : std::string(); }
  // Waits until `what` shows up at least `times` times in the output.
  bool shows(const std::string& what, std::size_t times = 1) {
    return eventually([&] { return count(output(), what) >= times; }, 60s);
  }
  // Stops the watch with `signal`; its exit code (-1: killed or not exited).
  int interrupt(int signal) {
    watch_.stop(10s, signal);
    auto status = watch_.exit_status();
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

  std::filesystem::path log_ = dir_.path() / "watch.log";
  sdk::ChildProcess watch_;
};

TEST_F(StatusWatch, RedrawsEveryIntervalUntilInterruptedAndExitsZero) {
  start_watch(with_config({"status", "--watch", "--interval", "0.2"}));
  ASSERT_TRUE(shows("role primary", 3)) << output();
  const std::string out = output();
  EXPECT_GE(count(out, "Every 0.2s: tandemctl status"), 3u) << out;
  EXPECT_GE(count(out, "greeter  loader-good"), 3u) << out;
  // Not a terminal: frames follow each other, no escape sequences.
  EXPECT_EQ(out.find('\033'), std::string::npos) << out;
  EXPECT_EQ(interrupt(SIGINT), 0) << output();
}

TEST_F(StatusWatch, ShowsTheDaemonGoneAndPicksItUpAgainWhenItIsBack) {
  start_watch(with_config({"status", "-w", "--interval", "0.2"}));
  ASSERT_TRUE(shows("role primary")) << output();
  daemon_.stop();
  const std::string gone = "tandemd not answering at http://127.0.0.1:" + std::to_string(port_);
  ASSERT_TRUE(shows(gone, 2)) << output();
  EXPECT_TRUE(watch_.running()) << "the watch ended with the daemon: " << output();
  start_daemon();
  ASSERT_TRUE(eventually(
      [&] {
        const std::string out = output();
        return out.find("role primary", out.rfind(gone)) != std::string::npos;
      },
      60s))
      << output();
  EXPECT_EQ(interrupt(SIGTERM), 0) << output();
}

TEST_F(StatusWatch, JsonIsOneObjectPerLineAndAnOutageIsAnErrorObject) {
  start_watch(with_config({"--json", "status", "--watch", "--interval", "0.2"}));
  ASSERT_TRUE(shows("\"role\":\"primary\"", 2)) << output();
  daemon_.stop();
  ASSERT_TRUE(shows("{\"error\":")) << output();
  EXPECT_EQ(interrupt(SIGINT), 0) << output();
  std::istringstream lines(output());
  std::string line;
  std::size_t statuses = 0, errors = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not one JSON object: '" << line << "'";
    if (j.contains("error")) {
      EXPECT_NE(j["error"].get<std::string>().find("tandemd not answering"), std::string::npos) << line;
      ++errors;
    } else {
      EXPECT_EQ(j.at("role"), "primary") << line;
      ++statuses;
    }
  }
  EXPECT_GE(statuses, 2u);
  EXPECT_GE(errors, 1u);
}

// On a terminal (script(1) gives it one) each frame clears the screen first.
TEST_F(StatusWatch, OnATerminalEachFrameReplacesThePreviousOne) {
  std::string command =
      std::string(TANDEMCTL_BINARY) + " --config " + config_.string() + " status --watch --interval 0.2";
  sdk::ChildSpec spec;
  spec.argv = {"script", "--quiet", "--flush", "--return", "--command", command, "/dev/null"};
  spec.env = {{"TANDEM_CONFIG", ""}, {"TANDEM_PLUGIN_PATH", ""}};
  spec.log_file = log_;
  watch_ = testsupport::start_background(spec);
  ASSERT_TRUE(shows("\033[H\033[2JEvery 0.2s: tandemctl status", 2)) << output();
  EXPECT_GE(count(output(), "role primary"), 2u) << output();
}

TEST(StatusWatchOptions, AnIntervalThatIsNotAPositiveFiniteNumberOfSecondsIsRefused) {
  for (const char* bad : {"0", "-1", "0.01", "nan", "inf", "2s", "", "100000"}) {
    auto r = tandemctl({"status", "--watch", "--interval", bad, "--url", "http://127.0.0.1:1"});
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.stderr_text.find("--interval"), std::string::npos) << bad << ": " << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("seconds"), std::string::npos) << bad << ": " << r.stderr_text;
  }
}

}  // namespace
}  // namespace tandem::clitest
