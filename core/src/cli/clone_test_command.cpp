// tandemctl clone-test: a test instance made from the node it runs on (the
// secondary). Each store that offers the clone-test action (tandem/sdk/
// clone_test.h) copies itself under DIR/stores/NAME, in the order the status
// lists the stores; tandemctl then writes DIR/tandemd.toml for a node with
// role = "test" (never promotable, never a peer of the pair) from the store
// tables the actions returned, a new API token, and DIR/tandem-clone.json,
// which remembers the ports so that --refresh reuses them.

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "tandem/sdk/clone_test.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/net/free_port.h"
#include "tandem/sdk/net/url.h"

namespace tandem::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// A store table's value as TOML; only what the actions return (scalars and
// arrays of strings).
std::string toml_value(const json& v) {
  if (v.is_string()) return toml_string(v.get<std::string>());
  if (v.is_boolean() || v.is_number()) return v.dump();
  if (v.is_array()) {
    std::string out = "[";
    for (const auto& e : v) out += (out.size() > 1 ? ", " : "") + toml_value(e);
    return out + "]";
  }
  throw std::runtime_error("a store table value that is not a scalar or an array: " + v.dump());
}

std::string new_token() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  unsigned char bytes[24];
  in.read(reinterpret_cast<char*>(bytes), sizeof bytes);
  if (!in) throw std::runtime_error("cannot read /dev/urandom for the test node's API token");
  std::string out;
  char buf[3];
  for (unsigned char b : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

// "STORE=VALUE" options into a map; false (with a message) on a bad one.
bool per_store(const std::vector<std::string>& items, const char* flag, std::map<std::string, std::string>& out,
               std::ostream& err) {
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      err << flag << " '" << item << "' is not STORE=VALUE (e.g. " << flag << " db=/etc/tandem/mask.sql)\n";
      return false;
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return true;
}

std::optional<json> get_json(const DaemonEndpoint& base, const std::string& target, std::ostream& err) {
  sdk::net::Request req;
  req.target = target;
  auto res = base.request(req);
  if (!res) {
    err << "tandemd not answering at " << base.to_string() << ": " << res.message() << "\n";
    return std::nullopt;
  }
  json body = json::parse(res->body, nullptr, false);
  if (res->status != 200 || !body.is_object()) {
    err << "GET " << target << " answered HTTP " << res->status << ": " << res->body << "\n";
    return std::nullopt;
  }
  return body;
}

}  // namespace

