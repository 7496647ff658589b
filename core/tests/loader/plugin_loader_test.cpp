// The loader's error cases, each against a real shared object built for it
// (core/tests/loader_plugins/).
#include <dlfcn.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "loader/plugin_loader.h"
#include "tandem/sdk/abi.h"

namespace tandem::core {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = TANDEM_TEST_PLUGIN_DIR;

PluginLoader loader() { return PluginLoader({kDir}); }

::testing::AssertionResult has(const std::string& text, const std::string& fragment) {
  if (text.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << fragment << "'";
}

TEST(PluginLoader, LoadsAGoodPluginByTypeName) {
  auto loaded = loader().load("loader-good");
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ(loaded->manifest.name, "loader-good");
  EXPECT_EQ(loaded->manifest.version, "1.2.3");
  EXPECT_EQ(loaded->manifest.description, "loader test plugin");
  EXPECT_EQ(loaded->manifest.abi_version, sdk::kAbiVersion);
  EXPECT_EQ(loaded->manifest.sdk_version, TANDEM_SDK_VERSION_STRING);
  EXPECT_EQ(loaded->manifest.path, kDir / "tandem-loader-good.so");
  ASSERT_TRUE(loaded->plugin);
  EXPECT_EQ(loaded->plugin->info().name, "loader-good");
  EXPECT_EQ(loaded->plugin->schema().size(), 3u);
  EXPECT_EQ(sdk::store_schema(*loaded->plugin).size(), 4u) << "plus the host's sync_interval";
}

TEST(PluginLoader, LoadsAPluginByPath) {
  auto loaded = PluginLoader({"/nonexistent"}).load((kDir / "tandem-loader-good.so").string());
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ(loaded->manifest.name, "loader-good");
}

TEST(PluginLoader, MissingPluginListsTheDirectoriesSearched) {
  auto loaded = PluginLoader({kDir, "/nonexistent/plugins"}).load("no-such-store");
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(has(loaded.message(), "plugin 'no-such-store' not found: looked for tandem-no-such-store.so in " +
                                        kDir.string() + ", /nonexistent/plugins"));
  EXPECT_TRUE(has(loaded.message(), "loader-good")) << "lists what it found";
  EXPECT_TRUE(has(loaded.message(), "TANDEM_PLUGIN_PATH"));
}

TEST(PluginLoader, MissingFileByPath) {
  auto loaded = loader().load("/nonexistent/tandem-x.so");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.message(), "plugin /nonexistent/tandem-x.so: no such file");
}

TEST(PluginLoader, TextFileIsNotALoadableSharedObject) {
  auto loaded = loader().load("loader-not-elf");
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(has(loaded.message(), "tandem-loader-not-elf.so: not a loadable shared object: "));
  EXPECT_TRUE(has(loaded.message(), "invalid ELF header")) << "carries dlopen's own text";
}

TEST(PluginLoader, PlainLibraryIsNotATandemPlugin) {
  auto loaded = loader().load("loader-no-manifest");
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(has(loaded.message(),
                  "tandem-loader-no-manifest.so: not a tandem plugin: it exports no "
                  "'tandem_plugin_manifest'"));
}

TEST(PluginLoader, AbiMismatchIsRefusedBeforeTheFactoryRuns) {
  // The abi999 factory aborts the process if called.
  auto loaded = loader().load("loader-abi999");
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(has(loaded.message(),
                  "ABI mismatch: the plugin was built for tandem plugin ABI 999, this host speaks "
                  "ABI " +
                      std::to_string(sdk::kAbiVersion) +
                      "; rebuild the plugin against SDK " TANDEM_SDK_VERSION_STRING));
  auto inspected = loader().inspect(kDir / "tandem-loader-abi999.so");
  ASSERT_FALSE(inspected.ok());
  EXPECT_TRUE(has(inspected.message(), "ABI mismatch"));
}

TEST(PluginLoader, ManifestNameMustMatchTheRequestedType) {
  auto loaded = loader().load("loader-wrong-name");
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(
      has(loaded.message(), "manifest name 'something-else' differs from the requested type 'loader-wrong-name'"));
}

TEST(PluginLoader, FactoryThatThrowsIsReportedWithItsText) {
  auto loaded = loader().load("loader-throwing-ctor");
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(has(loaded.message(), "('loader-throwing-ctor'): the factory threw: cannot allocate the frobnicator"));
}

TEST(PluginLoader, InspectReadsTheManifestWithoutCallingTheFactory) {
  auto inspected = loader().inspect(kDir / "tandem-loader-throwing-ctor.so");
  ASSERT_TRUE(inspected.ok()) << inspected.message();
  EXPECT_EQ(inspected->name, "loader-throwing-ctor");
  EXPECT_EQ(inspected->version, "1.0");
  EXPECT_EQ(inspected->description, "constructor throws");
}

TEST(PluginLoader, ThePluginKeepsItsLibraryLoaded) {
  const fs::path file = kDir / "tandem-loader-good.so";
  std::shared_ptr<sdk::Plugin> plugin;
  {
    auto loaded = loader().load("loader-good");
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    plugin = loaded->plugin;
  }  // the loader and the LoadedPlugin are gone; only the object remains
  void* handle = dlopen(file.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  ASSERT_NE(handle, nullptr) << "the library was unloaded while an object from it lives";
  auto live = reinterpret_cast<int (*)()>(dlsym(handle, "tandem_test_live_instances"));
  ASSERT_NE(live, nullptr);
  EXPECT_EQ(live(), 1);
  EXPECT_EQ(plugin->health().summary, "fine") << "the object's code is still callable";
  plugin.reset();  // runs the destructor inside the library, then releases it
  EXPECT_EQ(live(), 0);
  dlclose(handle);
}

TEST(PluginLoader, DiscoverFindsEveryTandemSharedObject) {
  auto found = loader().discover();
  std::vector<std::string> names;
  for (auto& p : found) names.push_back(p.filename().string());
  for (const char* expected : {"tandem-loader-good.so", "tandem-loader-abi999.so", "tandem-loader-no-manifest.so",
                               "tandem-loader-not-elf.so", "tandem-loader-wrong-name.so"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
}

TEST(PluginLoader, DefaultSearchDirsAreBesideTheExecutableThenTheInstallDir) {
  unsetenv("TANDEM_PLUGIN_PATH");
  PluginLoader l;
  ASSERT_EQ(l.search_dirs().size(), 2u);
  fs::path exe = fs::read_symlink("/proc/self/exe");
  EXPECT_EQ(l.search_dirs()[0], (exe.parent_path() / "../lib/tandem/plugins").lexically_normal());
  EXPECT_EQ(l.search_dirs()[1], fs::path(TANDEM_PLUGIN_INSTALL_DIR));
}

TEST(PluginLoader, EnvironmentPathIsSearchedFirst) {
  setenv("TANDEM_PLUGIN_PATH", (kDir.string() + ":/opt/other").c_str(), 1);
  PluginLoader l({"/nonexistent"});
  unsetenv("TANDEM_PLUGIN_PATH");
  ASSERT_EQ(l.search_dirs().size(), 3u);
  EXPECT_EQ(l.search_dirs()[0], kDir);
  EXPECT_EQ(l.search_dirs()[1], fs::path("/opt/other"));
  EXPECT_EQ(l.search_dirs()[2], fs::path("/nonexistent"));
  EXPECT_TRUE(l.load("loader-good").ok());
}

}  // namespace
}  // namespace tandem::core
