// The one fork/exec of tandem (internal to the SDK): what run_process and
// ChildProcess share. Everything the child needs is prepared before fork, as
// after fork in a threaded process only async-signal-safe calls are allowed.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "tandem/sdk/process.h"

namespace tandem::sdk::detail {

// A close-on-exec pipe that closes its ends on destruction.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() = default;
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() { close_both(); }
  bool open();
  void close_read();
  void close_write();
  void close_both() {
    close_read();
    close_write();
  }
};

// argv, envp and the user's ids, ready for the child.
class PreparedCommand {
 public:
  // Fails on an empty argv or an unknown user.
  static Result<PreparedCommand> prepare(const CommandSpec& spec);
  const std::string& program() const { return argv_strings_.front(); }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }
  bool switches_user() const { return switch_user_; }

  // Forks a child that sets itself up (own session and process group, fds
  // 0-2 from `stdio`, every other descriptor closed, default signal mask and
  // SIGPIPE, user, cwd) and execs the program. Returns its pid once the exec
  // succeeded; when the set-up or exec fails, reaps the child and returns the
  // reason ("cannot start 'x': chdir: No such file or directory").
  Result<pid_t> spawn(const int (&stdio)[3]);

 private:
  std::vector<std::string> argv_strings_, env_strings_;
  std::vector<char*> argv_, envp_;
  std::vector<gid_t> groups_;
  std::string cwd_;
  bool has_cwd_ = false;
  bool switch_user_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

// "exit 10" / "killed by signal 9" for a wait status.
std::string describe_wait_status(int status);

}  // namespace tandem::sdk::detail
