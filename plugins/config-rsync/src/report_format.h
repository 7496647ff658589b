// Small text helpers shared by sync reports and health summaries.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace tandem::config_rsync {

inline double seconds_since(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::system_clock::now() - t).count();
}

// The first 12 hex digits: enough for a person to compare two checksums.
inline std::string short_sum(const std::string& sum) { return sum.empty() ? "unknown" : sum.substr(0, 12); }

inline std::string human_bytes(std::int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 3) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

// "true" / "false" / "unknown" (either side not known yet).
inline std::string match_text(const std::string& local, const std::string& peer) {
  if (local.empty() || peer.empty()) return "unknown";
  return local == peer ? "true" : "false";
}

}  // namespace tandem::config_rsync
