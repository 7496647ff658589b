#include "host/config_check.h"

#include <sstream>

#include "config/host_config.h"
#include "host/offline_host.h"
#include "loader/plugin_loader.h"
#include "loader/store_loading.h"

namespace tandem::core {

ConfigCheck check_config_file(const std::filesystem::path& file) {
  ConfigCheck out;
  auto loaded = load_host_config(file);
  if (auto* host_errors = std::get_if<ConfigErrors>(&loaded)) {
    out.errors = host_errors->messages;
    return out;
  }
  const auto& config = std::get<HostConfig>(loaded);
  out.stores = config.stores.size();
  PluginLoader loader(config.plugins.search_dirs);
  for (const auto& entry : config.stores) {
    // A disabled store is checked too: enabling it must not reveal new errors.
    try {
      OfflineHostContext host(config, entry.name);
      auto store = load_store(entry, loader, host);
      if (store) continue;
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
