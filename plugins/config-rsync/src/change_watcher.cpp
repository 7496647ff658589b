#include "change_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace tandem::config_rsync {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
// Content finished, entries added/removed/renamed, permissions changed.
// IN_MODIFY is left out on purpose: a file being written is reported once it
// is closed, so a pull does not start in the middle of a write.
constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
                           IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
}  // namespace

ChangeWatcher::ChangeWatcher(std::vector<WatchRoot> roots, std::chrono::milliseconds debounce,
                             std::chrono::milliseconds debounce_max, BurstHandler on_burst)
    : roots_(std::move(roots)), debounce_(debounce), debounce_max_(debounce_max), on_burst_(std::move(on_burst)) {}

ChangeWatcher::~ChangeWatcher() { stop(); }

void ChangeWatcher::start() {
  std::lock_guard l(mu_);
  if (thread_.joinable()) return;
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) throw std::runtime_error(std::string("inotify_init1: ") + std::strerror(errno));
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    int e = errno;
    ::close(inotify_fd_);
    inotify_fd_ = -1;
    throw std::runtime_error(std::string("eventfd: ") + std::strerror(e));
  }
  problems_.clear();
  for (auto& r : roots_) add_root_locked(r);
  thread_ = std::thread([this] { run(); });
}

void ChangeWatcher::stop() {
  std::thread t;
  {
    std::lock_guard l(mu_);
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    t = std::move(thread_);
  }
  t.join();
  std::lock_guard l(mu_);
  ::close(inotify_fd_);
  ::close(wake_fd_);
  inotify_fd_ = wake_fd_ = -1;
  watches_.clear();
}

bool ChangeWatcher::running() const {
  std::lock_guard l(mu_);
  return thread_.joinable();
}

void ChangeWatcher::rescan() {
  std::lock_guard l(mu_);
  if (inotify_fd_ < 0) return;
  problems_.clear();
  for (auto& r : roots_) add_root_locked(r);
}

std::size_t ChangeWatcher::watched_directories() const {
  std::lock_guard l(mu_);
  return watches_.size();
}

std::vector<std::string> ChangeWatcher::problems() const {
  std::lock_guard l(mu_);
  return problems_;
}

bool ChangeWatcher::add_watch_locked(const fs::path& dir) {
  int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), kMask);
  if (wd < 0) {
    std::string why = std::strerror(errno);
    if (errno == ENOSPC) why += " (raise fs.inotify.max_user_watches)";
    problems_.push_back(dir.string() + ": " + why);
    return false;
  }
  watches_[wd] = dir;
  return true;
}

void ChangeWatcher::add_root_locked(const WatchRoot& root) {
  if (root.recursive) return add_tree_locked(root.dir);
  std::error_code ec;
  if (!fs::is_directory(root.dir, ec)) {
    problems_.push_back(root.dir.string() + ": not an existing directory (changes are not watched until it exists)");
    return;
  }
  add_watch_locked(root.dir);
}

void ChangeWatcher::add_tree_locked(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    problems_.push_back(dir.string() + ": not an existing directory (changes are not watched until it exists)");
    return;
  }
  if (!add_watch_locked(dir)) return;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec)) add_watch_locked(it->path());
}

bool ChangeWatcher::is_recursive_locked(const fs::path& dir) const {
  for (auto& r : roots_)
    if (!r.recursive && r.dir == dir) return false;
  return true;
}

std::size_t ChangeWatcher::drain_events() {
  alignas(inotify_event) char buf[64 * 1024];
  std::size_t events = 0;
  while (true) {
    ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    std::lock_guard l(mu_);
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {  // events were lost: re-walk everything
        for (auto& r : roots_) add_root_locked(r);
        ++events;
        continue;
      }
      if (ev->mask & IN_IGNORED) {
        watches_.erase(ev->wd);
        continue;
      }
      ++events;
      auto dir = watches_.find(ev->wd);
      if (dir != watches_.end() && ev->len && is_recursive_locked(dir->second) && (ev->mask & IN_ISDIR) &&
          (ev->mask & (IN_CREATE | IN_MOVED_TO)))
        add_tree_locked(dir->second / ev->name);  // a new subtree: watch it too
    }
  }
  return events;
}

void ChangeWatcher::run() {
  // A burst is in progress while burst_events > 0 (drain_events counts every
  // event it takes). Not a std::optional start time: GCC's -Wmaybe-uninitialized
  // cannot tie an optional's payload to its engaged flag (GCC bug 80635).
  Clock::time_point burst_start{};
  Clock::time_point last_event{};
  std::size_t burst_events = 0;
  while (true) {
    int timeout_ms = -1;
    if (burst_events > 0) {
      auto due = std::min(last_event + debounce_, burst_start + debounce_max_);
      timeout_ms = static_cast<int>(
          std::max<long long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count()));
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = ::poll(fds, 2, timeout_ms);
    if (rc < 0 && errno != EINTR) return;
    if (fds[1].revents) return;  // stop()
    if (rc > 0 && fds[0].revents) {
      std::size_t n = drain_events();
      if (n > 0) {
        last_event = Clock::now();
        if (burst_events == 0) burst_start = last_event;
        burst_events += n;
      }
    }
    if (burst_events > 0) {
      auto now = Clock::now();
      if (now >= last_event + debounce_ || now >= burst_start + debounce_max_) {
        std::size_t n = burst_events;
        burst_events = 0;
        on_burst_(n);  // events arriving meanwhile wait in inotify for the next burst
      }
    }
  }
}

}  // namespace tandem::config_rsync
