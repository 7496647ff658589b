#include "loader/store_loading.h"

#include <algorithm>
#include <map>

namespace tandem::core {
namespace {

// "pg-Main" and "pg_main" are the same store to a person reading the status.
std::string normalized(const std::string& name) {
  std::string out;
  for (char c : name)
    if (c != '-' && c != '_') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool valid_store_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

}  // namespace

sdk::Result<ConfiguredStore> load_and_validate_store(const StoreEntry& entry, const PluginLoader& loader) {
  auto loaded = loader.load(entry.plugin);
  if (!loaded) return sdk::Error{entry.location + ": store '" + entry.name + "': " + loaded.message()};
  auto validated = validate_store_table(entry, sdk::store_schema(*loaded->plugin));
  if (auto* errors = std::get_if<ConfigErrors>(&validated)) {
    std::string joined = errors->joined();
    if (!joined.empty() && joined.back() == '\n') joined.pop_back();
    return sdk::Error{joined};
  }
  auto& config = std::get<sdk::StoreConfig>(validated);
  // Secret files are read now, before configure(), so --check refuses what
  // the plugin could not use.
  if (auto problems = sdk::check_secret_files(config); !problems.empty()) {
    std::string joined;
    for (const auto& p : problems) joined += (joined.empty() ? "" : "\n") + p;
    return sdk::Error{joined, sdk::ErrorCode::invalid_config};
  }
  return ConfiguredStore{entry.name, std::move(loaded.value()), std::move(config)};
}

sdk::Result<ConfiguredStore> load_store(const StoreEntry& entry, const PluginLoader& loader, sdk::HostContext& host) {
  auto store = load_and_validate_store(entry, loader);
  if (!store) return store;
  sdk::Status configured = store->loaded.plugin->configure(store->config, host);
  if (!configured.ok()) {
    // A ConfigError from config.fail() already names file:line:col and the store.
    std::string why = configured.message();
    // The SDK's guard already says "configure failed: " for a thrown exception.
    const std::string guard_prefix = "configure failed: ";
    if (why.rfind(guard_prefix, 0) == 0) why.erase(0, guard_prefix.size());
    std::string file = entry.location.substr(0, entry.location.find(':'));
    if (!file.empty() && why.rfind(file + ":", 0) == 0) return sdk::Error{why};
    return sdk::Error{entry.location + ": store '" + entry.name + "' (plugin " + store->loaded.manifest.name +
                      "): configure failed: " + why};
  }
  return store;
}

std::vector<std::string> check_store_set(const HostConfig& config) {
  std::vector<std::string> errors;
  std::map<std::string, const StoreEntry*> by_normalized_name;
  for (const auto& store : config.stores) {
    if (!valid_store_name(store.name)) {
      errors.push_back(
          store.location + ": store name '" + store.name +
          "' may only hold letters, digits, '-' and '_' (it appears in URLs and metrics); rename the table");
      continue;
    }
    auto [it, inserted] = by_normalized_name.emplace(normalized(store.name), &store);
    if (!inserted)
      errors.push_back(store.location + ": store '" + store.name + "' has the same name as store '" + it->second->name +
                       "' at " + it->second->location +
                       " (names are compared ignoring case, '-' and '_'); give each store a distinct name");
  }
  return errors;
}

}  // namespace tandem::core
