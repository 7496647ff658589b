#include "util/task_threads.h"

#include <exception>

#include "util/logging.h"

namespace tandem::core {

TaskThreads::TaskThreads(std::string name, int threads) : name_(std::move(name)) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

TaskThreads::~TaskThreads() { shutdown(); }

bool TaskThreads::post(std::function<void()> task) {
  {
    std::lock_guard l(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

std::size_t TaskThreads::queued() const {
  std::lock_guard l(mu_);
  return queue_.size();
}

bool TaskThreads::busy() const {
  std::lock_guard l(mu_);
  return running_ > 0 || !queue_.empty();
}

void TaskThreads::run() {
  std::unique_lock l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping and drained
    auto task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    l.unlock();
    try {
      task();
    } catch (const std::exception& e) {
      log_error(name_, std::string("task failed: ") + e.what());
    } catch (...) {
      log_error(name_, "task failed with an unknown exception");
    }
    l.lock();
    --running_;
    if (running_ == 0 && queue_.empty()) idle_cv_.notify_all();
  }
}

bool TaskThreads::shutdown(std::chrono::milliseconds grace) {
  std::unique_lock l(mu_);
  if (finished_) return true;
  stopping_ = true;
  cv_.notify_all();
  auto drained = [&] { return running_ == 0 && queue_.empty(); };
  bool ok = true;
  if (grace == std::chrono::milliseconds::max()) {
    idle_cv_.wait(l, drained);
  } else {
    ok = idle_cv_.wait_for(l, grace, drained);
  }
  finished_ = true;
  l.unlock();
  for (auto& t : threads_) {
    if (ok)
      t.join();
    else
      t.detach();
  }
  threads_.clear();
  return ok;
}

}  // namespace tandem::core
