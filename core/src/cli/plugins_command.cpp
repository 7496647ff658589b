// tandemctl plugins [describe NAME]: what the search dirs hold, and a plugin's schema.
#include <iomanip>
#include <ostream>

#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "tandem/sdk/config.h"

namespace tandem::cli {
namespace {

using nlohmann::json;

// The config's search dirs when the config can be read; the defaults otherwise
// (listing plugins must work before a config exists).
core::PluginLoader loader_for_listing(const GlobalOptions& global, std::ostream& err) {
  std::error_code ec;
  if (!std::filesystem::exists(global.config, ec)) {
    if (global.config_given)
      err << "note: " << global.config.string() << " does not exist; using the default plugin dirs\n";
    return core::PluginLoader();
  }
  auto loaded = core::load_host_config(global.config);
  if (auto* config = std::get_if<core::HostConfig>(&loaded)) return loader_for(*config);
  err << "note: " << global.config.string()
      << " has errors (see `tandemctl check-config`); using the default plugin dirs\n";
  return core::PluginLoader();
}

json schema_json(const sdk::ConfigSchema& schema) {
  json keys = json::array();
  for (const auto& k : schema) {
    json key = {{"name", k.name},
                {"type", std::string(sdk::to_string(k.type))},
                {"default", k.default_value},
                {"required", k.required},
                {"description", k.description}};
    // The allowed range and values, as the host checks them.
    if (!k.min.empty()) key["min"] = k.min;
    if (!k.max.empty()) key["max"] = k.max;
    if (!k.choices.empty()) key["choices"] = k.choices;
    if (k.secret) key["secret"] = true;
    if (!k.children.empty()) key["children"] = schema_json(k.children);
    keys.push_back(std::move(key));
  }
  return keys;
}

void print_schema(const sdk::ConfigSchema& schema, const std::string& indent, std::ostream& out) {
  for (const auto& k : schema) {
    out << std::left << indent << std::setw(24 - static_cast<int>(indent.size())) << k.name << std::setw(18)
        << sdk::to_string(k.type) << std::setw(14) << (k.default_value.empty() ? "-" : k.default_value) << std::setw(10)
        << (k.required ? "yes" : "no") << k.description << "\n";
    if (!k.children.empty()) print_schema(k.children, indent + "  ", out);
  }
}

}  // namespace

int run_plugins_list(const GlobalOptions& global, std::ostream& out, std::ostream& err) {
  core::PluginLoader loader = loader_for_listing(global, err);
  auto files = loader.discover();
  json list = json::array();
  int broken = 0;
  for (const auto& file : files) {
    auto manifest = loader.inspect(file);
    if (manifest)
      list.push_back({{"name", manifest->name},
                      {"version", manifest->version},
                      {"abi", manifest->abi_version},
                      {"sdk_version", manifest->sdk_version},
                      {"description", manifest->description},
                      {"path", manifest->path.string()}});
    else {
      ++broken;
      list.push_back({{"path", file.string()}, {"error", manifest.message()}});
    }
  }
  if (global.json) {
    out << json{{"search_dirs",
                 [&] {
                   json dirs = json::array();
                   for (auto& d : loader.search_dirs()) dirs.push_back(d.string());
                   return dirs;
                 }()},
                {"plugins", list}}
               .dump(2)
        << "\n";
    return broken ? 1 : 0;
  }
  if (files.empty()) {
    out << "no plugins (tandem-*.so) in:";
    for (auto& d : loader.search_dirs()) out << " " << d.string();
    out << "\n";
    return 0;
  }
  out << std::left << std::setw(26) << "NAME" << std::setw(10) << "VERSION" << std::setw(5) << "ABI"
      << "PATH\n";
  for (const auto& p : list) {
    if (p.contains("error")) continue;
    out << std::left << std::setw(26) << p["name"].get<std::string>() << std::setw(10)
        << p["version"].get<std::string>() << std::setw(5) << p["abi"].get<unsigned>() << p["path"].get<std::string>()
        << "\n";
  }
  for (const auto& p : list)
    if (p.contains("error")) err << "unusable: " << p["error"].get<std::string>() << "\n";
  return broken ? 1 : 0;
}

int run_plugins_describe(const GlobalOptions& global, const std::string& name, std::ostream& out, std::ostream& err) {
  core::PluginLoader loader = loader_for_listing(global, err);
  auto loaded = loader.load(name);
  if (!loaded) {
    err << loaded.message() << "\n";
    return 1;
  }
  auto info = loaded->plugin->info();
  auto schema = sdk::store_schema(*loaded->plugin);
  if (global.json) {
    json actions = json::array(), checks = json::array();
    for (auto& a : loaded->plugin->actions()) actions.push_back({{"name", a.name}, {"description", a.description}});
    for (auto& d : loaded->plugin->diagnostics()) checks.push_back({{"name", d.name}, {"description", d.description}});
    out << json{{"name", info.name},
                {"version", info.version},
                {"description", info.description},
                {"abi", loaded->manifest.abi_version},
                {"path", loaded->manifest.path.string()},
                {"failover_order", info.failover_order},
                {"schema", schema_json(schema)},
                {"diagnostics", checks},
                {"actions", actions}}
               .dump(2)
        << "\n";
    return 0;
  }
  out << info.name << " " << info.version << " (ABI " << loaded->manifest.abi_version << ") - " << info.description
      << "\n"
      << loaded->manifest.path.string() << "\n\n";
  out << std::left << std::setw(24) << "KEY" << std::setw(18) << "TYPE" << std::setw(14) << "DEFAULT" << std::setw(10)
      << "REQUIRED"
      << "DESCRIPTION\n";
  print_schema(schema, "", out);
  auto checks = loaded->plugin->diagnostics();
  if (!checks.empty()) {
    out << "\ndiagnostics (tandemctl diag STORE CHECK):\n";
    for (auto& d : checks) out << "  " << std::setw(22) << d.name << d.description << "\n";
  }
  auto actions = loaded->plugin->actions();
  if (!actions.empty()) {
    out << "\nactions (tandemctl action STORE ACTION):\n";
    for (auto& a : actions) out << "  " << std::setw(22) << a.name << a.description << "\n";
  }
  return 0;
}

}  // namespace tandem::cli
