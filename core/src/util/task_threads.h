// Threads that run queued blocking tasks in order: one thread makes a serial
// executor (a store's plugin calls never overlap), several make a worker pool
// (HostContext::post_blocking). Blocking work never runs on the event loop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::core {

class TaskThreads {
 public:
  // `name` appears in logs when a task throws.
  TaskThreads(std::string name, int threads);
  ~TaskThreads();  // shutdown(unbounded)
  TaskThreads(const TaskThreads&) = delete;
  TaskThreads& operator=(const TaskThreads&) = delete;

  // Queue a task; returns false (and drops it) once shutdown has begun.
  // A task that throws is logged; the thread carries on.
  bool post(std::function<void()> task);

  // Stop accepting tasks, run what is queued, join. Returns false when the
  // tasks did not finish within `grace`: the threads are then detached and
  // the caller must end the process (a plugin call is hung).
  bool shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds::max());

  std::size_t queued() const;
  bool busy() const;  // a task is running or queued

 private:
  void run();

  std::string name_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::function<void()>> queue_;
  int running_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tandem::core
