// Frees large buffers on a thread of its own instead of the endpoint's io
// thread, and prepares the rooms large replies are received into. Giving
// back tens of MiB (a disconnected client's unread replies: each large reply
// is its own mapping, unmapped page by page) held the io thread, and so
// every client's replies, for milliseconds; faulting in the fresh pages of
// each 1 MiB reply was half the io thread's work beside a client that never
// reads.
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
  // A buffer with room for `need` bytes whose pages are already faulted in
  // (empty, no more than a quarter too large), or an empty string when none
  // is ready; either way a few of that size (up to 4 MiB in all; none above
  // it) are prepared for the next calls.
  std::string take_room(std::size_t need);
  std::size_t rooms_taken() const;

 private:
  void run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<std::string>> queue_;
  std::size_t released_bytes_ = 0;
  std::size_t room_size_ = 0;       // the size rooms are prepared at (the last one asked for, rounded up)
  std::vector<std::string> rooms_;  // prepared, of room_size_
  std::size_t rooms_taken_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tandem::kv