int run_clone_test(const GlobalOptions& global, const CloneTestOptions& options, std::ostream& out, std::ostream& err) {
  if (options.target.empty()) {
    err << "clone-test needs --target DIR, the directory the test instance goes into\n";
    return 1;
  }
  const fs::path dir = fs::absolute(options.target).lexically_normal();
  std::map<std::string, std::string> mask_sql, mask_command;
  if (!per_store(options.mask_sql, "--mask-sql", mask_sql, err) ||
      !per_store(options.mask_command, "--mask-command", mask_command, err))
    return 1;
  for (const auto& [store, file] : mask_sql)
    if (!fs::is_regular_file(file)) {
      err << "--mask-sql " << store << "=" << file << ": no such file\n";
      return 1;
    }

  auto config = load_config_or_report(global.config, err);
  if (!config) return 1;
  auto base = daemon_url(global, options.url, err);
  if (!base) return 1;
  auto token = read_api_token(global, options.token_file, err);
  if (!token) return 1;
  auto status = get_json(*base, "/v1/status", err);
  if (!status) return 1;
  const json node = status->value("node", json::object());
  const std::string role = status->value("role", std::string());
  if (role == "test") {
    err << "this node is a test instance: clone the pair from its secondary, not from a clone\n";
    return 1;
  }
  if (role != "secondary" && !options.from_primary) {
    err << "this node is the " << (role.empty() ? "unknown role" : role)
        << ": run clone-test on the secondary, so the copy reads the standby and the primary does no extra work "
           "(or pass --from-primary to copy from here anyway)\n";
    return 1;
  }

  // The marker of an earlier clone: refresh keeps its ports.
  const fs::path marker = dir / sdk::kCloneMarkerFile;
  json previous = json::object();
  std::error_code ec;
  if (fs::exists(marker, ec)) {
    if (!options.refresh) {
      err << dir.string() << " already holds a test instance: pass --refresh to replace its data with a newer copy, "
          << "or choose another --target\n";
      return 1;
    }
    previous = json::parse(sdk::read_file(marker), nullptr, false);
    if (!previous.is_object()) previous = json::object();
  } else if (options.refresh) {
    err << "--refresh: " << dir.string() << " holds no test instance (" << sdk::kCloneMarkerFile << ")\n";
    return 1;
  } else if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    err << dir.string() << " is not empty: clone-test writes only into an empty or new directory\n";
    return 1;
  }
  fs::create_directories(dir / "stores", ec);
  if (ec) {
    err << "cannot create " << (dir / "stores").string() << ": " << ec.message() << "\n";
    return 1;
  }
  json ports = previous.value("ports", json::object());
  auto port_for = [&](const std::string& key) {
    if (!ports.contains(key)) ports[key] = sdk::net::free_loopback_port();
    return ports[key].get<int>();
  };

  out << (options.refresh ? "refreshing" : "making") << " a test instance of " << node.value("name", std::string("?"))
      << " in " << dir.string() << "\n";
  std::vector<std::pair<std::string, json>> tables;  // store name -> its table in the clone's tandemd.toml
  std::vector<std::string> stops, left_out;
  for (const auto& store : status->value("stores", json::array())) {
    const std::string name = store.value("name", std::string());
    const std::string plugin = store.value("plugin", std::string());
    auto detail = get_json(*base, "/v1/stores/" + sdk::net::encode_path_segment(name), err);
    if (!detail) return 1;
    bool offers = false;
    for (const auto& a : detail->value("actions", json::array()))
      offers = offers || a.value("name", std::string()) == sdk::kCloneTestAction;
    if (!offers) {
      if (mask_sql.count(name) || mask_command.count(name)) {
        err << "store '" << name << "' (" << plugin << ") cannot be cloned, so it cannot be masked: drop its "
            << "--mask option\n";
        return 1;
      }
      out << "  " << name << ": not cloned (" << plugin << " has no " << sdk::kCloneTestAction << " action)\n";
      left_out.push_back(name);
      continue;
    }
    sdk::CloneTestArgs args;
    args.dir = dir / "stores" / name;
    args.port = port_for(name);
    args.refresh = options.refresh && fs::exists(args.dir / sdk::kCloneMarkerFile, ec);
    if (mask_sql.count(name)) args.mask_sql = fs::absolute(mask_sql[name]);
    if (mask_command.count(name)) args.mask_command = mask_command[name];
    mask_sql.erase(name);
    mask_command.erase(name);
    out << "  " << name << ": copying (" << plugin << ", port " << args.port << ") ..." << std::flush;
    const auto started = std::chrono::steady_clock::now();
    auto res =
        post_to_daemon(*base, "/v1/stores/" + sdk::net::encode_path_segment(name) + "/actions/" + sdk::kCloneTestAction,
                       args.to_json().dump(), *token,
                       std::chrono::milliseconds(static_cast<long>(options.timeout_seconds * 1000)), err);
    if (!res) return 1;
    json body = json::parse(res->body, nullptr, false);
    if (res->status < 200 || res->status >= 300 || !body.is_object()) {
      out << " failed\n";
      err << "store '" << name << "': clone-test refused (HTTP " << res->status
          << "): " << (body.is_object() ? body.value("error", res->body) : res->body) << "\n";
      if (!stops.empty()) {
        err << "the stores copied so far keep running; stop them with:\n";
        for (const auto& s : stops) err << "  " << s << "\n";
      }
      return 1;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    out << " done in " << human_seconds(seconds) << ": " << body.value("summary", std::string()) << "\n";
    if (body.contains("stop") && body["stop"].is_string() && !body["stop"].get<std::string>().empty())
      stops.push_back(body["stop"].get<std::string>());
    if (body.contains("store") && body["store"].is_object()) {
      json table = body["store"];
      table["plugin"] = plugin;
      tables.emplace_back(name, table);
    }
  }
  for (const auto& [store, _] : mask_sql) {
    err << "--mask-sql names store '" << store << "', which this node does not have\n";
    return 1;
  }
  for (const auto& [store, _] : mask_command) {
    err << "--mask-command names store '" << store << "', which this node does not have\n";
    return 1;
  }

  // The test node's own files: its config, token, and the marker.
  const fs::path token_file = dir / "api-token";
  if (!fs::exists(token_file, ec)) sdk::atomic_write_file(token_file, new_token() + "\n", 0600);
  const int api_port = port_for("api");
  std::ostringstream toml;
  toml << "# A tandem test instance, made by `tandemctl clone-test` from " << node.value("name", std::string("?"))
       << ".\n# Never promotable and never a peer of the pair (docs/operations.md, test instance).\n"
       << "[node]\nname = " << toml_string(node.value("name", std::string("node")) + "-test") << "\n"
       << "address = \"127.0.0.1\"\nrole = \"test\"\n"
       << "data_dir = " << toml_string((dir / "tandem").string()) << "\n\n"
       << "[api]\nlisten = " << toml_string("127.0.0.1:" + std::to_string(api_port)) << "\n"
       << "token_file = " << toml_string(token_file.string()) << "\n";
  if (!config->plugins.search_dirs.empty()) {
    toml << "\n[plugins]\nsearch_dirs = [";
    for (std::size_t i = 0; i < config->plugins.search_dirs.size(); ++i)
      toml << (i ? ", " : "") << toml_string(fs::absolute(config->plugins.search_dirs[i]).string());
    toml << "]\n";
  }
  for (const auto& [name, table] : tables) {
    toml << "\n[stores." << toml_string(name) << "]\n";
    toml << "plugin = " << toml_value(table["plugin"]) << "\n";
    for (const auto& [key, value] : table.items())
      if (key != "plugin" && !value.is_null()) toml << key << " = " << toml_value(value) << "\n";
  }
  fs::create_directories(dir / "tandem", ec);
  sdk::atomic_write_file(dir / "tandemd.toml", toml.str(), 0600);
  json marker_body{
      {"source_node", node.value("name", std::string())}, {"ports", ports}, {"stop", stops}, {"left_out", left_out}};
  if (auto written = sdk::write_clone_marker(dir, marker_body); !written.ok()) {
    err << written.message() << "\n";
    return 1;
  }
  out << "the test node's config: " << (dir / "tandemd.toml").string() << "\n"
      << "run it with:            tandemd --config " << (dir / "tandemd.toml").string() << "\n"
      << "its API:                http://127.0.0.1:" << api_port << " (token in " << token_file.string() << ")\n";
  if (!stops.empty()) {
    out << "stop the copies with:\n";
    for (const auto& s : stops) out << "  " << s << "\n";
  }
  if (global.json)
    out << json{{"dir", dir.string()}, {"config", (dir / "tandemd.toml").string()}, {"ports", ports}}.dump() << "\n";
  return 0;
}

}  // namespace tandem::cli
