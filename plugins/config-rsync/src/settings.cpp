#include "settings.h"

#include <algorithm>
#include <regex>
#include <set>
#include <system_error>

namespace tandem::config_rsync {
namespace fs = std::filesystem;
using sdk::ConfigKey;
using sdk::ValueType;

namespace {

std::string strip_trailing_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// True when `inner` is `outer` or below it (both lexically normal, absolute).
bool is_within(const fs::path& inner, const fs::path& outer) {
  auto rel = inner.lexically_relative(outer);
  if (rel.empty()) return false;
  auto first = *rel.begin();
  return first != ".." && !rel.is_absolute();
}

sdk::Result<fs::path> normal_absolute(const sdk::StoreConfig& cfg, const std::string& key, const std::string& text) {
  if (text.empty()) return cfg.error(key, "is empty; give an absolute path such as \"/etc/myapp\"");
  fs::path p(text);
  if (!p.is_absolute())
    return cfg.error(
        key, "'" + text +
                 "' is relative; give an absolute path (rsync would resolve it against tandemd's working directory)");
  return fs::path(strip_trailing_slashes(p.lexically_normal().string()));
}

sdk::Result<Transport> transport_of(const sdk::StoreConfig& cfg, const std::string& remote) {
  if (remote.empty())
    return cfg.error("remote", "is empty; use \"rsync://{peer}:8730\" for an rsync daemon or \"root@{peer}:\" for ssh");
  if (remote.rfind("rsync://", 0) == 0) {
    static const std::regex daemon(R"(rsync://([^@/:\s]+@)?[^@/:\s]+(:[0-9]{1,5})?/?)");
    if (!std::regex_match(remote, daemon))
      return cfg.error("remote", "'" + remote +
                                     "' is not an rsync daemon address; write \"rsync://[user@]HOST[:PORT]\" "
                                     "(HOST may be {peer}; the module comes from each path's remote_path or name)");
    return Transport::daemon;
  }
  static const std::regex ssh(R"(([^@/:\s]+@)?[^@/:\s]+:)");
  if (!std::regex_match(remote, ssh))
    return cfg.error("remote", "'" + remote +
                                   "' is neither \"rsync://[user@]HOST[:PORT]\" (rsync daemon) nor \"[user@]HOST:\" "
                                   "(ssh, with the path taken from each entry); HOST may be {peer}");
  return Transport::ssh;
}

}  // namespace

std::string Settings::remote_for(const std::string& peer_address) const {
  return sdk::substitute_peer(remote, peer_address);
}

std::string Settings::source_for(const SyncedPath& entry, const std::string& peer_address) const {
  std::string base = remote_for(peer_address);
  std::string src;
  if (transport == Transport::daemon) {
    if (base.back() != '/') base += '/';
    src = base + entry.remote_location;
  } else {
    src = base + entry.remote_location;
  }
  if (!entry.is_file) src += '/';
  return src;
}

std::string Settings::destination_for(const SyncedPath& entry) const {
  return entry.is_file ? entry.path.string() : entry.path.string() + "/";
}

sdk::ConfigSchema settings_schema() {
  std::vector<ConfigKey> path_keys = {
      {.name = "name",
       .type = ValueType::string,
       .required = true,
       .description = "Label of the tree ([A-Za-z0-9._-]); the module name the built-in daemon exports it under"},
      {.name = "path",
       .type = ValueType::path,
       .required = true,
       .description = "This node's copy (absolute, under allowed_root, not /): served and watched when primary, "
                      "written when secondary",
       .path_rule = sdk::PathRule::absolute},
      {.name = "remote_path",
       .type = ValueType::string,
       .description = "Where the tree is on the peer: module[/subdir] for a daemon (default: name), "
                      "an absolute path for ssh (default: path)"},
      {.name = "kind",
       .type = ValueType::string,
       .default_value = "directory",
       .description = "\"directory\" (contents mirrored, trailing-slash semantics) or \"file\" (one file)",
       .choices = {"directory", "file"}},
  };
  return {
      {.name = "remote",
       .type = ValueType::string,
       .required = true,
       .description = "The peer's location: \"rsync://[user@]{peer}[:port]\" (rsync daemon) or \"[user@]{peer}:\" "
                      "(ssh); {peer} is replaced by the peer's address"},
      {.name = "paths",
       .type = ValueType::table_array,
       .required = true,
       .description = "The synced trees ([[...paths]] tables)",
       .children = path_keys},
      {.name = "allowed_root",
       .type = ValueType::path,
       .required = true,
       .description = "Every path must be at or below this directory (guards against writing outside it)",
       .path_rule = sdk::PathRule::absolute},
      {.name = "rsh",
       .type = ValueType::string,
       .description = "Remote shell for ssh transport, e.g. \"ssh -i /etc/tandem/id_ed25519 -o BatchMode=yes\""},
      {.name = "delete",
       .type = ValueType::boolean,
       .default_value = "false",
       .description = "Mirror deletions (rsync --delete); only for directory entries"},
      {.name = "excludes",
       .type = ValueType::string_array,
       .description = "rsync --exclude patterns, also left out of the tree checksum"},
      {.name = "bwlimit",
       .type = ValueType::size,
       .default_value = "0",
       .description = "Bandwidth limit per second (rsync --bwlimit); 0 = unlimited",
       .max = "1TiB"},
      {.name = "timeout",
       .type = ValueType::duration,
       .default_value = "30s",
       .description = "rsync I/O timeout and daemon connect timeout (--timeout, --contimeout; whole seconds)",
       .min = "1s",
       .max = "1d"},
      {.name = "debounce",
       .type = ValueType::duration,
       .default_value = "200ms",
       .description = "The primary reports a burst of changes once it has been quiet this long",
       .min = "1ms",
       .max = "1h"},
      {.name = "debounce_max",
       .type = ValueType::duration,
       .default_value = "1s",
       .description = "... or at the latest this long after the burst's first change",
       .min = "1ms",
       .max = "1h"},
      {.name = "rsync_path",
       .type = ValueType::path,
       .default_value = "rsync",
       .description = "The rsync binary (looked up in PATH when not absolute)",
       .path_rule = sdk::PathRule::program},
      {.name = "password_file",
       .type = ValueType::path,
       .description = "File holding the rsync daemon password (rsync --password-file; must not be readable by others)",
       .path_rule = sdk::PathRule::absolute,
       .secret = true},
      {.name = "serve_port",
       .type = ValueType::port,
       .default_value = "0",
       .description = "When > 0, the primary runs its own read-only rsync daemon on this port exporting each path as "
                      "module `name`, allowing only the peer (and 127.0.0.1)",
       .min = "0"},
      {.name = "serve_address",
       .type = ValueType::string,
       .description = "Address the built-in daemon binds (default: the node's address)"},
  };
}

sdk::Result<Settings> parse_settings(const sdk::StoreConfig& cfg) {
  Settings s;
  s.remote = cfg.string("remote");
  TANDEM_TRY_ASSIGN(s.transport, transport_of(cfg, s.remote));
  s.rsh = cfg.string("rsh");
  if (!s.rsh.empty() && s.transport == Transport::daemon)
    return cfg.error(
        "rsh",
        "is set but remote is an rsync daemon address (rsync://...); use \"[user@]{peer}:\" as remote for ssh, or "
        "remove rsh");

  TANDEM_TRY_ASSIGN(s.allowed_root, normal_absolute(cfg, "allowed_root", cfg.string("allowed_root")));
  s.mirror_deletes = cfg.boolean("delete");
  s.excludes = cfg.strings("excludes");
  for (auto& e : s.excludes)
    if (e.empty()) return cfg.error("excludes", "contains an empty pattern; remove it");
  s.bwlimit_bytes_per_second = cfg.size("bwlimit");
  s.timeout = cfg.duration("timeout");
  s.interval = cfg.sync_interval();
  s.debounce = cfg.duration("debounce");
  s.debounce_max = cfg.duration("debounce_max");
  if (s.debounce_max < s.debounce) return cfg.error("debounce_max", "must not be shorter than debounce");
  s.rsync_path = cfg.path("rsync_path");

  if (cfg.has("password_file")) {
    if (s.transport != Transport::daemon)
      return cfg.error("password_file",
                       "only applies to an rsync daemon remote (rsync://user@HOST); ssh uses keys via rsh");
    // The schema (a secret key) already refused a file that is missing, empty
    // or readable by others: rsync itself refuses the last.
    TANDEM_TRY_ASSIGN(s.password_file, normal_absolute(cfg, "password_file", cfg.path("password_file")));
  }

  s.serve_port = cfg.port("serve_port");
  s.serve_address = cfg.string("serve_address");

  auto tables = cfg.tables("paths");
  if (tables.empty()) return cfg.error("paths", "is empty; add at least one [[paths]] table with name and path");
  static const std::regex name_re(R"([A-Za-z0-9._-]+)");
  std::set<std::string> names;
  for (auto& t : tables) {
    SyncedPath e;
    e.name = t.string("name");
    if (!std::regex_match(e.name, name_re))
      return t.error("name", "'" + e.name + "' must be non-empty and use only letters, digits, '.', '_' and '-'");
    if (!names.insert(e.name).second)
      return t.error("name", "'" + e.name + "' is used by two paths; names must be unique");
    TANDEM_TRY_ASSIGN(e.path, normal_absolute(t, "path", t.string("path")));
    if (e.path == "/")
      return t.error("path", "is '/'; syncing (and possibly deleting) the whole filesystem is refused");
    if (!is_within(e.path, s.allowed_root))
      return t.error("path", "'" + e.path.string() + "' is outside allowed_root '" + s.allowed_root.string() +
                                 "'; move it under allowed_root or widen allowed_root");
    e.is_file = t.string("kind") == "file";
    std::error_code ec;
    auto st = fs::status(e.path, ec);
    if (!ec && fs::exists(st)) {
      if (!e.is_file && !fs::is_directory(st))
        return t.error("path",
                       "'" + e.path.string() + "' exists but is not a directory; set kind = \"file\" to sync one file");
      if (e.is_file && !fs::is_regular_file(st))
        return t.error("path", "'" + e.path.string() + "' is not a regular file but kind = \"file\"");
    }
    if (e.is_file && s.mirror_deletes)
      return t.error("kind",
                     "is \"file\" but delete = true: --delete mirrors a directory's contents; put the file in a "
                     "directory entry or set delete = false");
    std::string remote = t.string("remote_path");
    if (s.transport == Transport::daemon) {
      e.remote_location = remote.empty() ? e.name : remote;
      while (!e.remote_location.empty() && e.remote_location.back() == '/') e.remote_location.pop_back();
      if (e.remote_location.empty() || e.remote_location.front() == '/')
        return t.error("remote_path", "for an rsync daemon give MODULE or MODULE/sub/dir (no leading '/')");
    } else if (remote.empty()) {
      e.remote_location = e.path.string();
    } else {
      auto remote_path = normal_absolute(t, "remote_path", remote);
      TANDEM_TRY(remote_path);
      e.remote_location = remote_path->string();
    }
    for (auto& other : s.paths)
      if (is_within(e.path, other.path) || is_within(other.path, e.path))
        return t.error("path", "'" + e.path.string() + "' overlaps path '" + other.path.string() + "' of entry '" +
                                   other.name + "'; synced trees must not nest");
    s.paths.push_back(std::move(e));
  }
  return s;
}

}  // namespace tandem::config_rsync
