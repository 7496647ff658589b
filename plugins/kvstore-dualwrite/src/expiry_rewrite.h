// Relative expiries (EXPIRE 10, SET k v EX 10, ...) would make the two Redis
// servers expire a key at different instants, since each computes "now" when
// the command arrives. The endpoint computes the absolute instant once and
// sends both servers the same PEXPIREAT / PXAT.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem::kv {

enum class RewriteOutcome {
  unchanged,  // send as is (no relative time in it, or malformed: Redis will reject it on both)
  rewritten,  // `out` holds the absolute-time command (RESP)
};

// argv[0] is the command name (any case). now_ms: Unix time in milliseconds.
RewriteOutcome rewrite_expiry(const std::vector<std::string_view>& argv, long long now_ms, std::string& out);

}  // namespace tandem::kv
