// tandemd's TOML file: [node], [peer], [api], [plugins] and one
// [stores.NAME] table per store instance.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "config/api_limits.h"
#include "config/dashboard_settings.h"
#include "config/failover_config.h"
#include "config/hooks_config.h"
#include "tandem/sdk/config.h"
#include "tandem/sdk/host_context.h"
#include "tandem/sdk/result.h"

namespace tandem::core {

struct NodeConfig {
  std::string name;
  std::string address;                            // as the peer reaches it; key on the replication page
  sdk::Role initial_role = sdk::Role::secondary;  // persisted state wins after the first start
  std::filesystem::path data_dir;                 // role, epoch, failover journal, per-store state
  // role = "test": a third node cloned from the pair (`tandemctl clone-test`)
  // to try patches on. Its stores run as a lone primary's; it has no [peer],
  // is never promoted, switched over or rejoined, and never fails over.
  bool test_instance = false;
};

// A file named in the config and where ("file:line:col" of its key), so the
// checks of what it holds (a certificate, a key) can point at the key.
struct ConfiguredFile {
  std::filesystem::path path;  // resolved against the config file's directory
  std::string where;
};

struct PeerConfig {
  std::string name;
  std::string address;
  std::string api_url;                              // e.g. "http://127.0.0.1:7481" or "https://10.0.0.2:7480"
  std::optional<std::filesystem::path> token_file;  // bearer token for the peer's API
  // https api_url: the CA the peer's certificate must chain to (none: the
  // system's trust store) and this node's client certificate (mutual TLS).
  std::optional<ConfiguredFile> ca_file;
  std::optional<ConfiguredFile> tls_cert_file;
  std::optional<ConfiguredFile> tls_key_file;
  // Lets a token go in clear to a non-loopback http:// api_url (refused otherwise).
  bool allow_insecure_peer = false;
};

// Read from [api] listen = "HOST:PORT" (IPv4, "localhost" -> 127.0.0.1, or
// "[v6]:PORT"; see config/listen_address.h). bind_address is an IP literal
// without brackets.
struct ApiConfig {
  std::string bind_address = "127.0.0.1";  // loopback unless configured
  std::uint16_t port = 7480;
  std::optional<std::filesystem::path> token_file;  // required for mutating endpoints
  ApiLimits limits;                                 // max_connections, ..., header_timeout, body_timeout
  DashboardSettings dashboard;                      // history_interval
  // HTTPS: this node's certificate and key (both or neither); with
  // tls_client_ca_file every client must present a certificate it signed.
  std::optional<ConfiguredFile> tls_cert_file;
  std::optional<ConfiguredFile> tls_key_file;
  std::optional<ConfiguredFile> tls_client_ca_file;
};

// The [api] keys for connection limits and request deadlines, as schema data
// (type, default, bounds): read with the SDK's one value check, and listed
// by the docs test.
const sdk::ConfigSchema& api_limit_keys();
// The [api] keys of the dashboard and its samples (history_interval), as schema data.
const sdk::ConfigSchema& api_dashboard_keys();

struct PluginsConfig {
  std::vector<std::filesystem::path> search_dirs;  // empty: build-tree and install dirs
};

// One [stores.NAME] table, not yet validated against its plugin's schema.
struct StoreEntry {
  std::string name;
  std::string plugin;  // plugin type ("postgres-wal") or a path to a .so
  bool enabled = true;
  std::string location;                      // "file:line:col" of the table
  std::shared_ptr<const toml::table> table;  // the raw table (host keys included)
};

struct HostConfig {
  std::filesystem::path source;  // the file this was read from
  NodeConfig node;
  PeerConfig peer;
  ApiConfig api;
  PluginsConfig plugins;
  HooksConfig hooks;
  std::vector<StoreEntry> stores;
  FailoverSettings failover;     // [failover]: manual unless mode = "automatic"
  std::optional<DcsConfig> dcs;  // [dcs]: the etcd cluster of automatic failover
};

// Errors are collected, not stopped at the first: each entry is one line
// "file:line:col: what is wrong; what was expected / did you mean 'x'?".
struct ConfigErrors {
  std::vector<std::string> messages;
  std::string joined() const;  // one per line
};

// [node] and [peer] are required (a node of the pair always has a peer; a
// test node, role = "test", must have none); [api], [plugins]
// and [stores] are optional. Relative paths (data_dir, token_file,
// search_dirs, a store's plugin given as a path) are resolved against the
// file's directory. check_store_set() runs as part of loading.
// Parse and check the host part of the file (every key of [node], [peer],
// [api], [plugins], and the host keys of each store table: plugin, enabled).
// Plugin keys are checked later by validate_store_table.
std::variant<HostConfig, ConfigErrors> load_host_config(const std::filesystem::path& file);
std::variant<HostConfig, ConfigErrors> parse_host_config(std::string_view toml_text, const std::string& source_name);

// Check a store table against its plugin's schema: unknown keys (with the
// nearest known key suggested), wrong types, missing required keys,
// malformed durations/sizes, inline secrets. Returns the StoreConfig handed
// to Plugin::configure, carrying each key's file:line:col.
std::variant<sdk::StoreConfig, ConfigErrors> validate_store_table(const StoreEntry& store,
                                                                  const sdk::ConfigSchema& schema);
// The same check for a host table described by a schema ([failover], [dcs]):
// `table.name` is the table's name, messages say "[NAME]".
std::variant<sdk::StoreConfig, ConfigErrors> validate_host_table(const StoreEntry& table,
                                                                 const sdk::ConfigSchema& schema);

}  // namespace tandem::core
