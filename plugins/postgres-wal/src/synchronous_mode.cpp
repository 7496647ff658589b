// Synchronous replication: synchronous_standby_names names the standby while
// it streams; when it is gone, on_standby_loss decides between blocking
// commits (zero loss, no availability) and degrading to async.
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

SyncModeState PostgresWalPlugin::manage_synchronous(const PrimaryView& view) {
  if (!settings_.synchronous) return SyncModeState::off;
  bool streaming = false;
  for (const auto& s : view.standbys)
    if (s.state == "streaming" && s.application_name == host_->peer().name) streaming = true;
  const auto now = std::chrono::steady_clock::now();
  SyncModeState state;
  if (streaming) {
    standby_missing_since_.reset();
    state = SyncModeState::sync;
  } else {
    if (!standby_missing_since_) standby_missing_since_ = now;
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
