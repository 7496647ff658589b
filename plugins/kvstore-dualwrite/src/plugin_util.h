// Small helpers shared by the plugin's source files.
#pragma once

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::kv {

inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ASCII case conversions (command names, pub/sub frame kinds).
inline std::string to_upper(std::string_view s) {
  std::string u(s);
  for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}
inline std::string to_lower(std::string_view s) {
  std::string u(s);
  for (auto& c : u) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return u;
}

// ASCII case-insensitive equality (command names, options).
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// An INFO reply's "key:value" lines (section headers and blank lines skipped).
inline std::map<std::string, std::string> parse_info(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string_view::npos) continue;
    out[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 1));
  }
  return out;
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

// The ids of the connections in a CLIENT LIST reply (lines of
// "id=7 addr=... name=... ...") whose name satisfies `pred`.
template <class Pred>
std::vector<std::string> client_ids_where(std::string_view client_list, Pred pred) {
  std::vector<std::string> ids;
  while (!client_list.empty()) {
    auto eol = client_list.find('\n');
    std::string_view line = client_list.substr(0, eol);
    client_list = eol == std::string_view::npos ? std::string_view() : client_list.substr(eol + 1);
    std::string_view id, client;
    std::size_t pos = 0;
    while (pos < line.size()) {
      auto end = line.find(' ', pos);
      if (end == std::string_view::npos) end = line.size();
      auto f = line.substr(pos, end - pos);
      if (f.substr(0, 3) == "id=") id = f.substr(3);
      if (f.substr(0, 5) == "name=") client = f.substr(5);
      pos = end + 1;
    }
    if (!id.empty() && pred(client)) ids.emplace_back(id);
  }
  return ids;
}

// The ids of the connections named `name`.
inline std::vector<std::string> client_ids_named(std::string_view client_list, std::string_view name) {
  return client_ids_where(client_list, [name](std::string_view n) { return n == name; });
}

// Fixed-width little-endian fields of the plugin's binary files (journal, intent log).
inline void put_u32(char* p, std::uint32_t v) { std::memcpy(p, &v, 4); }
inline void put_u64(char* p, std::uint64_t v) { std::memcpy(p, &v, 8); }
inline std::uint32_t get_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline std::uint64_t get_u64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace tandem::kv
