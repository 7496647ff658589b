// Maintenance mode survives a restart (a new MaintenanceState on the same
// directory); a corrupt file is refused, never read as "not paused".
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "state/maintenance_state.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::core {
namespace {

TEST(MaintenanceState, NoFileIsNotPaused) {
  sdk::testing::TempDir dir;
  MaintenanceState m(dir.path());
  EXPECT_FALSE(m.get().paused);
  EXPECT_FALSE(std::filesystem::exists(m.file())) << "reading writes nothing";
}

TEST(MaintenanceState, PauseIsPersistedAndSurvivesARestartUntilResumed) {
  sdk::testing::TempDir dir;
  std::string since;
  {
    MaintenanceState m(dir.path());
    auto v = m.pause("kernel upgrade");
    EXPECT_TRUE(v.paused);
    EXPECT_EQ(v.reason, "kernel upgrade");
    ASSERT_FALSE(v.since.empty());
    since = v.since;
    auto j = nlohmann::json::parse(sdk::read_file(dir.path() / "maintenance.json"));
    EXPECT_EQ(j.at("paused"), true);
    EXPECT_EQ(j.at("reason"), "kernel upgrade");
  }
  MaintenanceState again(dir.path());
  EXPECT_TRUE(again.get().paused);
  EXPECT_EQ(again.get().since, since);
  // Pausing again keeps the first time and takes the new reason.
  EXPECT_EQ(again.pause("still upgrading").since, since);
  EXPECT_EQ(again.get().reason, "still upgrading");
  EXPECT_FALSE(again.resume().paused);
  MaintenanceState after(dir.path());
  EXPECT_FALSE(after.get().paused);
  EXPECT_TRUE(after.get().reason.empty());
}

TEST(MaintenanceState, ACorruptFileIsRefusedWithWhatToDo) {
  sdk::testing::TempDir dir;
  for (std::string text : {"{not json", R"({"paused":"yes"})", "[]"}) {
    SCOPED_TRACE(text);
    sdk::atomic_write_file(dir.path() / "maintenance.json", text);
    try {
      MaintenanceState m(dir.path());
      FAIL() << "a corrupt maintenance file was accepted";
    } catch (const std::runtime_error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("maintenance.json is unreadable"), std::string::npos) << what;
      EXPECT_NE(what.find("remove it"), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace tandem::core
