#include "child_setup.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tandem/sdk/exit_now.h"

extern char** environ;

namespace tandem::sdk::detail {

bool Pipe::open() { return ::pipe2(fds, O_CLOEXEC) == 0; }

void Pipe::close_read() {
  if (fds[0] >= 0) {
    ::close(fds[0]);
    fds[0] = -1;
  }
}

void Pipe::close_write() {
  if (fds[1] >= 0) {
    ::close(fds[1]);
    fds[1] = -1;
  }
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended (status " + std::to_string(status) + ")";
}

Result<PreparedCommand> PreparedCommand::prepare(const CommandSpec& spec) {
  if (spec.argv.empty()) return Error{"cannot start a process: empty argv", ErrorCode::invalid_argument};
  PreparedCommand c;
  c.argv_strings_ = spec.argv;
  std::string home;
  if (spec.run_as_user) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (::getpwnam_r(spec.run_as_user->c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
      return Error{"no OS user named '" + *spec.run_as_user + "'", ErrorCode::invalid_config};
    c.switch_user_ = true;
    c.uid_ = pw.pw_uid;
    c.gid_ = pw.pw_gid;
    home = pw.pw_dir ? pw.pw_dir : "/";
    int n = 64;
    c.groups_.resize(n);
    if (::getgrouplist(spec.run_as_user->c_str(), pw.pw_gid, c.groups_.data(), &n) < 0) {
      c.groups_.resize(n);
      ::getgrouplist(spec.run_as_user->c_str(), pw.pw_gid, c.groups_.data(), &n);
    }
    c.groups_.resize(n);
  }
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto name = kv.substr(0, kv.find('='));
    if (spec.env.count(name)) continue;
    if (c.switch_user_ && (name == "HOME" || name == "USER" || name == "LOGNAME")) continue;
    c.env_strings_.push_back(std::move(kv));
  }
  for (const auto& [k, v] : spec.env) c.env_strings_.push_back(k + "=" + v);
  if (c.switch_user_ && !spec.env.count("HOME")) c.env_strings_.push_back("HOME=" + home);
  if (c.switch_user_ && !spec.env.count("USER")) c.env_strings_.push_back("USER=" + *spec.run_as_user);
  if (spec.cwd) {
    c.cwd_ = spec.cwd->string();
    c.has_cwd_ = true;
  }
  return c;
}

Result<pid_t> PreparedCommand::spawn(const int (&stdio)[3]) {
  // Pointers are taken here, after any move of *this.
  argv_.clear();
  for (auto& a : argv_strings_) argv_.push_back(a.data());
  argv_.push_back(nullptr);
  envp_.clear();
  for (auto& e : env_strings_) envp_.push_back(e.data());
  envp_.push_back(nullptr);
  // The child reports a failed set-up or exec here; the pipe closes on a
  // successful exec (close-on-exec), so EOF means the program runs.
  Pipe exec_err;
  if (!exec_err.open()) return Error{std::string("pipe: ") + std::strerror(errno)};

  pid_t pid = ::fork();
  if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno), ErrorCode::unavailable};
  if (pid == 0) {
    ::setsid();  // own session and process group: a stop or timeout reaches the whole tree
    for (int fd = 0; fd < 3; ++fd) {
      // dup2 clears close-on-exec; an fd already in place needs it cleared by hand.
      if (stdio[fd] == fd)
        ::fcntl(fd, F_SETFD, 0);
      else
        ::dup2(stdio[fd], fd);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    // Descriptors the parent opened without close-on-exec (sockets, files)
    // must not leak into the child: a daemon started from here (postgres,
    // rsync) would keep tandemd's listening port bound after it exits.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    auto fail = [&](const char* what) {
      int e = errno;
      (void)!::write(exec_err.fds[1], what, std::strlen(what));
      (void)!::write(exec_err.fds[1], ": ", 2);
      const char* m = std::strerror(e);
      (void)!::write(exec_err.fds[1], m, std::strlen(m));
      // Not _exit(): in this forked copy of the parent, ThreadSanitizer would
      // report the parent's finished, not yet joined threads (exit_now).
      exit_now(127);
    };
    if (switch_user_) {
      if (::setgroups(groups_.size(), groups_.data()) != 0) fail("setgroups");
      if (::setgid(gid_) != 0) fail("setgid");
      if (::setuid(uid_) != 0) fail("setuid");
    }
    if (has_cwd_ && ::chdir(cwd_.c_str()) != 0) fail("chdir");
    ::execvpe(argv_[0], argv_.data(), envp_.data());
    fail(argv_[0]);
  }
  exec_err.close_write();
  std::string failure;
  char buf[512];
  ssize_t n;
  while ((n = ::read(exec_err.fds[0], buf, sizeof buf)) != 0) {
    if (n > 0)
      failure.append(buf, static_cast<size_t>(n));
    else if (errno != EINTR)
      break;
  }
  if (!failure.empty()) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return Error{"cannot start " + shell_quote(program()) + ": " + failure};
  }
  return pid;
}

}  // namespace tandem::sdk::detail
