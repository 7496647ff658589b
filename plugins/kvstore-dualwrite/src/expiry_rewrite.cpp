#include "expiry_rewrite.h"

#include <cctype>
#include <charconv>
#include <limits>
#include <optional>

#include "plugin_util.h"
#include "resp.h"

namespace tandem::kv {
namespace {

// A strictly positive integer that still fits after scaling to ms and adding now.
std::optional<long long> positive(std::string_view s, long long scale, long long now_ms) {
  long long v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v <= 0) return std::nullopt;
  if (v > (std::numeric_limits<long long>::max() - now_ms) / scale) return std::nullopt;
  return v * scale + now_ms;
}

// Any integer (EXPIRE accepts 0 and negatives: the key is deleted at once).
std::optional<long long> any_integer(std::string_view s, long long scale, long long now_ms) {
  long long v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  const long long limit = (std::numeric_limits<long long>::max() / 2) / scale;
  if (v > limit || v < -limit) return std::nullopt;
  return v * scale + now_ms;
}

// SET/GETEX: replace "EX n" / "PX n" (from `first_option` on) by "PXAT abs".
RewriteOutcome rewrite_options(const std::vector<std::string_view>& argv, std::size_t first_option, long long now_ms,
                               std::string& out) {
  for (std::size_t i = first_option; i + 1 < argv.size(); ++i) {
    long long scale = iequals(argv[i], "EX") ? 1000 : iequals(argv[i], "PX") ? 1 : 0;
    if (!scale) continue;
    auto abs = positive(argv[i + 1], scale, now_ms);
    if (!abs) return RewriteOutcome::unchanged;
    std::string at = std::to_string(*abs);
    std::vector<std::string_view> copy = argv;
    copy[i] = "PXAT";
    copy[i + 1] = at;
    append_command(out, copy);
    return RewriteOutcome::rewritten;
  }
  return RewriteOutcome::unchanged;
}

}  // namespace

RewriteOutcome rewrite_expiry(const std::vector<std::string_view>& argv, long long now_ms, std::string& out) {
  if (argv.empty()) return RewriteOutcome::unchanged;
  auto name = argv[0];
  if (iequals(name, "EXPIRE") || iequals(name, "PEXPIRE")) {
    if (argv.size() < 3) return RewriteOutcome::unchanged;
    auto abs = any_integer(argv[2], iequals(name, "EXPIRE") ? 1000 : 1, now_ms);
    if (!abs) return RewriteOutcome::unchanged;
    std::string at = std::to_string(*abs);
    std::vector<std::string_view> copy = argv;
    copy[0] = "PEXPIREAT";
    copy[2] = at;
    append_command(out, copy);
    return RewriteOutcome::rewritten;
  }
  if (iequals(name, "SETEX") || iequals(name, "PSETEX")) {
    // SETEX key seconds value -> SET key value PXAT abs
    if (argv.size() != 4) return RewriteOutcome::unchanged;
    auto abs = positive(argv[2], iequals(name, "SETEX") ? 1000 : 1, now_ms);
    if (!abs) return RewriteOutcome::unchanged;
    std::string at = std::to_string(*abs);
    append_command(out, {"SET", argv[1], argv[3], "PXAT", at});
    return RewriteOutcome::rewritten;
  }
  if (iequals(name, "SET")) return rewrite_options(argv, 3, now_ms, out);
  if (iequals(name, "GETEX")) return rewrite_options(argv, 2, now_ms, out);
  if (iequals(name, "RESTORE")) {
    // RESTORE key ttl serialized [REPLACE] [ABSTTL] ...: a relative ttl > 0 becomes ABSTTL.
    if (argv.size() < 4) return RewriteOutcome::unchanged;
    for (std::size_t i = 4; i < argv.size(); ++i)
      if (iequals(argv[i], "ABSTTL")) return RewriteOutcome::unchanged;
    if (argv[2] == "0") return RewriteOutcome::unchanged;
    auto abs = positive(argv[2], 1, now_ms);
    if (!abs) return RewriteOutcome::unchanged;
    std::string at = std::to_string(*abs);
    std::vector<std::string_view> copy = argv;
    copy[2] = at;
    copy.push_back("ABSTTL");
    append_command(out, copy);
    return RewriteOutcome::rewritten;
  }
  return RewriteOutcome::unchanged;
}

}  // namespace tandem::kv
