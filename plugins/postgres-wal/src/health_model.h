// Turns one measurement (ServerView) into the Health the host serves: status,
// summary, lag, details and the /monitor/replication cells. Pure functions,
// so the rules are unit-tested without a server.
#pragma once

#include <string>

#include "peer_wal_report.h"
#include "replication_monitor.h"
#include "settings.h"
#include "tandem/sdk/health.h"
#include "tandem/sdk/host_context.h"

namespace tandem::pgwal {

inline constexpr const char* kLagField = "postgres_lag_bytes";

// What synchronous replication guarantees right now.
enum class SyncModeState {
  off,       // synchronous = false: asynchronous replication by configuration
  sync,      // synchronous_standby_names names the streaming standby: commits wait for it
  blocking,  // standby gone, on_standby_loss = block: commits wait until it returns
  degraded,  // standby gone, on_standby_loss = degrade: switched to async, commits do not wait
  pending,   // standby gone for less than standby_loss_timeout: commits wait for now
};
const char* to_string(SyncModeState s);

struct HealthInputs {
  const Settings* settings = nullptr;
  sdk::Role role = sdk::Role::secondary;
  bool fenced = false;
  std::string own_address;   // this node's address (the standby's page key)
  std::string peer_address;  // the peer node's address (the primary's "unknown" key); "": no peer (a test node)
  bool lag_increasing = false;
  double lag_slope_bytes_per_second = 0;
  SyncModeState sync_mode = SyncModeState::off;
};

sdk::Health health_from_view(const ServerView& view, const HealthInputs& in);
// Health when PostgreSQL cannot be reached (or is not running).
sdk::Health health_unreachable(const std::string& why, const HealthInputs& in);

// What automatic failover's gate (core: maximum_lag_on_failover and
// Health::takeover_refusal) weighs on a standby, from the primary's last
// report of the same timeline: WAL the primary had written by then that this
// standby has not received counts as lag (asynchronous replication's loss if
// it took over now); with synchronous = true, a report that this standby was
// not the synchronous one refuses: commits the primary acknowledged without
// waiting for it may be missing here. A report of another timeline is ignored.
void apply_primary_report(sdk::Health& h, const StandbyView& s, const PeerWalReport& report, const Settings& settings,
                          std::int64_t now_unix_ms);

// The replay gap of the standby that matters: the first streaming one, else any.
const StandbyStatus* main_standby(const PrimaryView& p);

}  // namespace tandem::pgwal
