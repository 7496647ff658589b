// Running subprocesses (rsync, pg_ctl, pg_basebackup, a daemon) safely: the
// one process layer of tandem. Both kinds of child get the same set-up: their
// own process group (so a kill reaches everything they spawn), no descriptor
// of the parent but 0-2, default signal mask and SIGPIPE, optional user, env
// and working directory.
//
// run_process blocks: call it from sync/failover/diagnose (which the host runs
// off the event loop) or from HostContext::post_blocking, never from the loop.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/sdk/result.h"

namespace tandem::sdk {

// What to run and as whom; shared by ProcessSpec and ChildSpec.
struct CommandSpec {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;  // added to (or overriding) the inherited environment
  std::optional<std::filesystem::path> cwd;
  std::optional<std::string> run_as_user;  // switch to this OS user (requires root), e.g. "postgres"
};

// A bounded command whose output the caller reads.
struct ProcessSpec : CommandSpec {
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // the whole process group is killed past it
  // When set and it becomes true, the process group is killed within ~20 ms
  // (ProcessResult::cancelled): how a caller that is asked to stop gets its
  // thread back (e.g. HostContext::sync_cancelled). Must outlive the call.
  const std::atomic<bool>* cancel = nullptr;
  std::string stdin_data;                  // written to stdin, then stdin is closed
  std::size_t max_output_bytes = 1 << 20;  // stdout and stderr each truncated past this
};

struct ProcessResult {
  int exit_code = -1;      // exit status, or -1 when killed by a signal
  int signal = 0;          // terminating signal, 0 if exited
  bool timed_out = false;  // killed because the timeout passed
  bool cancelled = false;  // killed because ProcessSpec::cancel became true
  std::string stdout_text;
  std::string stderr_text;
  std::chrono::milliseconds duration{0};

  bool succeeded() const { return exit_code == 0 && !timed_out && !cancelled; }
  // "exit 23: <last line of stderr>" style summary for health and logs.
  std::string describe() const;
};

// Runs the process to completion: until it exits and its stdout/stderr are
// closed. A daemon it starts must not inherit them (e.g. `pg_ctl -l LOGFILE`),
// or the call lasts until the timeout. Fails (Error) only when it cannot be started
// (no such program, fork failure, unknown user); a non-zero exit is a ProcessResult.
Result<ProcessResult> run_process(const ProcessSpec& spec);

// A long-running child (a daemon the plugin owns, a server a test starts).
struct ChildSpec : CommandSpec {
  // stdout and stderr are appended here (created 0640); /dev/null when unset.
  // stdin is always /dev/null.
  std::optional<std::filesystem::path> log_file;
};

// Owns one running child: RAII, the destructor stops it. Movable, not
// copyable. Not thread-safe: guard it with a mutex when shared.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;  // stops the child it held
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts `spec` (a child still held is stopped first). Returns once the
  // program is exec'd; fails when it cannot be (no such program, unknown
  // user, bad cwd, log file not writable), with the reason.
  Status start(const ChildSpec& spec);
  // True while the child runs; once it has exited, reaps it (exit_status()
  // then holds its wait status) and kills what is left of its group.
  bool running();
  // Signal (SIGTERM by default) to the whole group, up to `grace` for the
  // child to exit, then SIGKILL; always reaped. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5), int signal = SIGTERM);
  // SIGKILL to the whole group now, as a crash would; reaped. Idempotent.
  void kill();

  pid_t pid() const { return pid_; }  // -1 when none runs
  // The raw wait status of the last child, once it ended.
  std::optional<int> exit_status() const { return exit_status_; }
  // "exit 10" / "killed by signal 9", once the last child ended.
  std::optional<std::string> exit_description() const;
  // The last `bytes` of the log file ("" without one or when unreadable).
  std::string log_tail(std::size_t bytes = 4000) const;

 private:
  void reaped(std::optional<int> status);
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::optional<std::filesystem::path> log_file_;
};

// Quote an argument for display in logs and error messages (not for a shell).
std::string shell_quote(const std::string& arg);

}  // namespace tandem::sdk
