#include "background_release.h"

#include <algorithm>
#include <utility>

namespace {
// Rooms kept ready: enough for the replies a client has in flight at once
// and the next ones while the thread prepares more, within kRoomBytes (held
// for good once a large reply was seen); larger replies get no room.
constexpr std::size_t kRooms = 4;
constexpr std::size_t kRoomBytes = 4u << 20;
constexpr std::size_t kRoomGrain = 64u << 10;
std::size_t rooms_of(std::size_t size) { return size == 0 ? 0 : std::min(kRooms, kRoomBytes / size); }
}  // namespace

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

std::string BackgroundRelease::take_room(std::size_t need) {
  std::string room;
  {
    std::lock_guard lock(mu_);
    const std::size_t size = (need + kRoomGrain - 1) / kRoomGrain * kRoomGrain;
    if (rooms_of(size) == 0) return room;  // too large to keep ready
    if (size != room_size_) {
      // Another size is wanted now: the old rooms go (freed there).
      if (!rooms_.empty()) queue_.push_back(std::exchange(rooms_, {}));
      room_size_ = size;
    }
    if (!rooms_.empty() && room_size_ <= need + need / 4) {
      room = std::move(rooms_.back());
      rooms_.pop_back();
      ++rooms_taken_;
    }
  }
  cv_.notify_one();
  return room;
}

std::size_t BackgroundRelease::rooms_taken() const {
  std::lock_guard lock(mu_);
  return rooms_taken_;
}

std::size_t BackgroundRelease::released_bytes() const {
  std::lock_guard lock(mu_);
  return released_bytes_;
}

void BackgroundRelease::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty() || rooms_.size() < rooms_of(room_size_); });
    if (!queue_.empty()) {
      auto pieces = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      pieces = {};  // the free itself, off the io thread
      lock.lock();
      continue;
    }
    if (stop_) return;  // nothing left to free; rooms not needed any more
    const std::size_t size = room_size_;
    lock.unlock();
    std::string room;
    room.resize(size);  // writes every page: the faults happen here
    room.clear();       // keeps the capacity
    lock.lock();
    if (size == room_size_) rooms_.push_back(std::move(room));
  }
}

}  // namespace tandem::kv
