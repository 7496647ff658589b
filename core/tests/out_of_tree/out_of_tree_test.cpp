// The install and the SDK package work for a third party: install the build
// tree into a temporary prefix, build the example plugin out of tree against
// it, run its own tests, load it with the host's loader, and see the
// installed tandemctl find it after `cmake --install` of the plugin.
#include <gtest/gtest.h>

#include <fstream>

#include "loader/store_loading.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::core {
namespace {

namespace fs = std::filesystem;

sdk::ProcessResult run(std::vector<std::string> argv, std::chrono::minutes timeout = std::chrono::minutes(10)) {
  sdk::ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.timeout = timeout;
  spec.env = {{"TANDEM_PLUGIN_PATH", ""}};
  auto r = sdk::run_process(spec);
  if (!r.ok()) throw std::runtime_error(r.message());
  return *r;
}

std::string describe(const sdk::ProcessResult& r) { return r.describe() + "\n" + r.stdout_text + r.stderr_text; }

TEST(OutOfTree, InstalledSdkBuildsAndLoadsTheExamplePlugin) {
  sdk::testing::TempDir dir("tandem-oot");
  const fs::path prefix = dir.path() / "prefix";
  const fs::path build = dir.path() / "echo-build";
  const std::string cmake = TANDEM_CMAKE_COMMAND;

  auto install = run({cmake, "--install", TANDEM_BUILD_DIR, "--prefix", prefix.string()});
  ASSERT_TRUE(install.succeeded()) << describe(install);
  const fs::path bin = prefix / TANDEM_INSTALL_BINDIR;
  const fs::path lib = prefix / TANDEM_INSTALL_LIBDIR;
  for (const fs::path& p :
       {bin / "tandemd", bin / "tandemctl", lib / "libtandem_sdk.a", lib / "libtandem_sdk_testkit.a",
        lib / "cmake/TandemSDK/TandemSDKConfig.cmake", lib / "cmake/TandemSDK/TandemPlugin.cmake",
        prefix / TANDEM_INSTALL_INCLUDEDIR / "tandem/sdk/plugin.h",
        prefix / TANDEM_INSTALL_INCLUDEDIR / "tandem/sdk/export.h",
        prefix / TANDEM_INSTALL_INCLUDEDIR / "tandem/sdk/testing/test_host.h", lib / "tandem/plugins"})
    EXPECT_TRUE(fs::exists(p)) << "not installed: " << p;
  // Nothing lands outside the prefix (an absolute DESTINATION would write
  // into this machine's /etc or /usr/local): cmake lists what it installed.
  std::ifstream manifest(fs::path(TANDEM_BUILD_DIR) / "install_manifest.txt");
  int installed = 0;
  for (std::string line; std::getline(manifest, line); ++installed)
    EXPECT_EQ(line.rfind(prefix.string() + "/", 0), 0u) << "installed outside the prefix: " << line;
  EXPECT_GT(installed, 10);
  EXPECT_TRUE(fs::exists(prefix / "etc/tandem/tandem.toml"));
  EXPECT_TRUE(fs::exists(prefix / "lib/systemd/system/tandemd.service"));

  std::vector<std::string> configure_argv{cmake,
                                          "-S",
                                          TANDEM_SOURCE_DIR "/sdk/examples/echo-plugin",
                                          "-B",
                                          build.string(),
                                          "-DCMAKE_PREFIX_PATH=" + prefix.string(),
                                          "-DECHO_PLUGIN_BUILD_TESTS=ON",
                                          "-DCMAKE_BUILD_TYPE=Release"};
  // In a sanitizer build the installed SDK library is instrumented, so the
  // plugin must be too, or it cannot link (and one toolchain for host and
  // plugins is the rule anyway).
  if (std::string(TANDEM_SANITIZE).size() > 0)
    configure_argv.push_back("-DCMAKE_CXX_FLAGS=-fsanitize=" TANDEM_SANITIZE " -fno-omit-frame-pointer");
  auto configure = run(configure_argv);
  ASSERT_TRUE(configure.succeeded()) << describe(configure);
  auto compile = run({cmake, "--build", build.string(), "-j2"});
  ASSERT_TRUE(compile.succeeded()) << describe(compile);
  EXPECT_EQ((compile.stdout_text + compile.stderr_text).find("warning:"), std::string::npos) << describe(compile);

  auto tests = run({(build / "echo_plugin_test").string()});
  EXPECT_TRUE(tests.succeeded()) << describe(tests);

  // The host's loader takes the out-of-tree .so like any other plugin.
  const fs::path so = build / "tandem-echo.so";
  ASSERT_TRUE(fs::exists(so));
  PluginLoader loader({build});
  auto loaded = loader.load("echo");
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ(loaded->manifest.name, "echo");
  EXPECT_EQ(loaded->manifest.version, "1.0.0");
  auto config = parse_host_config(
      "[node]\nname = \"a\"\naddress = \"127.0.0.1\"\nrole = \"primary\"\ndata_dir = \"/x\"\n"
      "[peer]\nname = \"b\"\naddress = \"127.0.0.2\"\napi_url = \"http://127.0.0.2:7480\"\n"
      "[stores.hello]\nplugin = \"echo\"\nmessage = \"hi\"\nsync_interval = \"1s\"\n",
      "oot.toml");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(config)) << std::get<ConfigErrors>(config).joined();
  sdk::testing::TestHost host;
  auto store = load_store(std::get<HostConfig>(config).stores.at(0), loader, host);
  ASSERT_TRUE(store.ok()) << store.message();
  ASSERT_TRUE(store->loaded.plugin->sync().ok());
  EXPECT_EQ(store->loaded.plugin->health().summary, "echoed 1 times: hi");

  // Installing the plugin puts it where the installed tandemctl looks.
  auto plugin_install = run({cmake, "--install", build.string()});
  ASSERT_TRUE(plugin_install.succeeded()) << describe(plugin_install);
  EXPECT_TRUE(fs::exists(lib / "tandem/plugins/tandem-echo.so"));
  auto listed = run({(bin / "tandemctl").string(), "--config", (dir.path() / "none.toml").string(), "plugins"});
  EXPECT_NE(listed.stdout_text.find("echo "), std::string::npos) << describe(listed);
  EXPECT_NE(listed.stdout_text.find((lib / "tandem/plugins/tandem-echo.so").string()), std::string::npos)
      << describe(listed);
}

}  // namespace
}  // namespace tandem::core
