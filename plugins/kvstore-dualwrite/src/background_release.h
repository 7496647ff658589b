// Frees large buffers on a thread of its own instead of the endpoint's io
// thread. Giving back tens of MiB (a disconnected client's unread replies:
// each large reply is its own mapping, unmapped page by page) held the io
// thread, and so every client's replies, for milliseconds.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::kv {

class BackgroundRelease {
 public:
  BackgroundRelease();
  ~BackgroundRelease();  // frees what is left, then joins
  BackgroundRelease(const BackgroundRelease&) = delete;
  BackgroundRelease& operator=(const BackgroundRelease&) = delete;

  // Takes the pieces (leaving `pieces` empty) and frees them later, elsewhere.
  void release(std::vector<std::string>& pieces);
  // Bytes handed over so far (what the io thread did not have to free).
  std::size_t released_bytes() const;

 private:
  void run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<std::string>> queue_;
  std::size_t released_bytes_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tandem::kv
