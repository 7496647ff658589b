// Data-driven hostile configs run through the real binaries: every
// core/tests/config/testcases/<case>/tandemd.toml is given to `tandemd --check`
// and then to a starting `tandemd` (on free ports, in a temp dir), and the two
// must agree: both refuse with the line of expected.txt, or expected.txt says
// "accepted", --check passes and the daemon runs and answers its API.
//
// Placeholders in tandemd.toml and expected.txt: @DIR@ (the case's temp dir),
// @PORT@ / @PEER_PORT@ (free ports), @PLUGIN@ (the daemon-test plugin). The
// runner writes @DIR@/api-token, peer-token and secret.pw with mode 0600 and
// open-token and open.pw with mode 0644.
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "support/background_process.h"
#include "support/test_http.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testplugins {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kCases = TANDEM_CONFIG_TESTCASES;

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (auto& entry : fs::directory_iterator(kCases))
    if (fs::exists(entry.path() / "tandemd.toml")) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string replaced(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [from, to] : values)
    for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
      text.replace(pos, from.size(), to);
  return text;
}

// The line of `output` holding `expected`, or "" when none does.
std::string line_with(const std::string& output, const std::string& expected) {
  std::stringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (line.find(expected) != std::string::npos) return line;
  return "";
}

sdk::ProcessResult run_tandemd(const std::vector<std::string>& args) {
  sdk::ProcessSpec spec;
  spec.argv = {TANDEMD_BINARY};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  // A refused config exits at once; a daemon that wrongly starts is stopped here.
  spec.timeout = 30s;
  auto r = sdk::run_process(spec);
  if (!r) throw std::runtime_error(r.message());
  return r.value();
}

bool answers(int port) {
  try {
    return testhttp::get(port, "/v1/status").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

class HostileConfig : public ::testing::TestWithParam<std::string> {};

TEST_P(HostileConfig, CheckAndDaemonAgree) {
  sdk::testing::TempDir dir{"tandem-hostile"};
  const int port = sdk::testing::free_port();
  const std::map<std::string, std::string> values = {{"@DIR@", dir.path().string()},
                                                     {"@PORT@", std::to_string(port)},
                                                     {"@PEER_PORT@", std::to_string(sdk::testing::free_port())},
                                                     {"@PLUGIN@", DAEMON_TEST_PLUGIN}};
  for (const char* owner_only : {"api-token", "peer-token", "secret.pw"})
    sdk::atomic_write_file(dir.path() / owner_only, std::string("s3cret-") + owner_only + "\n", 0600);
  for (const char* shared : {"open-token", "open.pw"})
    sdk::atomic_write_file(dir.path() / shared, std::string("s3cret-") + shared + "\n", 0644);
  const fs::path config = dir.path() / "tandemd.toml";
  sdk::atomic_write_file(config, replaced(read_text(kCases / GetParam() / "tandemd.toml"), values), 0600);
  std::string expected = replaced(read_text(kCases / GetParam() / "expected.txt"), values);
  while (!expected.empty() && expected.back() == '\n') expected.pop_back();
  ASSERT_FALSE(expected.empty());

  auto check = run_tandemd({"--config", config.string(), "--check"});
  if (expected == "accepted") {
    EXPECT_EQ(check.exit_code, 0) << check.stderr_text;
    sdk::ChildSpec spec;
    spec.argv = {TANDEMD_BINARY, "--config", config.string()};
    spec.log_file = dir.path() / "tandemd.log";
    auto daemon = testsupport::start_background(spec);
    EXPECT_TRUE(sdk::testing::eventually([&] { return answers(port); }, 30s))
        << "--check accepted the config but the daemon does not answer:\n"
        << read_text(dir.path() / "tandemd.log");
    daemon.stop(30s, SIGTERM);
    auto status = daemon.exit_status();
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << read_text(dir.path() / "tandemd.log");
    return;
  }
  EXPECT_EQ(check.exit_code, 1) << "--check accepted it; expected: " << expected;
  const std::string check_line = line_with(check.stderr_text, expected);
  EXPECT_FALSE(check_line.empty()) << "expected a line holding:\n  " << expected << "\n--check said:\n"
                                   << check.stderr_text;
  auto start = run_tandemd({"--config", config.string()});
  EXPECT_EQ(start.exit_code, 1) << "the daemon did not refuse it; expected: " << expected;
  const std::string start_line = line_with(start.stderr_text, expected);
  EXPECT_FALSE(start_line.empty()) << "expected a line holding:\n  " << expected << "\nthe daemon said:\n"
                                   << start.stderr_text;
  // The same words: the check and the daemon run the same code.
  EXPECT_NE(start_line.find(check_line.substr(check_line.find(expected))), std::string::npos)
      << "--check: " << check_line << "\ndaemon:  " << start_line;
  // No secret is ever echoed back.
  for (const auto& output : {check.stderr_text + check.stdout_text, start.stderr_text + start.stdout_text})
    EXPECT_EQ(output.find("s3cret"), std::string::npos) << output;
  EXPECT_EQ(check.stderr_text.find("hunter2"), std::string::npos) << check.stderr_text;
  EXPECT_EQ(start.stderr_text.find("hunter2"), std::string::npos) << start.stderr_text;
}

INSTANTIATE_TEST_SUITE_P(Cases, HostileConfig, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(HostileConfigCases, EveryKindOfHostileInputHasACase) { EXPECT_GE(case_names().size(), 15u); }

}  // namespace
}  // namespace tandem::testplugins
