// A server process started for a test: runs in its own session, output to a
// log file, stopped (SIGTERM, then SIGKILL) when the object is destroyed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tandem::testsupport {

struct BackgroundProcessSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to the inherited environment
  std::optional<std::string> run_as_user;  // e.g. "postgres"
  std::optional<std::filesystem::path> cwd;
  std::filesystem::path log_file;  // stdout and stderr go here
};

class BackgroundProcess {
 public:
  BackgroundProcess() = default;
  // Starts the process; throws std::runtime_error when it cannot be started.
  explicit BackgroundProcess(BackgroundProcessSpec spec);
  ~BackgroundProcess();
  BackgroundProcess(BackgroundProcess&& other) noexcept;
  BackgroundProcess& operator=(BackgroundProcess&& other) noexcept;
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();  // reaps the child if it exited
  // SIGTERM (or `signal`), wait up to `grace`, then SIGKILL the whole group. Idempotent.
  void stop(int signal = 15, std::chrono::milliseconds grace = std::chrono::seconds(10));
  // kill -9 of the process group, as a crash would. Waits for it to be reaped.
  void kill9();
  std::optional<int> exit_status() const { return exit_status_; }
  std::string log_tail(std::size_t bytes = 4000) const;

 private:
  BackgroundProcessSpec spec_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

}  // namespace tandem::testsupport
