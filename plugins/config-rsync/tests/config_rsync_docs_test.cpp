// sample.toml and README.md agree with the plugin's schema.
#include <gtest/gtest.h>

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "settings.h"

namespace tandem::config_rsync {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void check_table_against(const toml::table& t, const sdk::ConfigSchema& schema, const std::string& where) {
  std::set<std::string> declared;
  for (auto& k : schema) declared.insert(k.name);
  for (auto& [key, node] : t) {
    std::string k(key.str());
    if (k == "plugin" && where == "store") continue;
    EXPECT_TRUE(declared.count(k)) << where << ": sample.toml key '" << k << "' is not in the schema";
  }
  for (auto& k : schema)
    if (k.required) {
      EXPECT_TRUE(t.contains(k.name)) << where << ": required key '" << k.name << "' missing";
    }
}

TEST(ConfigRsyncDocs, SampleTomlValidatesAgainstTheSchema) {
  auto parsed = toml::parse_file(std::string(CONFIG_RSYNC_SOURCE_DIR) + "/sample.toml");
  auto* stores = parsed["stores"].as_table();
  ASSERT_TRUE(stores);
  int found = 0;
  for (auto& [name, node] : *stores) {
    auto* store = node.as_table();
    if (!store || store->get("plugin") == nullptr || store->get("plugin")->value_or(std::string()) != "config-rsync")
      continue;
    ++found;
    auto schema = settings_schema();
    check_table_against(*store, schema, "store");
    auto* paths = store->get("paths")->as_array();
    ASSERT_TRUE(paths);
    for (auto& p : *paths) {
      ASSERT_TRUE(p.is_table());
      for (auto& k : schema)
        if (k.name == "paths") check_table_against(*p.as_table(), k.children, "paths");
    }
  }
  EXPECT_EQ(found, 1);
}

TEST(ConfigRsyncDocs, ReadmeDocumentsEveryKeyWithItsDefault) {
  std::string readme = slurp(std::string(CONFIG_RSYNC_SOURCE_DIR) + "/README.md");
  ASSERT_FALSE(readme.empty());
  auto check = [&](const sdk::ConfigKey& k, const std::string& prefix) {
    std::string cell = "| `" + prefix + k.name + "` |";
    auto pos = readme.find(cell);
    ASSERT_NE(pos, std::string::npos) << "README lacks a table row for " << prefix << k.name;
    std::string row = readme.substr(pos, readme.find('\n', pos) - pos);
    EXPECT_NE(row.find(std::string(sdk::to_string(k.type))), std::string::npos) << row;
    if (!k.default_value.empty()) {
      EXPECT_NE(row.find(k.default_value), std::string::npos) << row;
    }
    EXPECT_NE(row.find(k.required ? "yes" : "no"), std::string::npos) << row;
  };
  for (auto& k : settings_schema()) {
    check(k, "");
    for (auto& c : k.children) check(c, "paths.");
  }
}

}  // namespace
}  // namespace tandem::config_rsync
