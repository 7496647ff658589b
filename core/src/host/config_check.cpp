#include "host/config_check.h"

#include <sstream>

#include "config/host_config.h"
#include "host/offline_host.h"
#include "loader/plugin_loader.h"
#include "loader/store_loading.h"
#include "tandem/sdk/file_util.h"

namespace tandem::core {

sdk::Result<std::string> read_checked_secret(const std::filesystem::path& file, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto st = fs::status(file, ec);
  auto refuse = [&](const std::string& why) {
    return sdk::Error{what + " " + file.string() + " " + why, sdk::ErrorCode::invalid_config};
  };
  if (ec || !fs::exists(st)) return refuse("does not exist; create it with the token in it (mode 0600)");
  if (!fs::is_regular_file(st)) return refuse("is not a regular file; point " + what + " at a file holding the token");
  if ((st.permissions() & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none)
    return refuse("can be read by group or others; run: chmod 600 " + file.string());
  try {
    std::string token = sdk::read_secret_file(file);
    return token;
  } catch (const std::exception& e) {
    return refuse(std::string("cannot be used: ") + e.what());
  }
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
