#include "peer_wal_report.h"

#include <cctype>
#include <chrono>
#include <climits>
#include <utility>

namespace tandem::pgwal {
namespace {

constexpr const char* kEvent = "pg_wal_position";

bool hex_part(const std::string& s, std::size_t from, std::size_t to) {
  if (to <= from || to - from > 8) return false;
  for (std::size_t i = from; i < to; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// "16/B374D848": what pg_lsn accepts, checked here so a malformed message
// never reaches a query.
bool is_lsn(const std::string& s) {
  auto slash = s.find('/');
  return slash != std::string::npos && hex_part(s, 0, slash) && hex_part(s, slash + 1, s.size());
}

std::optional<PeerWalReport> from_json(const nlohmann::json& j, std::int64_t received_unix_ms) {
  if (!j.is_object()) return std::nullopt;
  auto lsn = j.find("lsn");
  auto tl = j.find("timeline");
  if (lsn == j.end() || !lsn->is_string() || !is_lsn(lsn->get<std::string>())) return std::nullopt;
  if (tl == j.end() || !tl->is_number_integer() || tl->get<long long>() <= 0 || tl->get<long long>() > INT32_MAX)
    return std::nullopt;
  PeerWalReport r{lsn->get<std::string>(), static_cast<int>(tl->get<long long>()), received_unix_ms, ""};
  if (auto st = j.find("standby_sync_state"); st != j.end() && st->is_string()) r.standby_sync_state = *st;
  return r;
}

}  // namespace

std::optional<std::uint64_t> lsn_position(const std::string& lsn) {
  if (!is_lsn(lsn)) return std::nullopt;
  const auto slash = lsn.find('/');
  return (std::stoull(lsn.substr(0, slash), nullptr, 16) << 32) | std::stoull(lsn.substr(slash + 1), nullptr, 16);
}

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json wal_position_message(const std::string& lsn, int timeline, const std::string& standby_sync_state) {
  return {{"event", kEvent}, {"lsn", lsn}, {"timeline", timeline}, {"standby_sync_state", standby_sync_state}};
}

std::optional<PeerWalReport> parse_wal_position(const nlohmann::json& event, std::int64_t now_unix_ms) {
  if (!event.is_object() || event.value("event", "") != kEvent) return std::nullopt;
  return from_json(event, now_unix_ms);
}

std::string to_state_text(const PeerWalReport& r) {
  return nlohmann::json{{"lsn", r.lsn},
                        {"timeline", r.timeline},
                        {"received_unix_ms", r.received_unix_ms},
                        {"standby_sync_state", r.standby_sync_state}}
      .dump();
}

std::optional<PeerWalReport> from_state_text(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("received_unix_ms") || !j["received_unix_ms"].is_number_integer())
    return std::nullopt;
  return from_json(j, j["received_unix_ms"].get<std::int64_t>());
}

void PeerWalReports::set(PeerWalReport r) {
  std::lock_guard l(mu_);
  latest_ = std::move(r);
  unsaved_ = true;
}

void PeerWalReports::clear() {
  std::lock_guard l(mu_);
  latest_.reset();
  unsaved_ = true;
}

std::optional<PeerWalReport> PeerWalReports::latest() const {
  std::lock_guard l(mu_);
  return latest_;
}

bool PeerWalReports::take_unsaved() {
  std::lock_guard l(mu_);
  return std::exchange(unsaved_, false);
}

}  // namespace tandem::pgwal
