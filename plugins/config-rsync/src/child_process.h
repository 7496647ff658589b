// A long-running child process the plugin owns (its rsync daemon): started in
// its own process group with output appended to a log file, stopped with
// SIGTERM then SIGKILL, always reaped. RAII: the destructor stops it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tandem::config_rsync {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv (argv[0] looked up in PATH). Throws std::runtime_error when
  // it cannot be started; a process already running is stopped first.
  void start(const std::vector<std::string>& argv, const std::filesystem::path& log_file);
  // True while the child runs; reaps it (and remembers its status) once it exited.
  bool running();
  // "exit 10" / "killed by signal 9", once the child ended.
  std::optional<std::string> exit_description() const { return exit_description_; }
  // SIGTERM to the group, up to `grace` to exit, then SIGKILL. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<std::string> exit_description_;
};

// Last `bytes` of a text file (e.g. a daemon's log), "" when unreadable.
std::string file_tail(const std::filesystem::path& path, std::size_t bytes = 2000);

}  // namespace tandem::config_rsync
