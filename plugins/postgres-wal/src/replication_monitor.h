// What one sync measures: the primary's view of its standbys
// (pg_stat_replication) or a standby's own view (received vs replayed WAL,
// age of the last replayed transaction, WAL receiver state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pg_connection.h"

namespace tandem::pgwal {

// One row of pg_stat_replication (walsenders of base backups excluded).
struct StandbyStatus {
  std::string address;  // client_addr, or "local" for a unix socket
  std::string application_name;
  std::string state;       // startup, catchup, streaming, stopping
  std::string sync_state;  // async, potential, sync, quorum
  // Bytes between the primary's current WAL position and what the standby has
  // been sent / written / flushed / replayed (nullopt: not reported yet).
  std::optional<std::uint64_t> sent_gap, write_gap, flush_gap, replay_gap;
  std::optional<double> replay_lag_seconds;
  // Seconds since the standby's last reply (pg_stat_replication.reply_time).
  std::optional<double> reply_age_seconds;
};

struct PrimaryView {
  std::string current_lsn;
  int timeline = 0;
  std::string synchronous_standby_names;
  std::vector<StandbyStatus> standbys;
};

struct StandbyView {
  std::optional<std::string> receive_lsn, replay_lsn;
  // max(received - replayed, primary's last reported WAL end - replayed).
  std::optional<std::uint64_t> replay_gap;
  std::optional<double> last_replay_age_seconds;  // now() - pg_last_xact_replay_timestamp()
  std::string receiver_status;                    // "streaming", "starting", ..., "" when no WAL receiver
  std::string sender_host;
  std::optional<int> sender_port;
  int timeline = 0;  // received timeline when streaming, else the last checkpoint's
};

struct ServerView {
  bool in_recovery = false;
  std::string version;
  std::optional<PrimaryView> primary;  // set when not in recovery
  std::optional<StandbyView> standby;  // set when in recovery
};

// Reads the server's replication state (a few cheap catalog queries). Throws PgError.
ServerView observe_server(PgConnection& conn);

nlohmann::json to_json(const StandbyStatus& s);
nlohmann::json to_json(const StandbyView& s);

}  // namespace tandem::pgwal
