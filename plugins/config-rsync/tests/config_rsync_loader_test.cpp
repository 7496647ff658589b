// Loads the real built tandem-config-rsync.so with Boost.DLL, as tandemd does.
#include <gtest/gtest.h>

#include <boost/dll/shared_library.hpp>
#include <cstring>
#include <memory>

#include "tandem/sdk/abi.h"
#include "tandem/sdk/plugin.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandem/sdk/testing/test_host.h"

namespace {

TEST(ConfigRsyncLoader, ManifestFactoryAndConfigureThroughTheSharedObject) {
  boost::dll::shared_library lib(TANDEM_CONFIG_RSYNC_SO, boost::dll::load_mode::rtld_now);
  auto& manifest_fn = lib.get_alias<tandem::sdk::ManifestFunction>(tandem::sdk::kManifestSymbol);
  const tandem::sdk::PluginManifest* m = manifest_fn();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->magic, tandem::sdk::kManifestMagic);
  EXPECT_EQ(m->abi_version, tandem::sdk::kAbiVersion);
  EXPECT_STREQ(m->name, "config-rsync");
  EXPECT_GT(std::strlen(m->version), 0u);

  auto& factory = lib.get_alias<tandem::sdk::FactoryFunction>(tandem::sdk::kFactorySymbol);
  std::string error;
  std::unique_ptr<tandem::sdk::Plugin> plugin(factory(&error));  // destroyed before lib (declared after)
  ASSERT_TRUE(plugin) << error;
  EXPECT_EQ(plugin->info().name, "config-rsync");
  EXPECT_EQ(plugin->info().failover_order, tandem::sdk::kOrderConfig);
  auto schema = tandem::sdk::store_schema(*plugin);
  ASSERT_FALSE(schema.empty());

  tandem::sdk::testing::TempDir dir;
  tandem::sdk::testing::TestHost host;
  nlohmann::json good{{"remote", "rsync://{peer}:8730"},
                      {"allowed_root", dir.path().string()},
                      {"paths", nlohmann::json::array({{{"name", "etc"}, {"path", (dir.path() / "etc").string()}}})}};
  auto ok = plugin->configure(tandem::sdk::StoreConfig::from_json("config", schema, good), host);
  EXPECT_TRUE(ok) << (ok ? "" : ok.message());
  EXPECT_EQ(tandem::sdk::StoreConfig::from_json("config", schema, good).sync_interval(), std::chrono::seconds(60))
      << "the default comes from the plugin's info()";
  EXPECT_EQ(plugin->diagnostics().size(), 3u);

  // A config error crosses the boundary as a Status, not an exception.
  auto bad = good;
  bad["paths"][0]["path"] = "relative/etc";
  std::unique_ptr<tandem::sdk::Plugin> second(factory(&error));
  auto st = second->configure(tandem::sdk::StoreConfig::from_json("config", schema, bad), host);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("relative"), std::string::npos) << st.message();
}

}  // namespace
