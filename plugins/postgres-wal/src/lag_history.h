// A small ring of lag samples (one per sync) that answers "is the lag
// increasing?" — the seed warns about lag that is large *and* increasing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

namespace tandem::pgwal {

class LagHistory {
 public:
  // min_growth_bytes: how much the lag must grow across the window to count
  // as a trend (a few KiB of jitter under a steady load is not one).
  explicit LagHistory(std::size_t capacity = 10, double min_growth_bytes = 64 * 1024)
      : capacity_(capacity), min_growth_bytes_(min_growth_bytes) {}

  void add(std::uint64_t lag_bytes, std::chrono::steady_clock::time_point at = std::chrono::steady_clock::now());
  // Forget the samples (the standby went away; a new stream starts afresh).
  void clear() { samples_.clear(); }
  std::size_t size() const { return samples_.size(); }

  // True when there are at least 4 samples, the least-squares slope over them
  // is positive, and the newest is above zero and at least min_growth_bytes
  // above the oldest. One noisy sample does not make a trend; a lag that
  // drains back to 0 never counts.
  bool increasing() const;
  // Least-squares slope in bytes per second over the window (0 with < 2 samples).
  double slope_bytes_per_second() const;

 private:
  struct Sample {
    std::chrono::steady_clock::time_point at;
    double bytes;
  };
  std::size_t capacity_;
  double min_growth_bytes_;
  std::deque<Sample> samples_;
};

}  // namespace tandem::pgwal
