// tandemctl check-config FILE: the host part, then every store through its
// plugin's schema and configure() (which touches nothing), all errors at once.
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "cli/offline_host.h"
#include "loader/store_loading.h"

namespace tandem::cli {

int run_check_config(const GlobalOptions& global, const std::filesystem::path& file, std::ostream& out,
                     std::ostream& err) {
  std::vector<std::string> errors;
  auto loaded = core::load_host_config(file);
  std::size_t store_count = 0;
  if (auto* host_errors = std::get_if<core::ConfigErrors>(&loaded)) {
    errors = host_errors->messages;
  } else {
    const auto& config = std::get<core::HostConfig>(loaded);
    store_count = config.stores.size();
    core::PluginLoader loader = loader_for(config);
    for (const auto& entry : config.stores) {
      OfflineHostContext host(config, entry.name);
      auto store = core::load_store(entry, loader, host);
      if (store) continue;
      // Schema errors of one store come joined by newlines: one problem per line.
      std::stringstream lines(store.message());
      for (std::string line; std::getline(lines, line);)
        if (!line.empty()) errors.push_back(line);
    }
  }
  if (global.json) {
    out << nlohmann::json{{"file", file.string()}, {"ok", errors.empty()}, {"stores", store_count}, {"errors", errors}}
               .dump(2)
        << "\n";
  } else if (errors.empty()) {
    out << file.string() << ": OK, " << store_count << (store_count == 1 ? " store" : " stores") << "\n";
  } else {
    for (const auto& e : errors) err << e << "\n";
    err << file.string() << ": " << errors.size() << (errors.size() == 1 ? " problem" : " problems") << "\n";
  }
  return errors.empty() ? 0 : 1;
}

}  // namespace tandem::cli
