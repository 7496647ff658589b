#include "support/background_process.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace tandem::testsupport {

BackgroundProcess::BackgroundProcess(BackgroundProcessSpec spec) : spec_(std::move(spec)) {
  if (spec_.argv.empty()) throw std::runtime_error("BackgroundProcess: empty argv");
  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_user = false;
  if (spec_.run_as_user) {
    struct passwd* pw = ::getpwnam(spec_.run_as_user->c_str());
    if (!pw) throw std::runtime_error("no OS user named '" + *spec_.run_as_user + "'");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    switch_user = true;
  }
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    if (!spec_.env.count(kv.substr(0, kv.find('=')))) env_strings.push_back(kv);
  }
  for (auto& [k, v] : spec_.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec_.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int log_fd = ::open(spec_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open log " + spec_.log_file.string() + ": " + std::strerror(errno));
  if (switch_user) (void)!::fchown(log_fd, uid, gid);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    ::setsid();
    ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // nothing of the test process leaks into the server
    if (switch_user) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(126);
    }
    if (spec_.cwd && ::chdir(spec_.cwd->c_str()) != 0) ::_exit(126);
    ::execvpe(argv[0], argv.data(), envp.data());
    const char* msg = "exec failed\n";
    (void)!::write(2, msg, std::strlen(msg));
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(devnull);
}

BackgroundProcess::~BackgroundProcess() { stop(); }

BackgroundProcess::BackgroundProcess(BackgroundProcess&& o) noexcept
    : spec_(std::move(o.spec_)), pid_(o.pid_), exit_status_(o.exit_status_) {
  o.pid_ = -1;
}

BackgroundProcess& BackgroundProcess::operator=(BackgroundProcess&& o) noexcept {
  if (this != &o) {
    stop();
    spec_ = std::move(o.spec_);
    pid_ = o.pid_;
    exit_status_ = o.exit_status_;
    o.pid_ = -1;
  }
  return *this;
}

bool BackgroundProcess::running() {
  if (pid_ <= 0 || exit_status_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = status;
    return false;
  }
  return true;
}

void BackgroundProcess::stop(int signal, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  if (running()) {
    ::kill(-pid_, signal);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (running()) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exit_status_ = status;
    }
  }
  ::kill(-pid_, SIGKILL);  // anything left in the group
  pid_ = -1;
}

void BackgroundProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  if (!exit_status_) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_status_ = status;
  }
  pid_ = -1;
}

std::string BackgroundProcess::log_tail(std::size_t bytes) const {
  std::ifstream in(spec_.log_file, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace tandem::testsupport
