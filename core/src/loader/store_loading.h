// Turning one [stores.NAME] table into a configured plugin instance.
#pragma once

#include <string>

#include "config/host_config.h"
#include "loader/plugin_loader.h"
#include "tandem/sdk/config.h"
#include "tandem/sdk/host_context.h"
#include "tandem/sdk/result.h"

namespace tandem::core {

// A store whose plugin is loaded, whose table passed the plugin's schema and
// whose configure() succeeded. Not started: the caller owns start()/stop().
struct ConfiguredStore {
  std::string name;
  LoadedPlugin loaded;
  sdk::StoreConfig config;
};

// Load the store's plugin (entry.plugin: a type name or a .so path), validate
// its table against the plugin's schema (validate_store_table), then call
// configure(config, host). `host` must outlive the returned plugin.
// Errors name the store and, for config problems, file:line:col; several
// config errors are joined with newlines.
sdk::Result<ConfiguredStore> load_store(const StoreEntry& entry, const PluginLoader& loader, sdk::HostContext& host);

// Load the plugin and validate the table only (no configure): used where no
// HostContext exists yet. Same error texts as load_store.
sdk::Result<ConfiguredStore> load_and_validate_store(const StoreEntry& entry, const PluginLoader& loader);

}  // namespace tandem::core
