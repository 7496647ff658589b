// The node's persisted role and epoch survive a restart (a new NodeState on
// the same directory) and a corrupt file is refused, never guessed around.
#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "state/node_state.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::core {
namespace {

namespace fs = std::filesystem;

TEST(NodeState, FirstStartUsesTheConfiguredRoleAndEpochOne) {
  sdk::testing::TempDir dir;
  NodeState state(dir.path(), sdk::Role::primary);
  auto v = state.get();
  EXPECT_EQ(v.role, sdk::Role::primary);
  EXPECT_EQ(v.epoch, 1u);
  EXPECT_FALSE(v.fenced);
  EXPECT_EQ(state.file(), dir.path() / "node-state.json");
  ASSERT_TRUE(fs::exists(state.file())) << "the initial state is written at once";
  auto j = nlohmann::json::parse(sdk::read_file(state.file()));
  EXPECT_EQ(j.at("role"), "primary");
  EXPECT_EQ(j.at("epoch"), 1);
}

TEST(NodeState, PersistedStateWinsOverTheConfiguredRoleAfterRestart) {
  sdk::testing::TempDir dir;
  {
    NodeState state(dir.path(), sdk::Role::secondary);
    NodeStateValues v = state.get();
    v.role = sdk::Role::primary;  // promoted
    v.epoch = 7;
    state.set(v);
  }
  // "Restart": the config still says secondary; the file says primary at epoch 7.
  NodeState restarted(dir.path(), sdk::Role::secondary);
  EXPECT_EQ(restarted.get().role, sdk::Role::primary);
  EXPECT_EQ(restarted.get().epoch, 7u);
}

TEST(NodeState, FencingSurvivesRestart) {
  sdk::testing::TempDir dir;
  {
    NodeState state(dir.path(), sdk::Role::primary);
    state.set({sdk::Role::primary, 3, true, "peer beta is at epoch 4"});
  }
  NodeState restarted(dir.path(), sdk::Role::primary);
  auto v = restarted.get();
  EXPECT_TRUE(v.fenced);
  EXPECT_EQ(v.fenced_reason, "peer beta is at epoch 4");
  EXPECT_EQ(v.epoch, 3u);
}

TEST(NodeState, WritesLeaveNoTemporaryFilesBehind) {
  sdk::testing::TempDir dir;
  NodeState state(dir.path(), sdk::Role::secondary);
  for (std::uint64_t e = 2; e < 12; ++e) state.set({sdk::Role::secondary, e, false, ""});
  std::vector<std::string> names;
  for (auto& entry : fs::directory_iterator(dir.path())) names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"node-state.json"});
  EXPECT_EQ(NodeState(dir.path(), sdk::Role::primary).get().epoch, 11u);
}

class CorruptNodeState : public ::testing::TestWithParam<std::string> {};

std::string corrupt_case_name(const ::testing::TestParamInfo<std::string>& info) {
  static const std::vector<std::string> names = {"torn_write", "empty", "bad_role", "negative_epoch", "missing_role"};
  return names.at(info.index);
}

TEST_P(CorruptNodeState, IsRefusedWithAnExplanation) {
  sdk::testing::TempDir dir;
  std::ofstream(dir.path() / "node-state.json") << GetParam();
  try {
    NodeState state(dir.path(), sdk::Role::primary);
    FAIL() << "a corrupt state file was accepted";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("node-state.json is unreadable"), std::string::npos) << what;
    EXPECT_NE(what.find("Refusing to guess"), std::string::npos) << what;
  }
  // Nothing was overwritten: the operator still has the evidence.
  EXPECT_EQ(sdk::read_file(dir.path() / "node-state.json"), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Files, CorruptNodeState,
                         ::testing::Values(std::string("{\"role\": \"primary\", \"epo"),  // torn write
                                           std::string(""),                               // empty
                                           std::string("{\"role\": \"leader\", \"epoch\": 2}"),
                                           std::string("{\"role\": \"primary\", \"epoch\": -1}"),
                                           std::string("{\"epoch\": 2}")),
                         corrupt_case_name);

TEST(NodeState, UnwritableDirectoryIsAnError) {
  if (geteuid() == 0) {
    // root ignores directory permissions; use a path under a regular file instead.
    sdk::testing::TempDir dir;
    std::ofstream(dir.path() / "file") << "x";
    EXPECT_THROW(NodeState(dir.path() / "file", sdk::Role::primary), std::runtime_error);
    return;
  }
  sdk::testing::TempDir dir;
  fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_THROW(NodeState(dir.path(), sdk::Role::primary), std::runtime_error);
  fs::permissions(dir.path(), fs::perms::owner_all);
}

}  // namespace
}  // namespace tandem::core
