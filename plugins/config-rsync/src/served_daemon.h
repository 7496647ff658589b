// The optional read-only rsync daemon a primary runs to export its synced
// paths (`serve_port`), so a pair needs no separately managed rsyncd.
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "settings.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/result.h"

namespace tandem::config_rsync {

class ServedDaemon {
 public:
  // `work_dir` holds the generated rsyncd.conf and the daemon's log.
  ServedDaemon(Settings settings, std::filesystem::path work_dir, std::string bind_address,
               std::vector<std::string> hosts_allow);
  ~ServedDaemon();
  ServedDaemon(const ServedDaemon&) = delete;
  ServedDaemon& operator=(const ServedDaemon&) = delete;

  // Writes the config and starts `rsync --daemon --no-detach`, then waits
  // until it accepts connections. Idempotent while it runs. The error names
  // the port and quotes the daemon's log (e.g. "Address already in use").
  sdk::Status start();
  void stop();
  bool running();
  // Why it is not running (empty while it runs or before the first start).
  std::string problem();
  std::filesystem::path config_file() const { return work_dir_ / "rsyncd.conf"; }
  std::filesystem::path log_file() const { return work_dir_ / "rsyncd.log"; }
  std::filesystem::path pid_file() const { return work_dir_ / "rsyncd.pid"; }

  // The rsyncd.conf text (exposed for tests and the README's example).
  std::string render_config() const;

  // A daemon left running by a tandemd that was killed (its pid file names
  // it and its command line names our config file): stop it, it holds the
  // port and would go on serving. start() calls it; a node that is not to
  // serve calls it on its own.
  void stop_orphan();

 private:
  Settings settings_;
  std::filesystem::path work_dir_;
  std::string bind_address_;
  std::vector<std::string> hosts_allow_;
  std::mutex mu_;
  sdk::ChildProcess child_;
  std::string problem_;
  bool stopped_ = true;  // stop() was called: an exit is not a problem
};

}  // namespace tandem::config_rsync
