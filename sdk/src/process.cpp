#include "tandem/sdk/process.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

extern char** environ;

namespace tandem::sdk {
namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  ~Pipe() { close_both(); }
  bool open() { return ::pipe2(fds, O_CLOEXEC) == 0; }
  void close_read() {
    if (fds[0] >= 0) {
      ::close(fds[0]);
      fds[0] = -1;
    }
  }
  void close_write() {
    if (fds[1] >= 0) {
      ::close(fds[1]);
      fds[1] = -1;
    }
  }
  void close_both() {
    close_read();
    close_write();
  }
};

struct UserIds {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
  std::string home;
};

Result<UserIds> lookup_user(const std::string& name) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
    return Error{"no OS user named '" + name + "'"};
  UserIds ids{pw.pw_uid, pw.pw_gid, {}, pw.pw_dir ? pw.pw_dir : "/"};
  int n = 64;
  ids.groups.resize(n);
  if (::getgrouplist(name.c_str(), pw.pw_gid, ids.groups.data(), &n) < 0) {
    ids.groups.resize(n);
    ::getgrouplist(name.c_str(), pw.pw_gid, ids.groups.data(), &n);
  }
  ids.groups.resize(n);
  return ids;
}

void append_limited(std::string& out, const char* data, size_t n, size_t limit) {
  if (out.size() >= limit) return;
  out.append(data, std::min(n, limit - out.size()));
}

}  // namespace

std::string shell_quote(const std::string& arg) {
  if (!arg.empty() &&
      arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%_-+=:,./") ==
          std::string::npos)
    return arg;
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string ProcessResult::describe() const {
  std::ostringstream os;
  if (timed_out)
    os << "timed out after " << duration.count() << " ms";
  else if (signal)
    os << "killed by signal " << signal;
  else
    os << "exit " << exit_code;
  std::string err = stderr_text.empty() ? stdout_text : stderr_text;
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  auto pos = err.rfind('\n');
  std::string last = pos == std::string::npos ? err : err.substr(pos + 1);
  if (!last.empty()) os << ": " << last;
  return os.str();
}

Result<ProcessResult> run_process(const ProcessSpec& spec) {
  if (spec.argv.empty()) return Error{"run_process: empty argv"};
  std::optional<UserIds> user;
  if (spec.run_as_user) {
    auto u = lookup_user(*spec.run_as_user);
    if (!u) return Error{u.message()};
    user = *u;
  }
  // Everything the child needs is prepared before fork: after fork in a
  // threaded process only async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto name = kv.substr(0, kv.find('='));
    if (spec.env.count(name)) continue;
    if (user && (name == "HOME" || name == "USER" || name == "LOGNAME")) continue;
    env_strings.push_back(std::move(kv));
  }
  for (auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  if (user && !spec.env.count("HOME")) env_strings.push_back("HOME=" + user->home);
  if (user && !spec.env.count("USER")) env_strings.push_back("USER=" + *spec.run_as_user);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = spec.argv;
  std::vector<char*> argv;
  for (auto& a : argv_copy) argv.push_back(a.data());
  argv.push_back(nullptr);

  Pipe in, out, err, exec_err;
  if (!in.open() || !out.open() || !err.open() || !exec_err.open())
    return Error{std::string("pipe: ") + std::strerror(errno)};

  auto started = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    ::setsid();  // own process group: a timeout kills the whole tree
    ::dup2(in.fds[0], 0);
    ::dup2(out.fds[1], 1);
    ::dup2(err.fds[1], 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    // Descriptors the host opened without close-on-exec (sockets, files)
    // must not leak into the child: a daemon started from here (postgres,
    // rsync) would keep tandemd's listening port bound after it exits.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    auto fail = [&](const char* what) {
      int e = errno;
      (void)!::write(exec_err.fds[1], what, std::strlen(what));
      (void)!::write(exec_err.fds[1], ": ", 2);
      const char* m = std::strerror(e);
      (void)!::write(exec_err.fds[1], m, std::strlen(m));
      ::_exit(127);
    };
    if (user) {
      if (::setgroups(user->groups.size(), user->groups.data()) != 0) fail("setgroups");
      if (::setgid(user->gid) != 0) fail("setgid");
      if (::setuid(user->uid) != 0) fail("setuid");
    }
    if (spec.cwd && ::chdir(spec.cwd->c_str()) != 0) fail("chdir");
    ::execvpe(argv[0], argv.data(), envp.data());
    fail(argv[0]);
  }
  in.close_read();
  out.close_write();
  err.close_write();
  exec_err.close_write();

  // The child's exec failure arrives on exec_err; EOF there means exec succeeded.
  std::string exec_failure;
  {
    char buf[512];
    ssize_t n;
    while ((n = ::read(exec_err.fds[0], buf, sizeof buf)) > 0) exec_failure.append(buf, n);
  }
  if (!exec_failure.empty()) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Error{"cannot start " + shell_quote(spec.argv[0]) + ": " + exec_failure};
  }

  ProcessResult result;
  size_t stdin_off = 0;
  if (spec.stdin_data.empty())
    in.close_write();
  else
    ::fcntl(in.fds[1], F_SETFL, O_NONBLOCK);
  auto deadline = started + spec.timeout;
  while (out.fds[0] >= 0 || err.fds[0] >= 0) {
    std::vector<pollfd> pfds;
    if (out.fds[0] >= 0) pfds.push_back({out.fds[0], POLLIN, 0});
    if (err.fds[0] >= 0) pfds.push_back({err.fds[0], POLLIN, 0});
    if (in.fds[1] >= 0) pfds.push_back({in.fds[1], POLLOUT, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    int rc = ::poll(pfds.data(), pfds.size(), static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (rc < 0 && errno != EINTR) break;
    for (auto& p : pfds) {
      if (!p.revents) continue;
      if (p.fd == in.fds[1]) {
        ssize_t n = ::write(in.fds[1], spec.stdin_data.data() + stdin_off, spec.stdin_data.size() - stdin_off);
        if (n > 0) stdin_off += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EINTR) in.close_write();
        if (stdin_off >= spec.stdin_data.size()) in.close_write();
        continue;
      }
      char buf[65536];
      ssize_t n = ::read(p.fd, buf, sizeof buf);
      bool is_out = p.fd == out.fds[0];
      if (n > 0) {
        append_limited(is_out ? result.stdout_text : result.stderr_text, buf, static_cast<size_t>(n),
                       spec.max_output_bytes);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        if (is_out)
          out.close_read();
        else
          err.close_read();
      }
    }
  }
  in.close_write();
  int status = 0;
  while (true) {
    pid_t w = ::waitpid(pid, &status, result.timed_out ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (w == 0) {
      // Pipes closed but the child still runs (it closed its outputs): wait until the deadline.
      if (std::chrono::steady_clock::now() >= deadline) {
        result.timed_out = true;
        ::kill(-pid, SIGKILL);
      } else {
        ::usleep(10000);
      }
    }
  }
  if (result.timed_out) ::kill(-pid, SIGKILL);  // stragglers in the group
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) {
    result.exit_code = -1;
    result.signal = WTERMSIG(status);
  }
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  return result;
}

}  // namespace tandem::sdk
