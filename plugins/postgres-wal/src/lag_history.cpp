#include "lag_history.h"

namespace tandem::pgwal {

void LagHistory::add(std::uint64_t lag_bytes, std::chrono::steady_clock::time_point at) {
  samples_.push_back({at, static_cast<double>(lag_bytes)});
  while (samples_.size() > capacity_) samples_.pop_front();
}

double LagHistory::slope_bytes_per_second() const {
  if (samples_.size() < 2) return 0;
  const auto t0 = samples_.front().at;
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& s : samples_) {
    const double x = std::chrono::duration<double>(s.at - t0).count();
    n += 1;
    sx += x;
    sy += s.bytes;
    sxx += x * x;
    sxy += x * s.bytes;
  }
  const double denom = n * sxx - sx * sx;
  if (denom <= 0) return 0;
  return (n * sxy - sx * sy) / denom;
}

bool LagHistory::increasing() const {
  if (samples_.size() < 4) return false;
  const double first = samples_.front().bytes, last = samples_.back().bytes;
  return last > 0 && last - first >= min_growth_bytes_ && last > first && slope_bytes_per_second() > 0;
}

}  // namespace tandem::pgwal
