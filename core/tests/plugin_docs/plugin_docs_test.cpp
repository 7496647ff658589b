// For every tandem-*.so the build produced, its folder's sample.toml and
// README.md agree with its schema (whichever plugins exist at the time).
#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "loader/plugin_loader.h"
#include "plugin_docs_check.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::core::testing {
namespace {

namespace fs = std::filesystem;

// The build's plugin dir; TANDEM_PLUGIN_DOCS_DIR points the test at another
// build's plugins when run by hand.
fs::path plugin_dir() {
  const char* env = std::getenv("TANDEM_PLUGIN_DOCS_DIR");
  return env && *env ? fs::path(env) : fs::path(TANDEM_PLUGIN_OUTPUT_DIR);
}

std::vector<std::string> built_plugins() {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(plugin_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    std::string f = it->path().filename().string();
    if (f.rfind("tandem-", 0) == 0 && it->path().extension() == ".so") files.push_back(f);
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Without this, a build that registered no plugin (discovery before the
// plugins were built) would pass by checking nothing.
TEST(PluginDocsSuite, EveryPluginInTheTreeIsBuiltAndChecked) {
  auto built = built_plugins();
  std::error_code ec;
  for (fs::directory_iterator it(TANDEM_PLUGINS_SOURCE_DIR, ec), end; !ec && it != end; it.increment(ec)) {
    if (!fs::exists(it->path() / "CMakeLists.txt")) continue;
    std::string so = "tandem-" + it->path().filename().string() + ".so";
    EXPECT_NE(std::find(built.begin(), built.end(), so), built.end()) << so << " is not built in " << plugin_dir();
  }
}

class PluginDocs : public ::testing::TestWithParam<std::string> {};

TEST_P(PluginDocs, SampleAndReadmeAgreeWithTheSchema) {
  const fs::path so = plugin_dir() / GetParam();
  auto manifest = PluginLoader().inspect(so);
  ASSERT_TRUE(manifest.ok()) << manifest.message();
  const fs::path folder = fs::path(TANDEM_PLUGINS_SOURCE_DIR) / manifest->name;
  ASSERT_TRUE(fs::is_directory(folder)) << "no plugins/" << manifest->name << "/ folder for " << so;
  auto problems = check_plugin_docs(so, folder);
  std::string all;
  for (auto& p : problems) all += "  " + p + "\n";
  EXPECT_TRUE(problems.empty()) << all;
}

INSTANTIATE_TEST_SUITE_P(Built, PluginDocs, ::testing::ValuesIn(built_plugins()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param.substr(7, info.param.size() - 10);  // tandem-X.so -> X
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PluginDocs);

// The check itself, on the loader's good test plugin: it passes when the
// docs agree and catches each kind of disagreement.
class PluginDocsCheck : public ::testing::Test {
 protected:
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_.path() / name) << text; }
  std::vector<std::string> check() {
    return check_plugin_docs(fs::path(TANDEM_TEST_PLUGIN_DIR) / "tandem-loader-good.so", dir_.path());
  }

  sdk::testing::TempDir dir_;
  const std::string readme_ = "| `greeting` | | `sync_interval` | | `fail_check` | | `report_progress` |\n";
  const std::string sample_ =
      "[stores.g]\nplugin = \"loader-good\"\ngreeting = \"hi\"\nsync_interval = \"1m\"\n"
      "# fail_check = false\n# report_progress = false\n";
};

TEST_F(PluginDocsCheck, AgreeingDocsPass) {
  write("README.md", readme_);
  write("sample.toml", sample_);
  auto problems = check();
  EXPECT_TRUE(problems.empty()) << problems.at(0);
}

TEST_F(PluginDocsCheck, CatchesAnUndocumentedKey) {
  write("README.md", "| `greeting` | `sync_interval` | reporting progress |\n");
  write("sample.toml", sample_);
  auto problems = check();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("does not mention schema key 'fail_check'"), std::string::npos);
  EXPECT_NE(problems[1].find("does not mention schema key 'report_progress'"), std::string::npos);
}

TEST_F(PluginDocsCheck, CatchesASampleThatDoesNotValidate) {
  write("README.md", readme_);
  write("sample.toml",
        "[stores.g]\nplugin = \"loader-good\"\ngreeting = 5\nsync_inteval = \"1m\"\n"
        "# fail_check = false\n# report_progress = false\n");
  auto problems = check();
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_NE(problems[0].find("sample.toml:3:12: store 'g': key 'greeting' must be a string"), std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find("sample.toml:4:1: store 'g': unknown key 'sync_inteval'; did you mean 'sync_interval'?"),
            std::string::npos)
      << problems[1];
  // The misspelt key leaves sync_interval unshown.
  EXPECT_NE(problems[2].find("does not show schema key 'sync_interval'"), std::string::npos) << problems[2];
}

TEST_F(PluginDocsCheck, CatchesASampleThatLeavesAKeyOut) {
  write("README.md", readme_);
  write("sample.toml",
        "[stores.g]\nplugin = \"loader-good\"\ngreeting = \"hi\"\n# sync_interval = \"1m\"\n"
        "# report_progress = false\n# a comment about fail_check\n");
  auto problems = check();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("sample.toml: does not show schema key 'fail_check'"), std::string::npos) << problems[0];
}

TEST_F(PluginDocsCheck, MissingFilesAreProblems) {
  auto problems = check();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("sample.toml: missing"), std::string::npos);
  EXPECT_NE(problems[1].find("README.md: missing"), std::string::npos);
}

}  // namespace
}  // namespace tandem::core::testing
