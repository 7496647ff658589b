#include "api/bearer_auth.h"

#include <algorithm>

namespace tandem::core {

bool constant_time_equal(std::string_view a, std::string_view b) {
  std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

AuthResult BearerAuth::check(std::string_view authorization) const {
  if (!token_ || token_->empty()) return AuthResult::not_configured;
  if (authorization.empty()) return AuthResult::missing;
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() < scheme.size()) return AuthResult::wrong;
  // The scheme name is case-insensitive (RFC 7235).
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    char s = scheme[i];
    if (s >= 'A' && s <= 'Z') s = static_cast<char>(s - 'A' + 'a');
    if (c != s) return AuthResult::wrong;
  }
  std::string_view presented = authorization.substr(scheme.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && presented.back() == ' ') presented.remove_suffix(1);
  return constant_time_equal(presented, *token_) ? AuthResult::ok : AuthResult::wrong;
}

}  // namespace tandem::core
