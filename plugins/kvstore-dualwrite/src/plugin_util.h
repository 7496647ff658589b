// Small helpers shared by the plugin's source files.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace tandem::kv {

inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A field of a parsed INFO section ("" when absent).
inline std::string field(const std::map<std::string, std::string>& info, const std::string& key) {
  auto it = info.find(key);
  return it == info.end() ? std::string() : it->second;
}

inline std::uint64_t to_u64(const std::map<std::string, std::string>& info, const std::string& key) {
  try {
    return std::stoull(field(info, key));
  } catch (...) {
    return 0;
  }
}

}  // namespace tandem::kv
