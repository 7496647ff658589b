// Data-driven malformed configs: testcases/<case>/config.toml must be refused
// with a message containing testcases/<case>/expected.txt (which itself names
// config.toml:LINE:COL). Store tables are checked against example_schema().
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "config/host_config.h"
#include "test_schema.h"

namespace tandem::core {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (auto& entry : fs::directory_iterator(TANDEM_CONFIG_TESTCASES))
    // Cases with a tandemd.toml instead are run through the binaries
    // (core/tests/daemon/hostile_config_test.cpp).
    if (entry.is_directory() && fs::exists(entry.path() / "config.toml"))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_trimmed(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Every message the host would print for this file: host-config errors, or
// else the store-table errors of each store.
std::vector<std::string> messages_for(const fs::path& file) {
  auto loaded = load_host_config(file);
  if (auto* errors = std::get_if<ConfigErrors>(&loaded)) return errors->messages;
  std::vector<std::string> out;
  for (const auto& store : std::get<HostConfig>(loaded).stores) {
    auto validated = validate_store_table(store, testing::example_schema());
    if (auto* errors = std::get_if<ConfigErrors>(&validated))
      out.insert(out.end(), errors->messages.begin(), errors->messages.end());
  }
  return out;
}

class MalformedConfig : public ::testing::TestWithParam<std::string> {};

TEST_P(MalformedConfig, IsRefusedWithItsFileLineColumnMessage) {
  fs::path dir = fs::path(TANDEM_CONFIG_TESTCASES) / GetParam();
  std::string expected = read_trimmed(dir / "expected.txt");
  ASSERT_TRUE(std::regex_search(expected, std::regex(R"(config\.toml:\d+:\d+: )")))
      << "expected.txt must name config.toml:LINE:COL, has: " << expected;
  auto messages = messages_for(dir / "config.toml");
  ASSERT_FALSE(messages.empty()) << "the config was accepted";
  std::string all;
  for (auto& m : messages) all += "  " + m + "\n";
  bool found = std::any_of(messages.begin(), messages.end(),
                           [&](const std::string& m) { return m.find(expected) != std::string::npos; });
  EXPECT_TRUE(found) << "expected a message containing:\n  " << expected << "\ngot:\n" << all;
}

INSTANTIATE_TEST_SUITE_P(Cases, MalformedConfig, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(MalformedConfigCases, AtLeastFifteenCasesExist) { EXPECT_GE(case_names().size(), 15u); }

}  // namespace
}  // namespace tandem::core
