// tandemctl diag STORE [CHECK] [ARGS...]: loads the store's plugin itself, so
// it works with the daemon stopped, and runs the plugin's named checks.
#include <ostream>

#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "host/offline_host.h"
#include "loader/store_loading.h"

namespace tandem::cli {
namespace {

using nlohmann::json;

std::string store_names(const core::HostConfig& config) {
  std::string names;
  for (const auto& s : config.stores) names += (names.empty() ? "" : ", ") + s.name;
  return names.empty() ? "(none)" : names;
}

}  // namespace

int run_diag(const GlobalOptions& global, const DiagOptions& options, std::ostream& out, std::ostream& err) {
  auto config = load_config_or_report(global.config, err);
  if (!config) return 1;
  const core::StoreEntry* entry = nullptr;
  for (const auto& s : config->stores)
    if (s.name == options.store) entry = &s;
  if (!entry) {
    err << "no store '" << options.store << "' in " << global.config.string() << "; stores: " << store_names(*config)
        << "\n";
    return 1;
  }
  core::OfflineHostContext host(*config, entry->name);
  auto store = core::load_store(*entry, loader_for(*config), host);
  if (!store) {
    err << store.message() << "\n";
    return 1;
  }
  sdk::Plugin& plugin = *store->loaded.plugin;
  auto checks = plugin.diagnostics();

  if (options.check.empty() && !options.all) {
    if (global.json) {
      json list = json::array();
      for (auto& c : checks) list.push_back({{"name", c.name}, {"description", c.description}});
      out << list.dump(2) << "\n";
    } else if (checks.empty()) {
      out << "store '" << entry->name << "' (" << store->loaded.manifest.name << ") offers no diagnostics\n";
    } else {
      out << "checks of store '" << entry->name << "' (" << store->loaded.manifest.name
          << "); run one with `tandemctl diag " << entry->name << " CHECK` or all with --all:\n";
      for (auto& c : checks) out << "  " << c.name << " - " << c.description << "\n";
    }
    return 0;
  }

  std::vector<std::string> to_run;
  if (options.all) {
    for (auto& c : checks) to_run.push_back(c.name);
  } else {
    bool known = false;
    for (auto& c : checks) known = known || c.name == options.check;
    if (!known) {
      std::string names;
      for (auto& c : checks) names += (names.empty() ? "" : ", ") + c.name;
      err << "store '" << entry->name << "' has no check '" << options.check
          << "'; its checks: " << (names.empty() ? "(none)" : names) << "\n";
      return 1;
    }
    to_run.push_back(options.check);
  }

  bool all_passed = true;
  json results = json::array();
  for (const auto& name : to_run) {
    auto result = plugin.diagnose(name, options.args);
    bool passed = result.ok() && result->passed;
    all_passed = all_passed && passed;
    std::string output = result.ok() ? result->output : result.message();
    if (global.json) {
      results.push_back({{"check", name},
                         {"passed", passed},
                         {"output", output},
                         {"details", result.ok() ? result->details : json::object()}});
    } else {
      out << "== " << name << ": " << (passed ? "PASSED" : "FAILED") << "\n";
      if (!output.empty()) out << output << (output.back() == '\n' ? "" : "\n");
    }
  }
  if (global.json) out << results.dump(2) << "\n";
  return all_passed ? 0 : 1;
}

}  // namespace tandem::cli
