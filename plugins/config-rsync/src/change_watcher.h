// Watches the synced trees on the primary with inotify (recursively, adding
// directories created later) and reports each burst of changes once, after
// it has been quiet for `debounce` or at the latest `debounce_max` after its
// first change. Runs its own thread between start() and stop().
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::config_rsync {

// A directory to watch; recursive = false watches only the directory itself
// (used for the parent of a single-file entry).
struct WatchRoot {
  std::filesystem::path dir;
  bool recursive = true;
};

class ChangeWatcher {
 public:
  // Called on the watcher's thread with the number of events in the burst.
  using BurstHandler = std::function<void(std::size_t events)>;

  ChangeWatcher(std::vector<WatchRoot> roots, std::chrono::milliseconds debounce,
                std::chrono::milliseconds debounce_max, BurstHandler on_burst);
  ~ChangeWatcher();
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  // Sets up inotify and the thread. Throws std::runtime_error (inotify limits).
  // Roots that do not exist yet are reported by problems() and picked up by rescan().
  void start();
  // Stops and joins the thread, closes inotify. Idempotent.
  void stop();
  bool running() const;
  // Adds watches for roots (and subdirectories) not watched yet.
  void rescan();
  std::size_t watched_directories() const;
  // Roots that could not be watched, with the reason; empty when all are.
  std::vector<std::string> problems() const;

 private:
  void run();
  void add_root_locked(const WatchRoot& root);
  void add_tree_locked(const std::filesystem::path& dir);
  bool add_watch_locked(const std::filesystem::path& dir);
  bool is_recursive_locked(const std::filesystem::path& dir) const;
  std::size_t drain_events();

  std::vector<WatchRoot> roots_;
  std::chrono::milliseconds debounce_;
  std::chrono::milliseconds debounce_max_;
  BurstHandler on_burst_;

  mutable std::mutex mu_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;                              // eventfd: stop() wakes the thread
  std::map<int, std::filesystem::path> watches_;  // watch descriptor -> directory
  std::vector<std::string> problems_;
  std::thread thread_;
};

}  // namespace tandem::config_rsync
