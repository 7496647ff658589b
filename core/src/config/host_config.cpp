// Parsing and checking the host part of tandemd's TOML file. Every problem is
// collected as "file:line:col: what; what to do" and all are reported at once.
#include "config/host_config.h"

#include <algorithm>
#include <optional>

#include "config/listen_address.h"
#include "config/store_names.h"
#include "config/toml_support.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/net/http_client.h"

namespace tandem::core {

std::string ConfigErrors::joined() const {
  std::string out;
  for (const auto& m : messages) out += m + "\n";
  return out;
}

namespace {

using namespace config_detail;

// Reads one [section] of the host config, recording every problem.
class SectionReader {
 public:
  SectionReader(const toml::table& table, std::string section, const std::string& file,
                std::vector<std::string>& errors)
      : table_(table), section_(std::move(section)), file_(file), errors_(errors) {}

  // Unknown keys and inline secrets; call once with every key the section takes.
  void check_keys(const std::vector<std::string>& known) {
    for (auto&& [key, value] : table_) {
      std::string k(key.str());
      if (std::find(known.begin(), known.end(), k) != known.end()) continue;
      if (is_inline_secret_key(k) && value.is_string()) {
        error(location(key, file_), "[" + section_ + "] key '" + k + "' holds a secret inline; " + secret_hint(k));
        continue;
      }
      error(location(key, file_), "unknown key '" + k + "' in [" + section_ + "]" + unknown_key_hint(k, known));
    }
  }

