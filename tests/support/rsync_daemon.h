// A real rsync daemon for tests and benchmarks: loopback, a free port, its
// own temp dir for the config and log, stopped when the object is destroyed.
// It plays "the primary's rsync daemon" for a plugin under test; stop() and
// restart() on the same port simulate the primary going away and coming back.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/background_process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testsupport {

struct RsyncDaemonOptions {
  std::map<std::string, std::filesystem::path> modules;  // module name -> directory it exports
  bool read_only = true;
  // When set, every module requires this user and password (rsync's "auth
  // users" + "secrets file"); clients pass --password-file or RSYNC_PASSWORD.
  std::optional<std::string> auth_user;
  std::optional<std::string> auth_password;
  int port = 0;  // 0: a free port
  // Inside a network namespace (NetnsWorld::exec_prefix(host)), bound to that
  // host's address and allowing `hosts_allow` (e.g. the world's subnet).
  std::vector<std::string> exec_prefix;
  std::string address = "127.0.0.1";
  std::string hosts_allow = "127.0.0.1";
};

class RsyncDaemon {
 public:
  // Starts `rsync --daemon --no-detach` and waits until it accepts
  // connections; throws std::runtime_error with the log tail otherwise.
  explicit RsyncDaemon(RsyncDaemonOptions options);
  ~RsyncDaemon();
  RsyncDaemon(const RsyncDaemon&) = delete;
  RsyncDaemon& operator=(const RsyncDaemon&) = delete;

  int port() const { return port_; }
  // "rsync://ADDRESS:PORT" (no module), or with "/module" appended.
  std::string url(const std::string& module = "") const;
  bool running() { return process_.running(); }
  void stop() { process_.stop(); }
  // Start again on the same port (after stop), waiting until it accepts connections.
  void restart();
  std::string log_tail() const { return process_.log_tail(); }
  const std::filesystem::path& dir() const { return temp_->path(); }

 private:
  void launch();

  RsyncDaemonOptions options_;
  std::unique_ptr<sdk::testing::TempDir> temp_;
  int port_ = 0;
  sdk::ChildProcess process_;
};

}  // namespace tandem::testsupport
