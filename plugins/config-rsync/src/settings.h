// The validated configuration of one config-rsync store, and its schema.
//
// Every node describes its own copy of each synced tree (`path`) and where
// the same tree lives on the peer (`remote` + the entry's remote location),
// so the same table works in both roles: the primary serves and watches its
// paths, the secondary pulls into them, and after a failover they swap
// without editing the file.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tandem/sdk/config.h"

namespace tandem::config_rsync {

// How the secondary reaches the primary's trees.
enum class Transport {
  daemon,  // remote = "rsync://[user@]host[:port]"; each entry names a module (path)
  ssh,     // remote = "[user@]host:" with `rsh` as the remote shell
};

// One synced tree (or single file).
struct SyncedPath {
  std::string name;             // label; also the module name the built-in daemon exports
  std::filesystem::path path;   // this node's copy (absolute)
  std::string remote_location;  // module[/sub/dir] (daemon) or absolute path on the peer (ssh)
  bool is_file = false;         // kind = "file": a single file, synced without trailing-slash semantics
};

struct Settings {
  std::string remote;  // with the {peer} placeholder unexpanded
  Transport transport = Transport::daemon;
  std::string rsh;  // remote shell command for ssh transport
  std::vector<SyncedPath> paths;
  std::filesystem::path allowed_root;
  bool mirror_deletes = false;  // `delete`
  std::vector<std::string> excludes;
  std::uint64_t bwlimit_bytes_per_second = 0;  // 0: unlimited
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds interval{60'000};
  std::chrono::milliseconds debounce{200};
  std::chrono::milliseconds debounce_max{1'000};
  std::string rsync_path = "rsync";
  std::optional<std::filesystem::path> password_file;
  int serve_port = 0;         // 0: no built-in daemon
  std::string serve_address;  // empty: the node's address

  // `remote` with {peer} replaced by the peer's address.
  std::string remote_for(const std::string& peer_address) const;
  // The rsync source argument for one entry (trailing slash for directories).
  std::string source_for(const SyncedPath& entry, const std::string& peer_address) const;
  // The rsync destination argument for one entry (trailing slash for directories).
  std::string destination_for(const SyncedPath& entry) const;
};

// The store table's keys, declared as data (see README.md for the same table).
sdk::ConfigSchema settings_schema();

// Reads and checks the table; an invalid_config error names the key, its
// location and what to do. Touches nothing but a stat() of each path.
sdk::Result<Settings> parse_settings(const sdk::StoreConfig& config);

}  // namespace tandem::config_rsync
