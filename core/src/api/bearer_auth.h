// The bearer-token check for mutating endpoints: the token comes from
// [api] token_file; without one configured, mutating endpoints are refused.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tandem::core {

// Compares without an early exit, so the time taken does not reveal how
// many leading bytes matched (nor, beyond the longer length, anything else).
bool constant_time_equal(std::string_view a, std::string_view b);

enum class AuthResult { ok, not_configured, missing, wrong };

class BearerAuth {
 public:
  explicit BearerAuth(std::optional<std::string> token = std::nullopt) : token_(std::move(token)) {}
  // `authorization` is the Authorization header's value ("" when absent).
  AuthResult check(std::string_view authorization) const;
  bool configured() const { return token_.has_value(); }

 private:
  std::optional<std::string> token_;
};

}  // namespace tandem::core
