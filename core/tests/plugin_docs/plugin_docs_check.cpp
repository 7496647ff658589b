#include "plugin_docs_check.h"

#include <regex>

#include <toml++/toml.h>

#include "config/host_config.h"
#include "loader/plugin_loader.h"
#include "tandem/sdk/file_util.h"

namespace tandem::core::testing {
namespace {

namespace fs = std::filesystem;

void collect_keys(const sdk::ConfigSchema& schema, std::vector<std::string>& out) {
  for (const auto& k : schema) {
    out.push_back(k.name);
    collect_keys(k.children, out);
  }
}

bool mentions(const std::string& text, const std::string& key) {
  // The key as a word of its own: "port" must not be satisfied by "report".
  std::regex word("(^|[^A-Za-z0-9_])" + key + "($|[^A-Za-z0-9_])");
  return std::regex_search(text, word);
}

// The key set in a TOML text ("key =", also commented out) or as an array of
// tables ("[[stores.x.key]]").
bool shows(const std::string& text, const std::string& key) {
  std::regex set("(^|[^A-Za-z0-9_.])" + key + " =|\\." + key + "\\]\\]");
  return std::regex_search(text, set);
}

}  // namespace

std::vector<std::string> check_plugin_docs(const fs::path& plugin_so, const fs::path& plugin_folder) {
  std::vector<std::string> problems;
  auto loaded = PluginLoader().load(plugin_so.string());
  if (!loaded) return {loaded.message()};
  const std::string name = loaded->manifest.name;
  const sdk::ConfigSchema schema = sdk::store_schema(*loaded->plugin);
  std::vector<std::string> keys;
  collect_keys(schema, keys);

  const fs::path sample = plugin_folder / "sample.toml";
  if (!fs::exists(sample)) {
    problems.push_back(sample.string() + ": missing; every plugin ships a sample store table");
  } else {
    try {
      auto root = std::make_shared<toml::table>(toml::parse_file(sample.string()));
      const toml::table* stores = root->get_as<toml::table>("stores");
      int used = 0;
      if (stores) {
        for (auto&& [key, node] : *stores) {
          const toml::table* t = node.as_table();
          if (!t) continue;
          std::string plugin = t->get("plugin") ? t->get("plugin")->value_or(std::string()) : "";
          if (plugin != name) {
            problems.push_back(sample.string() + ": [stores." + std::string(key.str()) + "] has plugin = '" + plugin +
                               "', expected '" + name + "'");
            continue;
          }
          ++used;
          StoreEntry entry;
          entry.name = std::string(key.str());
          entry.plugin = plugin;
          entry.location = sample.string() + ":" + std::to_string(t->source().begin.line) + ":" +
                           std::to_string(t->source().begin.column);
          entry.table = std::shared_ptr<const toml::table>(root, t);
          auto validated = validate_store_table(entry, schema);
          if (auto* errors = std::get_if<ConfigErrors>(&validated))
            problems.insert(problems.end(), errors->messages.begin(), errors->messages.end());
        }
      }
      if (used == 0) problems.push_back(sample.string() + ": no [stores.NAME] table with plugin = \"" + name + "\"");
      // "A complete example": every key appears, set or commented out with its default.
      std::string text = sdk::read_file(sample);
      for (const auto& k : keys)
        if (!shows(text, k)) problems.push_back(sample.string() + ": does not show schema key '" + k + "'");
    } catch (const toml::parse_error& e) {
      problems.push_back(sample.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                         std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    }
  }

  const fs::path readme = plugin_folder / "README.md";
  if (!fs::exists(readme)) {
    problems.push_back(readme.string() + ": missing; every plugin documents its keys there");
  } else {
    std::string text = sdk::read_file(readme);
    for (const auto& k : keys)
      if (!mentions(text, k)) problems.push_back(readme.string() + ": does not mention schema key '" + k + "'");
  }
  return problems;
}

}  // namespace tandem::core::testing
