// The built shared object loads with Boost.DLL, carries the right manifest,
// and its factory makes a plugin that configures.
#include <gtest/gtest.h>
#include <boost/dll/shared_library.hpp>
#include <nlohmann/json.hpp>

#include "tandem/sdk/abi.h"
#include "tandem/sdk/plugin.h"
#include "tandem/sdk/testing/test_host.h"

namespace {

TEST(EsRebuildLoader, ManifestAndFactoryFromTheRealSharedObject) {
  boost::dll::shared_library lib(TANDEM_ES_PLUGIN_SO, boost::dll::load_mode::rtld_now);
  auto manifest_fn = lib.get_alias<tandem::sdk::ManifestFunction>(tandem::sdk::kManifestSymbol);
  const tandem::sdk::PluginManifest* m = manifest_fn();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->magic, tandem::sdk::kManifestMagic);
  EXPECT_EQ(m->abi_version, tandem::sdk::kAbiVersion);
  EXPECT_STREQ(m->name, "elasticsearch-rebuild");
  EXPECT_STREQ(m->sdk_version, TANDEM_SDK_VERSION_STRING);

  auto factory = lib.get_alias<tandem::sdk::FactoryFunction>(tandem::sdk::kFactorySymbol);
  std::string error;
  std::unique_ptr<tandem::sdk::Plugin> plugin(factory(&error));
  ASSERT_NE(plugin, nullptr) << error;
  EXPECT_EQ(plugin->info().name, "elasticsearch-rebuild");
  EXPECT_EQ(plugin->info().failover_order, tandem::sdk::kOrderDerivedIndex);

  tandem::sdk::testing::TestHost host;
  nlohmann::json values = {{"urls", {"http://127.0.0.1:9200"}},
                           {"source", "host=127.0.0.1 dbname=app"},
                           {"indices", {{{"alias", "items"}, {"query", "SELECT id FROM items"}}}}};
  auto ok = plugin->configure(tandem::sdk::StoreConfig::from_json("search", tandem::sdk::store_schema(*plugin), values),
                              host);
  EXPECT_TRUE(ok.ok()) << ok.message();
  values["urls"] = {"ftp://x"};
  auto bad = plugin->configure(
      tandem::sdk::StoreConfig::from_json("search", tandem::sdk::store_schema(*plugin), values), host);
  ASSERT_FALSE(bad.ok());  // the export guard turned the ConfigError into a Status
  EXPECT_NE(bad.message().find("key 'urls'"), std::string::npos) << bad.message();
  auto actions = plugin->actions();
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions[0].name, "rebuild");
  plugin.reset();  // before the library is unloaded
}

}  // namespace
