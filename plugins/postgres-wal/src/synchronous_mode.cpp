// Synchronous replication: synchronous_standby_names names the standby while
// it streams; when it is gone, on_standby_loss decides between blocking
// commits (zero loss, no availability) and degrading to async.
#include <algorithm>

#include "postgres_wal_plugin.h"

namespace tandem::pgwal {

std::string PostgresWalPlugin::synchronous_names_for(SyncModeState state) const {
  if (state == SyncModeState::off || state == SyncModeState::degraded) return "";
  // The standby connects with application_name = its node name (primary_conninfo).
  return sql_identifier(host_->peer().name);
}

void PostgresWalPlugin::set_synchronous_names(PgConnection& conn, const std::string& names) {
  // ALTER SYSTEM takes no bind parameters; names is built from a validated node name.
  conn.query("ALTER SYSTEM SET synchronous_standby_names = " + sql_literal(names));
  conn.query("SELECT pg_reload_conf()");
}

// A standby connected but silent (its host hung, its network cut without a
// reset) stays 'streaming' in pg_stat_replication until the primary's
// wal_sender_timeout (60 s by default), and commits wait for it all along.
// One that owes the reply for WAL it was sent, and whose last reply is older
// than standby_loss_timeout (at least 1 s: a live standby answers for what
// it was sent within its fsync time), counts as gone since that reply.
std::optional<std::chrono::steady_clock::time_point> PostgresWalPlugin::standby_gone_since(
    const PrimaryView& view, std::chrono::steady_clock::time_point now) const {
  const double threshold = std::max(1.0, std::chrono::duration<double>(settings_.standby_loss_timeout).count());
  for (const auto& s : view.standbys) {
    if (s.state != "streaming" || s.application_name != host_->peer().name) continue;
    const bool owes_reply = s.flush_gap && s.sent_gap && *s.flush_gap > *s.sent_gap;
    if (!owes_reply || !s.reply_age_seconds || *s.reply_age_seconds < threshold) return std::nullopt;
    return now - std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                     std::chrono::duration<double>(*s.reply_age_seconds));
  }
  return now;  // not streaming
}

SyncModeState PostgresWalPlugin::manage_synchronous(const PrimaryView& view) {
  if (!settings_.synchronous) return SyncModeState::off;
  const auto now = std::chrono::steady_clock::now();
  const auto gone_since = standby_gone_since(view, now);
  SyncModeState state;
  if (!gone_since) {
    standby_missing_since_.reset();
    state = SyncModeState::sync;
  } else {
    if (!standby_missing_since_ || *gone_since < *standby_missing_since_) standby_missing_since_ = *gone_since;
    if (settings_.on_standby_loss == StandbyLossPolicy::block)
      state = SyncModeState::blocking;
    else if (now - *standby_missing_since_ < settings_.standby_loss_timeout)
      state = SyncModeState::pending;
    else
      state = SyncModeState::degraded;
  }
  const std::string wanted = synchronous_names_for(state);
  if (view.synchronous_standby_names != wanted) {
    set_synchronous_names(local(), wanted);
    host_->log().warn("synchronous_standby_names set to '" + wanted + "': " + to_string(state));
    host_->metrics().add_counter("postgres_wal_synchronous_changes", 1);
  }
  return state;
}

}  // namespace tandem::pgwal
