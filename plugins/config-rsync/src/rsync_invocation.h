// Building rsync command lines and reading what rsync reports.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "settings.h"

namespace tandem::config_rsync {

// What one rsync run did, from its --itemize-changes and --stats output.
struct TransferStats {
  std::int64_t files_transferred = 0;  // "Number of regular files transferred"
  std::int64_t files_created = 0;      // "Number of created files"
  std::int64_t files_deleted = 0;      // "Number of deleted files"
  std::int64_t bytes_transferred = 0;  // "Total transferred file size" (content that changed)
  std::int64_t bytes_received = 0;     // "Total bytes received" (on the wire, by the puller)
  std::vector<std::string> changes;    // itemized lines that changed something (capped)
  std::size_t changes_total = 0;       // all such lines, even past the cap
  bool stats_seen = false;             // the --stats block was found

  void add(const TransferStats& other);
};

// How many itemized lines TransferStats::changes keeps.
inline constexpr std::size_t kMaxListedChanges = 200;

// argv pulling one entry from the peer into this node's copy. dry_run adds
// -n: rsync reports what it would change and changes nothing. full_compare
// adds --checksum: compare contents instead of size + mtime (see pull_once).
std::vector<std::string> pull_argv(const Settings& s, const SyncedPath& entry, const std::string& peer_address,
                                   bool dry_run, bool full_compare = false);

// argv listing an entry's remote top level (a transport and permission check).
std::vector<std::string> list_argv(const Settings& s, const SyncedPath& entry, const std::string& peer_address);

// Parses rsync's stdout (itemize lines and the --stats block).
TransferStats parse_rsync_output(std::string_view stdout_text);

// rsync's own words for common exit codes (man rsync, EXIT VALUES).
std::string rsync_exit_meaning(int exit_code);

}  // namespace tandem::config_rsync
