#include "loader/store_loading.h"

namespace tandem::core {

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

}  // namespace tandem::core
