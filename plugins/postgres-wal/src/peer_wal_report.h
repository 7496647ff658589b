// The primary's WAL position as it last told the secondary. The primary sends
// it with every sync (the peer channel, HostContext::notify_peer); the
// secondary keeps the latest, in memory and in its store state so a restart
// of its tandemd does not forget it. After the primary dies with the stream
// already broken, WAL up to that position that this standby never received
// is a loss known for certain: a lower bound of what asynchronous
// replication loses, where before there was only "unknown".
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tandem::pgwal {

struct PeerWalReport {
  std::string lsn;  // pg_current_wal_lsn() on the primary, "X/Y"
  int timeline = 0;
  std::int64_t received_unix_ms = 0;  // this node's clock, when it arrived
  // pg_stat_replication.sync_state of this standby on the primary ("sync",
  // "quorum", "async", "potential"), "none" when it was not connected;
  // empty from a primary that does not say (older versions).
  std::string standby_sync_state;
};

// "X/Y" as one byte position; nullopt when it is not an LSN.
std::optional<std::uint64_t> lsn_position(const std::string& lsn);

// Milliseconds since the epoch by this node's clock.
std::int64_t unix_now_ms();

// The peer message a primary sends: {"event": "pg_wal_position", ...}.
nlohmann::json wal_position_message(const std::string& lsn, int timeline, const std::string& standby_sync_state);
// The report in `event` received now; nullopt when it is not one or is malformed
// (an LSN that is not two hex numbers "X/Y", a timeline that is not positive).
std::optional<PeerWalReport> parse_wal_position(const nlohmann::json& event, std::int64_t now_unix_ms);

// For the store state (one JSON text), and back; nullopt for anything unreadable.
std::string to_state_text(const PeerWalReport& r);
std::optional<PeerWalReport> from_state_text(const std::string& text);

// The latest report. Thread-safe: set from on_peer_event (the event loop),
// read by sync and prepare.
class PeerWalReports {
 public:
  void set(PeerWalReport r);
  void clear();
  std::optional<PeerWalReport> latest() const;
  // True once after each set(): the report should be saved to the state.
  bool take_unsaved();

 private:
  mutable std::mutex mu_;
  std::optional<PeerWalReport> latest_;
  bool unsaved_ = false;
};

}  // namespace tandem::pgwal
