#include "health_model.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace tandem::pgwal {
namespace {

using sdk::Health;
using sdk::HealthStatus;

std::string bytes_text(std::uint64_t b) {
  if (b < 10 * 1024) return std::to_string(b) + " B";
  if (b < 10ull * 1024 * 1024) return std::to_string(b / 1024) + " KiB";
  return std::to_string(b / (1024 * 1024)) + " MiB";
}

bool is_streaming(const std::string& state) { return state == "streaming" || state == "catchup"; }

nlohmann::json sync_details(const HealthInputs& in, const std::string& names) {
  return {{"configured", in.settings->synchronous},
          {"on_standby_loss", to_string(in.settings->on_standby_loss)},
          {"in_effect", to_string(in.sync_mode)},
          {"synchronous_standby_names", names}};
}

}  // namespace

const char* to_string(SyncModeState s) {
  switch (s) {
    case SyncModeState::off: return "async (configured)";
    case SyncModeState::sync: return "synchronous";
    case SyncModeState::blocking: return "blocking (standby gone, on_standby_loss = block)";
    case SyncModeState::degraded: return "async (degraded: standby gone, on_standby_loss = degrade)";
    case SyncModeState::pending: return "synchronous (standby gone, degrading after standby_loss_timeout)";
  }
  return "?";
}

const StandbyStatus* main_standby(const PrimaryView& p) {
  for (const auto& s : p.standbys)
    if (s.state == "streaming") return &s;
  for (const auto& s : p.standbys)
    if (is_streaming(s.state)) return &s;
  return nullptr;
}

Health health_from_view(const ServerView& view, const HealthInputs& in) {
  Health h = Health::make(HealthStatus::ok, "");
  h.details["server_version"] = view.version;
  h.details["role"] = std::string(sdk::to_string(in.role));
  h.details["in_recovery"] = view.in_recovery;
  h.details["lag_increasing"] = in.lag_increasing;
  h.details["lag_slope_bytes_per_second"] = std::round(in.lag_slope_bytes_per_second);

  if (!view.in_recovery) {
    const PrimaryView& p = *view.primary;
    h.details["current_lsn"] = p.current_lsn;
    h.details["timeline"] = p.timeline;
    h.details["synchronous"] = sync_details(in, p.synchronous_standby_names);
    nlohmann::json standbys = nlohmann::json::array();
    for (const auto& s : p.standbys) standbys.push_back(to_json(s));
    h.details["standbys"] = standbys;
    bool any = false;
    for (const auto& s : p.standbys) {
      if (!is_streaming(s.state)) continue;
      any = true;
      h.replication.push_back({s.address, kLagField, s.replay_gap ? std::to_string(*s.replay_gap) : "unknown"});
    }
    if (!any && !in.peer_address.empty()) h.replication.push_back({in.peer_address, kLagField, "unknown"});

    if (in.role == sdk::Role::secondary) {
      h.status = HealthStatus::failed;
      h.summary =
          "this node is secondary but its PostgreSQL is a primary (not in recovery): two primaries risk "
          "diverging; run rejoin on this node";
      return h;
    }
    if (in.fenced) {
      h.status = HealthStatus::failed;
      h.summary = "fenced: the peer has a higher epoch, yet this PostgreSQL is still a primary; run rejoin";
      return h;
    }
    const StandbyStatus* main = main_standby(p);
    if (!main && in.peer_address.empty()) {
      // No [peer] (a test instance): there is no standby to expect.
      h.status = HealthStatus::ok;
      h.summary = "a lone primary: no peer is configured (a test instance), so nothing replicates";
      return h;
    }
    if (!main) {
      h.status = HealthStatus::degraded;
      h.summary = "primary, but no standby is streaming: replication is not running";
      if (in.sync_mode == SyncModeState::blocking || in.sync_mode == SyncModeState::pending)
        h.summary += "; commits are waiting for the standby (" + std::string(to_string(in.sync_mode)) + ")";
      else if (in.sync_mode == SyncModeState::degraded)
        h.summary += "; synchronous replication degraded to async";
      return h;
    }
    h.lag_bytes = main->replay_gap;
    if (main->replay_lag_seconds)
      h.lag_seconds = *main->replay_lag_seconds;
    else if (main->replay_gap && *main->replay_gap == 0)
      h.lag_seconds = 0.0;
    const std::uint64_t gap = main->replay_gap.value_or(0);
    h.summary = "primary, standby " + main->address + " " + main->state + " (" + main->sync_state + "), replay lag " +
                bytes_text(gap) + (in.lag_increasing ? " and increasing" : "");
    if (gap > in.settings->lag_warn_bytes) {
      h.status = HealthStatus::degraded;
      h.summary += " (above lag_warn_bytes " + bytes_text(in.settings->lag_warn_bytes) + ")";
    }
    if (in.settings->synchronous && in.sync_mode != SyncModeState::sync) h.status = HealthStatus::degraded;
    return h;
  }

  const StandbyView& s = *view.standby;
  h.details["standby"] = to_json(s);
  h.details["timeline"] = s.timeline;
  const bool streaming = s.receiver_status == "streaming";
  h.replication.push_back(
      {in.own_address, kLagField, streaming && s.replay_gap ? std::to_string(*s.replay_gap) : "unknown"});
  if (in.role == sdk::Role::primary && !in.fenced) {
    h.status = HealthStatus::failed;
    h.summary = "this node is primary but its PostgreSQL is still in recovery (a standby): promote did not complete";
    return h;
  }
  if (!streaming) {
    // What this standby received and has not replayed is known locally even
    // with the primary gone: it is what a promotion now would still have to
    // replay, and what automatic failover's lag gate weighs
    // (maximum_lag_on_failover), which would otherwise see no lag at all
    // exactly when the primary's host died.
    h.lag_bytes = s.replay_gap;
    h.status = HealthStatus::degraded;
    h.summary = "standby is not streaming from the primary (WAL receiver: " +
                (s.receiver_status.empty() ? std::string("not running") : s.receiver_status) +
                "); replication is not running";
    return h;
  }
  h.lag_bytes = s.replay_gap;
  const std::uint64_t gap = s.replay_gap.value_or(0);
  h.lag_seconds = gap == 0 ? 0.0 : s.last_replay_age_seconds.value_or(0.0);
  h.summary = "standby streaming from " + s.sender_host + ", replay lag " + bytes_text(gap) +
              (in.lag_increasing ? " and increasing" : "");
  if (gap > in.settings->lag_warn_bytes) {
    h.status = HealthStatus::degraded;
    h.summary += " (above lag_warn_bytes " + bytes_text(in.settings->lag_warn_bytes) + ")";
  }
  return h;
}

