// Loads the real built tandem-postgres-wal.so with Boost.DLL, as tandemd's
// loader will: manifest first, then the factory; configures it from the
// plugin's own sample.toml, and checks README and sample agree with schema().
#include <gtest/gtest.h>

#include <toml++/toml.h>
#include <boost/dll/shared_library.hpp>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "tandem/sdk/abi.h"
#include "tandem/sdk/plugin.h"
#include "tandem/sdk/testing/test_host.h"

namespace {

using tandem::sdk::FactoryFunction;
using tandem::sdk::ManifestFunction;

nlohmann::json to_json(const toml::node& node) {
  if (auto s = node.as_string()) return s->get();
  if (auto i = node.as_integer()) return i->get();
  if (auto b = node.as_boolean()) return b->get();
  if (auto f = node.as_floating_point()) return f->get();
  if (auto a = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : *a) out.push_back(to_json(e));
    return out;
  }
  throw std::runtime_error("unexpected TOML value type in sample.toml");
}

// The [stores.*] table of sample.toml that names this plugin, as JSON.
nlohmann::json sample_store_table() {
  auto doc = toml::parse_file(std::string(TANDEM_POSTGRES_WAL_DIR) + "/sample.toml");
  auto* stores = doc["stores"].as_table();
  if (!stores) throw std::runtime_error("sample.toml has no [stores] table");
  for (const auto& [name, table] : *stores) {
    auto* t = table.as_table();
    if (!t || t->get("plugin") == nullptr || t->get("plugin")->value_or<std::string>("") != "postgres-wal") continue;
    nlohmann::json values = nlohmann::json::object();
    for (const auto& [key, value] : *t)
      if (key.str() != "plugin") values[std::string(key.str())] = to_json(value);
    return values;
  }
  throw std::runtime_error("sample.toml has no store with plugin = \"postgres-wal\"");
}

class LoadedPlugin : public ::testing::Test {
 protected:
  boost::dll::shared_library lib_{TANDEM_POSTGRES_WAL_SO, boost::dll::load_mode::rtld_now};
};

TEST_F(LoadedPlugin, ManifestNamesThePluginAndTheAbi) {
  auto manifest = lib_.get_alias<ManifestFunction>(tandem::sdk::kManifestSymbol)();
  ASSERT_NE(manifest, nullptr);
  EXPECT_EQ(manifest->magic, tandem::sdk::kManifestMagic);
  EXPECT_EQ(manifest->abi_version, tandem::sdk::kAbiVersion);
  EXPECT_STREQ(manifest->name, "postgres-wal");
  EXPECT_STREQ(manifest->sdk_version, TANDEM_SDK_VERSION_STRING);
}

TEST_F(LoadedPlugin, FactoryBuildsAPluginThatConfiguresFromSampleToml) {
  auto factory = lib_.get_alias<FactoryFunction>(tandem::sdk::kFactorySymbol);
  std::string error;
  std::unique_ptr<tandem::sdk::Plugin> plugin(factory(&error));
  ASSERT_NE(plugin, nullptr) << error;
  EXPECT_EQ(plugin->info().name, "postgres-wal");
  EXPECT_EQ(plugin->info().failover_order, tandem::sdk::kOrderDatabase);
  tandem::sdk::testing::TestHost host;
  auto values = sample_store_table();
  // The sample names secret files of a real machine; their check is not what this tests.
  for (const auto& key : tandem::sdk::store_schema(*plugin))
    if (key.secret) values.erase(key.name);
  auto config = tandem::sdk::StoreConfig::from_json("main-db", tandem::sdk::store_schema(*plugin), values);
  auto status = plugin->configure(config, host);
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(config.sync_interval(), std::chrono::seconds(1));
  // A bad value is reported through the guarded edge, not thrown across it.
  values["port"] = 0;
  status = plugin->configure(tandem::sdk::StoreConfig::from_json("main-db", tandem::sdk::store_schema(*plugin), values),
                             host);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'port'"), std::string::npos) << status.message();
  std::set<std::string> diag;
  for (const auto& d : plugin->diagnostics()) diag.insert(d.name);
  EXPECT_EQ(diag, (std::set<std::string>{"conninfo", "slots", "timeline", "settings", "lag"}));
  plugin.reset();  // before the library unloads
}

TEST_F(LoadedPlugin, SampleAndReadmeCoverEveryKeyOfTheSchema) {
  auto factory = lib_.get_alias<FactoryFunction>(tandem::sdk::kFactorySymbol);
  std::string error;
  std::unique_ptr<tandem::sdk::Plugin> plugin(factory(&error));
  ASSERT_NE(plugin, nullptr) << error;
  std::ifstream sample_file(std::string(TANDEM_POSTGRES_WAL_DIR) + "/sample.toml");
  std::stringstream sample;
  sample << sample_file.rdbuf();
  std::ifstream readme_file(std::string(TANDEM_POSTGRES_WAL_DIR) + "/README.md");
  std::stringstream readme;
  readme << readme_file.rdbuf();
  auto values = sample_store_table();
  std::set<std::string> names;
  for (const auto& key : plugin->schema()) {
    names.insert(key.name);
    // Every key appears in sample.toml (set, or commented out when optional).
    EXPECT_NE(sample.str().find(key.name + " ="), std::string::npos) << key.name << " missing from sample.toml";
    EXPECT_NE(readme.str().find("| `" + key.name + "` |"), std::string::npos) << key.name << " missing from README";
  }
  for (const auto& [key, value] : values.items())
    EXPECT_TRUE(names.count(key)) << "sample.toml has unknown key " << key;
  plugin.reset();
}

}  // namespace
