// Loads the real built shared object with Boost.DLL, as tandemd will.
#include <gtest/gtest.h>

#include <boost/dll/shared_library.hpp>
#include <memory>

#include "tandem/sdk/abi.h"
#include "tandem/sdk/plugin.h"
#include "tandem/sdk/testing/test_host.h"

namespace {

TEST(KvLoader, ManifestFactoryAndConfigureWorkThroughTheSharedObject) {
  boost::dll::shared_library lib(KV_PLUGIN_PATH, boost::dll::load_mode::rtld_now);
  auto& manifest_fn = lib.get_alias<tandem::sdk::ManifestFunction>(tandem::sdk::kManifestSymbol);
  const tandem::sdk::PluginManifest* m = manifest_fn();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->magic, tandem::sdk::kManifestMagic);
  EXPECT_EQ(m->abi_version, tandem::sdk::kAbiVersion);
  EXPECT_STREQ(m->name, "kvstore-dualwrite");
  auto& factory = lib.get_alias<tandem::sdk::FactoryFunction>(tandem::sdk::kFactorySymbol);
  std::string error;
  std::unique_ptr<tandem::sdk::Plugin> plugin(factory(&error));
  ASSERT_NE(plugin, nullptr) << error;
  // Identity is the manifest's, said once (the two descriptions once differed).
  EXPECT_EQ(plugin->info().name, "kvstore-dualwrite");
  EXPECT_EQ(plugin->info().description, m->description);
  EXPECT_EQ(plugin->info().version, m->version);
  EXPECT_EQ(plugin->info().failover_order, tandem::sdk::kOrderKeyValue);
  tandem::sdk::testing::TestHost host;
  auto good = tandem::sdk::StoreConfig::from_json("kv", tandem::sdk::store_schema(*plugin),
                                                  {{"listen_port", 16400}, {"peer_port", 16380}});
  auto st = plugin->configure(good, host);
  EXPECT_TRUE(st.ok()) << st.message();
  auto bad = tandem::sdk::StoreConfig::from_json(
      "kv", tandem::sdk::store_schema(*plugin), {{"listen_port", 16400}, {"peer_port", 16380}, {"peer_down", "maybe"}});
  st = plugin->configure(bad, host);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("peer_down"), std::string::npos) << st.message();
  plugin.reset();  // before the library goes
}

}  // namespace
