// Running subprocesses (rsync, pg_ctl, pg_basebackup, ...) safely.
//
// run_process blocks: call it from sync/failover/diagnose (which the host runs
// off the event loop) or from HostContext::post_blocking, never from the loop.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/sdk/result.h"

namespace tandem::sdk {

struct ProcessSpec {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;  // added to (or overriding) the inherited environment
  std::optional<std::string> cwd;
  std::optional<std::string> run_as_user;  // switch to this OS user (requires root), e.g. "postgres"
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // the whole process group is killed past it
  std::string stdin_data;                                      // written to stdin, then stdin is closed
  std::size_t max_output_bytes = 1 << 20;                      // stdout and stderr each truncated past this
};

struct ProcessResult {
  int exit_code = -1;      // exit status, or -1 when killed by a signal
  int signal = 0;          // terminating signal, 0 if exited
  bool timed_out = false;  // killed because the timeout passed
  std::string stdout_text;
  std::string stderr_text;
  std::chrono::milliseconds duration{0};

  bool succeeded() const { return exit_code == 0 && !timed_out; }
  // "exit 23: <last line of stderr>" style summary for health and logs.
  std::string describe() const;
};

// Runs the process to completion: until it exits and its stdout/stderr are
// closed. A daemon it starts must not inherit them (e.g. `pg_ctl -l LOGFILE`),
// or the call lasts until the timeout. Fails (Error) only when it cannot be started
// (no such program, fork failure, unknown user); a non-zero exit is a ProcessResult.
Result<ProcessResult> run_process(const ProcessSpec& spec);

// Quote an argument for display in logs and error messages (not for a shell).
std::string shell_quote(const std::string& arg);

}  // namespace tandem::sdk
