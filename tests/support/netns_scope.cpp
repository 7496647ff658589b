#include "support/netns_scope.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace tandem::testsupport {
namespace fs = std::filesystem;

namespace {
std::string netns_path(const std::string& netns) { return "/run/netns/" + netns; }
}  // namespace

NetnsScope::NetnsScope(const std::string& netns) {
  if (netns.empty()) return;
  const int target = ::open(netns_path(netns).c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0)
    throw std::runtime_error("network namespace " + netns + ": cannot open " + netns_path(netns) + ": " +
                             std::strerror(errno));
  saved_fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved_fd_ < 0 || ::setns(target, CLONE_NEWNET) != 0) {
    const std::string why = std::strerror(errno);
    ::close(target);
    if (saved_fd_ >= 0) ::close(saved_fd_);
    saved_fd_ = -1;
    throw std::runtime_error("cannot enter network namespace " + netns + ": " + why);
  }
  ::close(target);
}

NetnsScope::~NetnsScope() {
  if (saved_fd_ < 0) return;
  // Going back cannot fail for a namespace we were in; if it did, the thread
  // would go on in the wrong namespace, which no test may survive silently.
  if (::setns(saved_fd_, CLONE_NEWNET) != 0) std::terminate();
  ::close(saved_fd_);
}

std::vector<pid_t> netns_pids(const std::string& netns) {
  std::vector<pid_t> out;
  struct stat target {};
  if (::stat(netns_path(netns).c_str(), &target) != 0) return out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat ns {};
    if (::stat((e.path() / "ns" / "net").c_str(), &ns) != 0) continue;
    if (ns.st_dev == target.st_dev && ns.st_ino == target.st_ino) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

}  // namespace tandem::testsupport
