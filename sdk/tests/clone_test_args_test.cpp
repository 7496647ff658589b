// The clone-test action's argument parsing and directory rules (clone_test.h).
#include <gtest/gtest.h>

#include <fstream>

#include "tandem/sdk/clone_test.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::sdk {
namespace {

using nlohmann::json;

TEST(CloneTestArgs, ParsesWhatTandemctlSendsAndNamesTheBadArgument) {
  auto ok = CloneTestArgs::parse(json{{"dir", "/srv/t/pg"}, {"port", 5999}, {"refresh", true}, {"mask_sql", "/m.sql"}});
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->dir, "/srv/t/pg");
  EXPECT_EQ(ok->port, 5999);
  EXPECT_TRUE(ok->refresh);
  EXPECT_TRUE(ok->masks());
  EXPECT_EQ(CloneTestArgs::parse(ok->to_json())->to_json(), ok->to_json());
  struct Bad {
    json args;
    const char* says;
  };
  for (const Bad& b :
       {Bad{json::array(), "JSON object"}, Bad{json::object(), "'dir'"}, Bad{json{{"dir", "rel/dir"}}, "absolute"},
        Bad{json{{"dir", "/d"}, {"port", 70000}}, "'port'"}, Bad{json{{"dir", "/d"}, {"port", "5432"}}, "'port'"},
        Bad{json{{"dir", "/d"}, {"refresh", "yes"}}, "'refresh'"},
        Bad{json{{"dir", "/d"}, {"mask_sql", "m.sql"}}, "'mask_sql'"},
        Bad{json{{"dir", "/d"}, {"mask_command", ""}}, "'mask_command'"}}) {
    auto r = CloneTestArgs::parse(b.args);
    ASSERT_FALSE(r.ok()) << b.args.dump();
    EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
    EXPECT_NE(r.message().find(b.says), std::string::npos) << b.args.dump() << ": " << r.message();
  }
}

TEST(CloneTestDir, OnlyANewOrEmptyDirOrAnEarlierCloneWithRefresh) {
  testing::TempDir root;
  CloneTestArgs args;
  args.dir = root.path() / "new";
  auto fresh = prepare_clone_dir(args);
  ASSERT_TRUE(fresh.ok()) << fresh.message();
  EXPECT_FALSE(*fresh);
  ASSERT_TRUE(write_clone_marker(args.dir, json{{"what", "test"}}).ok());
  auto again = prepare_clone_dir(args);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.message().find("already holds a clone"), std::string::npos) << again.message();
  args.refresh = true;
  auto refresh = prepare_clone_dir(args);
  ASSERT_TRUE(refresh.ok()) << refresh.message();
  EXPECT_TRUE(*refresh);

  args.dir = root.path() / "someone-elses";
  std::filesystem::create_directories(args.dir);
  std::ofstream(args.dir / "data") << "keep";
  auto occupied = prepare_clone_dir(args);
  ASSERT_FALSE(occupied.ok());
  EXPECT_NE(occupied.message().find("holds no clone"), std::string::npos) << occupied.message();
}

}  // namespace
}  // namespace tandem::sdk
