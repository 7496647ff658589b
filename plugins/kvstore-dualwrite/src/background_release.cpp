#include "background_release.h"

#include <utility>

namespace tandem::kv {

BackgroundRelease::BackgroundRelease() : thread_([this] { run(); }) {}

BackgroundRelease::~BackgroundRelease() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void BackgroundRelease::release(std::vector<std::string>& pieces) {
  std::size_t bytes = 0;
  for (auto& p : pieces) bytes += p.capacity();
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::exchange(pieces, {}));
    released_bytes_ += bytes;
  }
  cv_.notify_one();
}

std::size_t BackgroundRelease::released_bytes() const {
  std::lock_guard lock(mu_);
  return released_bytes_;
}

void BackgroundRelease::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_, nothing left
    auto pieces = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    pieces = {};  // the free itself, off the io thread
    lock.lock();
  }
}

}  // namespace tandem::kv
