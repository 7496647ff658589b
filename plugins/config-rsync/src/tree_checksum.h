// A checksum of the synced trees, computed the same way on both nodes, so an
// operator (and prepare/promote) can see whether the secondary's copy equals
// the primary's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "settings.h"

namespace tandem::config_rsync {

struct TreeChecksum {
  std::string sha256;         // hex
  std::uint64_t entries = 0;  // files, directories and links hashed
  std::uint64_t bytes = 0;    // file content hashed
};

// SHA-256 over, per configured path in order: its name, then every entry
// below it sorted by relative path, each as (type, relative path, permission
// bits, size, content or link target). Owners and times are left out (they
// may legitimately differ); entries matching `excludes` and rsync's own
// temporary files are left out, as rsync leaves them out of the transfer. A
// missing path hashes as "missing". Blocking (reads every file): call it off
// the event loop. Throws std::runtime_error when a file cannot be read.
TreeChecksum compute_tree_checksum(const Settings& settings);

// True when `relative_path` (from the synced root, '/'-separated) matches one
// of rsync-style `patterns`: a pattern without '/' matches any path component
// name; with a leading '/' it is anchored at the root; a trailing '/' matches
// directories only. Shell wildcards (*, ?, [..]) as in fnmatch.
bool is_excluded(const std::vector<std::string>& patterns, const std::string& relative_path, bool is_directory);

}  // namespace tandem::config_rsync