void apply_primary_report(sdk::Health& h, const StandbyView& s, const PeerWalReport& report, const Settings& settings,
                          std::int64_t now_unix_ms) {
  if (report.timeline != s.timeline) return;
  const double age = static_cast<double>(now_unix_ms - report.received_unix_ms) / 1000.0;
  std::uint64_t have = 0;
  for (const auto* lsn : {&s.receive_lsn, &s.replay_lsn})
    if (*lsn)
      if (auto at = lsn_position(**lsn)) have = std::max(have, *at);
  if (auto reported = lsn_position(report.lsn); reported && *reported > have) {
    const std::uint64_t behind = *reported - have;
    h.details["behind_primary_report_bytes"] = behind;
    h.lag_bytes = std::max(h.lag_bytes.value_or(0), behind);
  }
  if (!settings.synchronous || report.standby_sync_state.empty() || report.standby_sync_state == "sync" ||
      report.standby_sync_state == "quorum")
    return;
  std::ostringstream age_text;
  age_text << std::fixed << std::setprecision(1) << age;
  h.takeover_refusal = "PostgreSQL was not replicating synchronously to this standby at the primary's last report (" +
                       age_text.str() + " s ago, its sync_state '" + report.standby_sync_state +
                       "'): commits it acknowledged meanwhile may be missing here";
}

Health health_unreachable(const std::string& why, const HealthInputs& in) {
  Health h = Health::make(HealthStatus::failed, why);
  h.details["role"] = std::string(sdk::to_string(in.role));
  h.replication.push_back({in.role == sdk::Role::primary ? in.peer_address : in.own_address, kLagField, "unknown"});
  return h;
}

}  // namespace tandem::pgwal
