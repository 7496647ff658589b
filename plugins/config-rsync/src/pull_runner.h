// Runs rsync for every configured path (a pull, a dry run or a listing) and
// condenses the outcome for health, reports and diagnostics. Blocking.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "rsync_invocation.h"
#include "settings.h"

namespace tandem::config_rsync {

struct EntryOutcome {
  std::string name;
  bool ok = false;
  int exit_code = 0;
  std::string error;  // "exit 10 (error in socket I/O ...): rsync: failed to connect to ..."
  std::string stdout_text;
  TransferStats stats;
};

struct PullOutcome {
  bool ok = true;       // every entry succeeded
  int exit_code = 0;    // of the first failed entry (0 when ok)
  std::string error;    // of the first failed entry, prefixed with its name
  TransferStats stats;  // summed over entries
  std::vector<EntryOutcome> entries;
  std::chrono::milliseconds duration{0};
};

enum class RsyncRun {
  pull,
  pull_full_compare,  // pull with --checksum: contents compared, not size + mtime
  dry_run,
  list,
};

// `timeout_cap` bounds each rsync's connect/I/O timeout (e.g. short for
// prepare); the process itself is killed after a generous hard limit.
// `cancel` (HostContext::sync_cancelled in a sync) kills the rsync running
// when it becomes true, and the paths after it are not run. Once a path's
// run finds the peer unreachable (rsync_peer_unreachable), the paths after
// it are not run either: against a silent peer each would wait out the same
// timeout, and a prepare bounded by the peer probe would take N times it.
PullOutcome run_rsync_for_all(const Settings& settings, const std::string& peer_address, RsyncRun kind,
                              std::chrono::milliseconds timeout_cap = std::chrono::milliseconds::max(),
                              const std::atomic<bool>* cancel = nullptr);

// The exit says the peer did not answer at all (connection refused or timed
// out, an I/O timeout, ssh unable to connect), not that one path failed.
bool rsync_peer_unreachable(int exit_code, bool timed_out);

// rsync's stderr condensed to one line, with the exit code and its meaning.
std::string describe_rsync_failure(int exit_code, bool timed_out, const std::string& stderr_text,
                                   const std::string& stdout_text);

}  // namespace tandem::config_rsync