  std::optional<std::string> string(const std::string& key, bool required, const std::string& what_to_write) {
    const toml::node* node = table_.get(key);
    if (!node) {
      if (required)
        error(location(table_, file_),
              "[" + section_ + "] is missing required key '" + key + "'; add " + key + " = " + what_to_write);
      return std::nullopt;
    }
    if (!node->is_string()) {
      error(location(*node, file_), "[" + section_ + "] key '" + key + "' must be a string, got " +
                                        std::string(type_name(*node)) + "; write " + key + " = " + what_to_write);
      return std::nullopt;
    }
    std::string value = node->as_string()->get();
    if (value.empty() && required) {
      error(location(*node, file_),
            "[" + section_ + "] key '" + key + "' is empty; write " + key + " = " + what_to_write);
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const std::string& key) {
    const toml::node* node = table_.get(key);
    if (!node) return std::nullopt;
    if (!node->is_boolean()) {
      error(location(*node, file_),
            "[" + section_ + "] key '" + key + "' must be true or false, got " + std::string(type_name(*node)));
      return std::nullopt;
    }
    return node->as_boolean()->get();
  }

  std::optional<std::vector<std::string>> strings(const std::string& key) {
    const toml::node* node = table_.get(key);
    if (!node) return std::nullopt;
    const toml::array* array = node->as_array();
    bool ok = array != nullptr;
    if (array)
      for (auto&& element : *array) ok = ok && element.is_string();
    if (!ok) {
      error(location(*node, file_), "[" + section_ + "] key '" + key + "' must be an array of strings, e.g. " + key +
                                        " = [\"/usr/lib/tandem/plugins\"]");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (auto&& element : *array) out.push_back(element.as_string()->get());
    return out;
  }

  // A path key: resolved against `base`, with where it was written.
  std::optional<ConfiguredFile> file(const std::string& key, const std::filesystem::path& base,
                                     const std::string& what_to_write) {
    auto v = string(key, false, what_to_write);
    if (!v) return std::nullopt;
    if (v->empty()) {
      error(location(*node(key), file_), "[" + section_ + "] key '" + key + "' is empty; write " + key + " = " +
                                             what_to_write + " or remove the key");
      return std::nullopt;
    }
    return ConfiguredFile{resolve_path(base, *v), location(*node(key), file_)};
  }
  // Where `key` is, or the section when it is absent.
  std::string where(const std::string& key) const {
    const toml::node* n = node(key);
    return n ? location(*n, file_) : location(table_, file_);
  }

  const toml::node* node(const std::string& key) const { return table_.get(key); }
  void error(const std::string& where, const std::string& message) { errors_.push_back(where + ": " + message); }

 private:
  const toml::table& table_;
  std::string section_;
  const std::string& file_;
  std::vector<std::string>& errors_;
};

const toml::table* section(const toml::table& root, const std::string& name, bool required, const std::string& file,
                           const std::string& hint, std::vector<std::string>& errors) {
  const toml::node* node = root.get(name);
  if (!node) {
    if (required) errors.push_back(file + ":1:1: missing [" + name + "] table; " + hint);
    return nullptr;
  }
  if (!node->is_table()) {
    errors.push_back(location(*node, file) + ": '" + name + "' must be a table ([" + name + "]), got " +
                     std::string(type_name(*node)));
    return nullptr;
  }
  return node->as_table();
}

void read_node(const toml::table& root, const std::string& file, const std::filesystem::path& base, HostConfig& out,
               std::vector<std::string>& errors) {
  const toml::table* t = section(root, "node", true, file, "add [node] with name, address, role and data_dir", errors);
  if (!t) return;
  SectionReader r(*t, "node", file, errors);
  r.check_keys({"name", "address", "role", "data_dir"});
  if (auto v = r.string("name", true, "\"alpha\" (this node's name)")) out.node.name = *v;
  if (auto v = r.string("address", true, "\"10.0.0.1\" (how the peer reaches this node)")) out.node.address = *v;
  if (auto v = r.string("role", true, "\"primary\" or \"secondary\" (or \"test\" for a clone of the pair)")) {
    if (*v == "primary") {
      out.node.initial_role = sdk::Role::primary;
    } else if (*v == "secondary") {
      out.node.initial_role = sdk::Role::secondary;
    } else if (*v == "test") {
      // The clone's stores hold its own writable copies: to them it is a lone primary.
      out.node.initial_role = sdk::Role::primary;
      out.node.test_instance = true;
    } else {
      r.error(location(*r.node("role"), file), "[node] role '" + *v +
                                                   "' is not a role; expected \"primary\" or \"secondary\" (a node "
                                                   "of the pair) or \"test\" (a clone made by tandemctl clone-test)");
    }
  }
  if (auto v = r.string("data_dir", true, "\"/var/lib/tandem\" (role, epoch and store state live there)"))
    out.node.data_dir = resolve_path(base, *v);
}

void read_peer(const toml::table& root, const std::string& file, const std::filesystem::path& base, HostConfig& out,
               std::vector<std::string>& errors) {
  if (out.node.test_instance) {
    // A test node that could reach the pair's API could be taken for its peer
    // (fencing, switchover, notify_peer) or send the pair its writes.
    if (const toml::node* peer = root.get("peer"))
      errors.push_back(location(*peer, file) +
                       ": [peer] on a test node ([node] role = \"test\"): a test instance is never a peer of the pair, "
                       "so that nothing done on it reaches the pair's nodes; remove the [peer] table");
    return;
  }
  const toml::table* t =
      section(root, "peer", true, file, "add [peer] with name, address and api_url of the other node", errors);
  if (!t) return;
  SectionReader r(*t, "peer", file, errors);
  r.check_keys(
      {"name", "address", "api_url", "token_file", "ca_file", "tls_cert_file", "tls_key_file", "allow_insecure_peer"});
  if (auto v = r.string("name", true, "\"beta\" (the other node's name)")) out.peer.name = *v;
  if (auto v = r.string("address", true, "\"10.0.0.2\" (the other node's address)")) out.peer.address = *v;
  std::optional<sdk::net::Url> url;
  if (auto v = r.string("api_url", true, "\"https://10.0.0.2:7480\" (the other node's tandemd API)")) {
    // The client's own test: the check accepts exactly the URLs the peer
    // monitor and the failover peer can use.
    if (auto parsed = sdk::net::parse_reachable_url(*v)) {
      url = *parsed;
      out.peer.api_url = parsed->to_string();
    } else {
      r.error(location(*r.node("api_url"), file), "[peer] api_url " + parsed.message());
    }
  }
  if (auto v = r.string("token_file", false, "\"/etc/tandem/peer-token\""))
    out.peer.token_file = resolve_path(base, *v);
  out.peer.ca_file = r.file("ca_file", base, "\"/etc/tandem/tls/ca.pem\"");
  out.peer.tls_cert_file = r.file("tls_cert_file", base, "\"/etc/tandem/tls/node.pem\"");
  out.peer.tls_key_file = r.file("tls_key_file", base, "\"/etc/tandem/tls/node.key\"");
  if (auto v = r.boolean("allow_insecure_peer")) out.peer.allow_insecure_peer = *v;
  if (out.peer.tls_cert_file.has_value() != out.peer.tls_key_file.has_value())
    r.error(r.where(out.peer.tls_cert_file ? "tls_cert_file" : "tls_key_file"),
            "[peer] tls_cert_file and tls_key_file go together (this node's client certificate and its key); set "
            "both or neither");
  if (!url) return;
  if (url->scheme == sdk::net::Scheme::http) {
    for (const char* key : {"ca_file", "tls_cert_file", "tls_key_file"})
      if (r.node(key))
        r.error(r.where(key), std::string("[peer] ") + key + " is set but api_url '" + url->to_string() +
                                  "' is http://, so no TLS is spoken; write api_url = \"https://...\"");
    // A token in clear on a network anyone there can read is a token given away.
    if (out.peer.token_file && !sdk::net::is_loopback_host(url->host) && !out.peer.allow_insecure_peer)
      r.error(r.where("api_url"),
              "[peer] api_url '" + url->to_string() +
                  "' would send the peer token (token_file) in clear to a non-loopback address; enable TLS: on "
                  "the peer set [api] tls_cert_file and tls_key_file, here write api_url = \"https://" +
                  url->authority() + url->path +
                  "\" and [peer] ca_file = the CA that signed the peer's certificate (or, on a network only the "
                  "pair can see, set [peer] allow_insecure_peer = true)");
  }
}

// One [api] key of `keys`: nullopt when absent or wrong (the error recorded).
std::optional<nlohmann::json> api_key(const toml::table& t, const sdk::ConfigSchema& keys, const std::string& name,
                                      const std::string& file, std::vector<std::string>& errors) {
  auto key = std::find_if(keys.begin(), keys.end(), [&](const sdk::ConfigKey& k) { return k.name == name; });
  const toml::node* node = t.get(name);
  if (!node || key == keys.end()) return std::nullopt;
  nlohmann::json value = to_json(*node);
  if (auto st = sdk::check_value(*key, value); !st.ok()) {
    errors.push_back(location(*node, file) + ": [api] key '" + name + "': " + st.message());
    return std::nullopt;
  }
  return value;
}

// A duration key's value, checked by api_key: integer seconds or a string with a unit.
std::chrono::milliseconds duration_value(const nlohmann::json& v) {
  if (v.is_number_integer()) return std::chrono::seconds(v.get<std::int64_t>());
  auto parsed = sdk::parse_duration(v.get<std::string>());
  return parsed ? *parsed : std::chrono::milliseconds(0);
}

void read_api_limits(const toml::table& t, const std::string& file, ApiLimits& out, std::vector<std::string>& errors) {
  auto integer = [&](const char* name, int& field) {
    if (auto v = api_key(t, api_limit_keys(), name, file, errors)) field = v->get<int>();
  };
  auto duration = [&](const char* name, std::chrono::milliseconds& field) {
    if (auto v = api_key(t, api_limit_keys(), name, file, errors)) field = duration_value(*v);
  };
  integer("max_connections", out.connections.max_connections);
  integer("max_connections_per_address", out.connections.per_address);
  integer("reserved_connections", out.connections.reserved);
  duration("header_timeout", out.header_timeout);
  duration("body_timeout", out.body_timeout);
  // Between keys: each alone may be in range while the pair is not.
  auto where = [&](const char* name) {
    const toml::node* n = t.get(name);
    return n ? location(*n, file) : location(t, file);
  };
  const AdmissionLimits& c = out.connections;
  if (c.reserved >= c.max_connections)
    errors.push_back(where("reserved_connections") + ": [api] reserved_connections (" + std::to_string(c.reserved) +
                     ") must be less than max_connections (" + std::to_string(c.max_connections) +
                     "): the rest is what clients without the token may use");
  if (c.per_address > c.max_connections)
    errors.push_back(where("max_connections_per_address") + ": [api] max_connections_per_address (" +
                     std::to_string(c.per_address) + ") cannot exceed max_connections (" +
                     std::to_string(c.max_connections) + ")");
}

void read_api(const toml::table& root, const std::string& file, const std::filesystem::path& base, HostConfig& out,
              std::vector<std::string>& errors) {
  const toml::table* t = section(root, "api", false, file, "", errors);
  if (!t) return;
  SectionReader r(*t, "api", file, errors);
  std::vector<std::string> keys = {"listen", "token_file", "tls_cert_file", "tls_key_file", "tls_client_ca_file"};
  for (const auto* schema : {&api_limit_keys(), &api_dashboard_keys()})
    for (const auto& k : *schema) keys.push_back(k.name);
  r.check_keys(keys);
  if (auto v = r.string("listen", false, "\"127.0.0.1:7480\"")) {
    auto parsed = parse_listen_address(*v);
    if (parsed) {
      out.api.bind_address = parsed->host;
      out.api.port = parsed->port;
    } else {
      r.error(location(*r.node("listen"), file),
              "[api] listen '" + *v + "' is not a listen address (" + parsed.message() +
                  "); expected host:port, e.g. \"127.0.0.1:7480\" or \"[::1]:7480\"");
    }
  }
  if (auto v = r.string("token_file", false, "\"/etc/tandem/api-token\"")) out.api.token_file = resolve_path(base, *v);
  out.api.tls_cert_file = r.file("tls_cert_file", base, "\"/etc/tandem/tls/node.pem\"");
  out.api.tls_key_file = r.file("tls_key_file", base, "\"/etc/tandem/tls/node.key\"");
  out.api.tls_client_ca_file = r.file("tls_client_ca_file", base, "\"/etc/tandem/tls/ca.pem\"");
  if (out.api.tls_cert_file.has_value() != out.api.tls_key_file.has_value())
    r.error(r.where(out.api.tls_cert_file ? "tls_cert_file" : "tls_key_file"),
            "[api] tls_cert_file and tls_key_file go together (the API's certificate and its key); set both or "
            "neither");
  if (out.api.tls_client_ca_file && !out.api.tls_cert_file)
    r.error(r.where("tls_client_ca_file"),
            "[api] tls_client_ca_file requires HTTPS: set tls_cert_file and tls_key_file too");
  read_api_limits(*t, file, out.api.limits, errors);
  if (auto v = api_key(*t, api_dashboard_keys(), "history_interval", file, errors))
    out.api.dashboard.history_interval = duration_value(*v);
  if (auto v = api_key(*t, api_dashboard_keys(), "dashboard_actions", file, errors))
    out.api.dashboard.actions = v->get<bool>();
}

void read_plugins(const toml::table& root, const std::string& file, const std::filesystem::path& base, HostConfig& out,
                  std::vector<std::string>& errors) {
  const toml::table* t = section(root, "plugins", false, file, "", errors);
  if (!t) return;
  SectionReader r(*t, "plugins", file, errors);
  r.check_keys({"search_dirs"});
  if (auto dirs = r.strings("search_dirs"))
    for (const auto& d : *dirs) out.plugins.search_dirs.push_back(resolve_path(base, d));
}

// A plugin given as a path (contains '/' or ends in .so) is resolved against
// the file's directory; a type name is kept as written.
std::string resolve_plugin(const std::filesystem::path& base, const std::string& plugin) {
  bool is_path =
      plugin.find('/') != std::string::npos || (plugin.size() > 3 && plugin.compare(plugin.size() - 3, 3, ".so") == 0);
  return is_path ? resolve_path(base, plugin).string() : plugin;
}

void read_stores(const std::shared_ptr<const toml::table>& root, const std::string& file,
                 const std::filesystem::path& base, HostConfig& out, std::vector<std::string>& errors) {
  const toml::table* stores = section(*root, "stores", false, file, "", errors);
  if (!stores) return;
  for (auto&& [key, value] : *stores) {
    std::string name(key.str());
    const toml::table* t = value.as_table();
    if (!t) {
      errors.push_back(location(value, file) + ": stores." + name + " must be a table ([stores." + name +
                       "] with plugin = \"...\" and the plugin's keys), got " + std::string(type_name(value)));
      continue;
    }
    SectionReader r(*t, "stores." + name, file, errors);
    StoreEntry entry;
    entry.name = name;
    entry.location = location(*t, file);
    // Shares ownership of the whole document: copying a toml++ node would
    // drop the source positions every later message needs.
    entry.table = std::shared_ptr<const toml::table>(root, t);
    auto plugin = r.string("plugin", true, "\"<plugin type>\" (e.g. \"config-rsync\") or a path to a .so");
    if (auto enabled = r.boolean("enabled")) entry.enabled = *enabled;
    if (!plugin) continue;
    entry.plugin = resolve_plugin(base, *plugin);
    out.stores.push_back(std::move(entry));
  }
}

void check_top_level(const toml::table& root, const std::string& file, std::vector<std::string>& errors) {
  static const std::vector<std::string> known = {"node",  "peer",   "api",      "plugins",
                                                 "hooks", "stores", "failover", "dcs"};
  for (auto&& [key, value] : root) {
    std::string k(key.str());
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string hint = unknown_key_hint(k, known);
    if (hint.rfind("; did you mean", 0) != 0)
      hint = "; expected one of [node], [peer], [api], [plugins], [hooks], [stores.NAME], [failover], [dcs]";
    errors.push_back(location(key, file) + ": unknown top-level key '" + k + "'" + hint);
  }
}

std::variant<HostConfig, ConfigErrors> check_document(std::shared_ptr<const toml::table> root, const std::string& file,
                                                      const std::filesystem::path& base) {
  HostConfig config;
  config.source = file;
  std::vector<std::string> errors;
  check_top_level(*root, file, errors);
  read_node(*root, file, base, config, errors);
  read_peer(*root, file, base, config, errors);
  read_api(*root, file, base, config, errors);
  read_plugins(*root, file, base, config, errors);
  if (const toml::table* hooks = section(*root, "hooks", false, file, "", errors))
    read_hooks_table(*hooks, file, base, config.hooks, errors);
  read_stores(root, file, base, config, errors);
  read_failover_tables(*root, file, base, config.failover, config.dcs, errors);
  if (config.node.test_instance && config.failover.mode == FailoverMode::automatic)
    errors.push_back(config.failover.location +
                     ": [failover] mode = \"automatic\" on a test node ([node] role = \"test\"): a test instance "
                     "never fails over and takes no part in the pair's leader election; remove mode or write mode = "
                     "\"manual\"");
  for (auto& m : check_store_set(config)) errors.push_back(std::move(m));
  if (!errors.empty()) return ConfigErrors{std::move(errors)};
  return config;
}

std::variant<HostConfig, ConfigErrors> parse_text(std::string_view text, const std::string& file,
                                                  const std::filesystem::path& base) {
  try {
    auto root = std::make_shared<toml::table>(toml::parse(text, file));
    return check_document(std::move(root), file, base);
  } catch (const toml::parse_error& e) {
    return ConfigErrors{{location(e.source(), file) + ": TOML syntax error: " + std::string(e.description()) +
                         "; fix the file at that position"}};
  }
}

}  // namespace

const sdk::ConfigSchema& api_limit_keys() {
  using sdk::ValueType;
  const ApiLimits d;
  auto ms = [](std::chrono::milliseconds v) {
    return v.count() % 1000 == 0 ? std::to_string(v.count() / 1000) + "s" : std::to_string(v.count()) + "ms";
  };
  static const sdk::ConfigSchema keys = {
      {.name = "max_connections",
       .type = ValueType::integer,
       .default_value = std::to_string(d.connections.max_connections),
       .description =
           "open API connections at most; when full, an idle one of the address holding most is closed for a newcomer",
       .min = "8",
       .max = "100000"},
      {.name = "max_connections_per_address",
       .type = ValueType::integer,
       .default_value = std::to_string(d.connections.per_address),
       .description = "connections from one client address at most (its idle ones make room first)",
       .min = "1",
       .max = "100000"},
      {.name = "reserved_connections",
       .type = ValueType::integer,
       .default_value = std::to_string(d.connections.reserved),
       .description = "of max_connections, kept for the [peer] address and requests with the API token",
       .min = "0",
       .max = "99999"},
      {.name = "header_timeout",
       .type = ValueType::duration,
       .default_value = ms(d.header_timeout),
       .description = "waiting for a request (keep-alive idle included) until its headers are complete",
       .min = "100ms",
       .max = "10m"},
      {.name = "body_timeout",
       .type = ValueType::duration,
       .default_value = ms(d.body_timeout),
       .description = "from a request's headers to the end of its body",
       .min = "100ms",
       .max = "1h"},
  };
  return keys;
}

const sdk::ConfigSchema& api_dashboard_keys() {
  using sdk::ValueType;
  const DashboardSettings d;
  static const sdk::ConfigSchema keys = {
      {.name = "history_interval",
       .type = ValueType::duration,
       .default_value =
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d.history_interval).count()) + "s",
       .description = "how often a sample of role, epoch and each store's health and lag is kept for "
                      "GET /v1/history/samples (360 are kept: one hour at 10s)",
       .min = "1s",
       .max = "10m"},
      {.name = "dashboard_actions",
       .type = ValueType::boolean,
       .default_value = d.actions ? "true" : "false",
       .description = "the dashboard (GET /ui) offers switchover, promote, rejoin, pause and resume buttons; "
                      "each still needs the API token typed into the page and confirms its dry run first"},
  };
  return keys;
}

std::variant<HostConfig, ConfigErrors> load_host_config(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    return ConfigErrors{{file.string() + ": cannot read the config file (" +
                         (std::filesystem::exists(file, ec) ? "not a regular file" : "no such file") +
                         "); pass an existing file with --config or set TANDEM_CONFIG"}};
  std::string text;
  try {
    text = sdk::read_file(file);
  } catch (const std::exception& e) {
    return ConfigErrors{{file.string() + ": cannot read the config file: " + e.what()}};
  }
  auto base = std::filesystem::absolute(file, ec).parent_path();
  return parse_text(text, file.string(), base);
}

std::variant<HostConfig, ConfigErrors> parse_host_config(std::string_view toml_text, const std::string& source_name) {
  std::error_code ec;
  auto base = std::filesystem::absolute(std::filesystem::path(source_name), ec).parent_path();
  return parse_text(toml_text, source_name, base);
}

}  // namespace tandem::core
