#include "host/config_check.h"

#include <sstream>

#include "config/host_config.h"
#include "host/offline_host.h"
#include "host/tls_setup.h"
#include "loader/plugin_loader.h"
#include "loader/store_loading.h"
#include "tandem/sdk/file_util.h"

namespace tandem::core {

std::vector<std::string> failover_store_problems(const HostConfig& config, const StoreEntry& entry,
                                                 const sdk::StoreConfig& store) {
  if (config.failover.mode != FailoverMode::automatic || !config.dcs) return {};
  const bool written = store.has(sdk::kSyncIntervalKey);
  return check_ttl_against_sync(*config.dcs, entry.name, written ? store.where(sdk::kSyncIntervalKey) : entry.location,
                                store.sync_interval());
}

sdk::Result<std::string> read_checked_secret(const std::filesystem::path& file, const std::string& what) {
  auto secret = sdk::load_secret_file(file);
  if (!secret) return sdk::Error{what + " " + secret.message(), secret.code()};
  return secret;
}

ConfigCheck check_config_file(const std::filesystem::path& file) {
  ConfigCheck out;
  auto loaded = load_host_config(file);
  if (auto* host_errors = std::get_if<ConfigErrors>(&loaded)) {
    out.errors = host_errors->messages;
    return out;
  }
  const auto& config = std::get<HostConfig>(loaded);
  out.stores = config.stores.size();
  // The daemon reads these before it starts (daemon_from_config.cpp): the same test.
  for (const auto& [path, what] :
       {std::pair{config.api.token_file, "[api] token_file"}, std::pair{config.peer.token_file, "[peer] token_file"}})
    if (path)
      if (auto secret = read_checked_secret(*path, what); !secret) out.errors.push_back(secret.message());
  for (auto& e : check_hook_commands(config.hooks)) out.errors.push_back(std::move(e));
  for (auto& e : check_tls_files(config)) out.errors.push_back(std::move(e));
  PluginLoader loader(config.plugins.search_dirs);
  for (const auto& entry : config.stores) {
    // A disabled store is checked too: enabling it must not reveal new errors.
    try {
      OfflineHostContext host(config, entry.name);
      auto store = load_store(entry, loader, host);
      if (store) {
        for (auto& problem : failover_store_problems(config, entry, store.value().config))
          out.errors.push_back(std::move(problem));
        continue;
      }
      // Schema errors of one store come joined by newlines: one problem per line.
      std::stringstream lines(store.message());
      for (std::string line; std::getline(lines, line);)
        if (!line.empty()) out.errors.push_back(line);
    } catch (const std::exception& e) {
      out.errors.push_back(entry.location + ": store '" + entry.name + "' cannot be checked: " + e.what());
    }
  }
  return out;
}

}  // namespace tandem::core
