#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "child_setup.h"
#include "tandem/sdk/process.h"

namespace tandem::sdk {
namespace {

// An fd closed on scope exit.
struct OwnedFd {
  int fd = -1;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  explicit OwnedFd(int f) : fd(f) {}
  ~OwnedFd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

ChildProcess::~ChildProcess() { stop(); }

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(o.pid_), exit_status_(o.exit_status_), log_file_(std::move(o.log_file_)) {
  o.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = o.pid_;
    exit_status_ = o.exit_status_;
    log_file_ = std::move(o.log_file_);
    o.pid_ = -1;
  }
  return *this;
}

Status ChildProcess::start(const ChildSpec& spec) {
  stop();
  auto command = detail::PreparedCommand::prepare(spec);
  TANDEM_TRY(command);
  const char* out_path = spec.log_file ? spec.log_file->c_str() : "/dev/null";
  OwnedFd out(::open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (out.fd < 0) return Error{std::string("cannot open ") + out_path + ": " + std::strerror(errno)};
  OwnedFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (devnull.fd < 0) return Error{std::string("cannot open /dev/null: ") + std::strerror(errno)};
  auto spawned = command->spawn({devnull.fd, out.fd, out.fd});
  TANDEM_TRY(spawned);
  pid_ = *spawned;
  exit_status_.reset();
  log_file_ = spec.log_file;
  return {};
}

void ChildProcess::reaped(std::optional<int> status) {
  exit_status_ = status;
  ::kill(-pid_, SIGKILL);  // what is left of its group
  pid_ = -1;
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped(r == pid_ ? std::optional<int>(status) : std::nullopt);  // ECHILD: reaped elsewhere
    return false;
  }
  return true;
}

void ChildProcess::stop(std::chrono::milliseconds grace, int signal) {
  if (!running()) return;
  ::kill(-pid_, signal);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  kill();
}

void ChildProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {}
  reaped(r == pid_ ? std::optional<int>(status) : std::nullopt);  // ECHILD: reaped elsewhere
}

std::optional<std::string> ChildProcess::exit_description() const {
  if (!exit_status_) return std::nullopt;
  return detail::describe_wait_status(*exit_status_);
}

std::string ChildProcess::log_tail(std::size_t bytes) const {
  if (!log_file_) return "";
  std::ifstream in(*log_file_, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace tandem::sdk
