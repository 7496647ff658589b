// ConfigRsyncPlugin::health(): the cached state turned into a snapshot.
// Thresholds (README "Health"): a secondary is ok while its last good pull is
// younger than 2 intervals, degraded after a failed pull or past 2 intervals,
// failed past 4 intervals without a good pull.
#include <cmath>

#include "config_rsync_plugin.h"
#include "report_format.h"

namespace tandem::config_rsync {

using Clock = std::chrono::system_clock;

sdk::Health ConfigRsyncPlugin::health() const {
  std::lock_guard l(mu_);
  const State& s = state_;
  const double interval_s = settings_.interval.count() / 1000.0;
  nlohmann::json d{{"mode", mode_name(s.mode)},
                   {"remote", host_ ? settings_.remote_for(host_->peer().address) : settings_.remote},
                   {"interval_seconds", interval_s},
                   {"local_checksum", s.local_checksum.empty() ? "unknown" : s.local_checksum},
                   {"peer_checksum", s.peer_checksum.empty() ? "unknown" : s.peer_checksum},
                   {"checksums_match", match_text(s.local_checksum, s.peer_checksum)},
                   {"pulls", s.pulls},
                   {"pull_failures", s.failures},
                   {"notifications_sent", s.notifications_sent}};
  if (!s.checksum_error.empty()) d["checksum_error"] = s.checksum_error;
  if (s.peer_checksum_at) d["peer_checksum_age_seconds"] = std::round(seconds_since(*s.peer_checksum_at));

  sdk::Health h;
  h.observed_at = Clock::now();
  const std::string match = match_text(s.local_checksum, s.peer_checksum);
  switch (s.mode) {
    case Mode::stopped:
      h.status = sdk::HealthStatus::stopped;
      h.summary = "not started";
      break;
    case Mode::idle:
      h.status = sdk::HealthStatus::degraded;
      h.summary = "idle (" + s.idle_reason + "): neither serving nor pulling";
      break;
    case Mode::serving: {
      d["watched_directories"] = s.watched_directories;
      if (!s.watch_problems.empty()) d["watch_problems"] = s.watch_problems;
      if (settings_.serve_port > 0) d["serve_port"] = settings_.serve_port;
      d["secondary_checksum"] = d["peer_checksum"];
      std::vector<std::string> problems;
      if (!s.serve_problem.empty()) problems.push_back(s.serve_problem);
      if (!s.watch_problems.empty())
        problems.push_back("not watching " + s.watch_problems.front() +
                           " (changes reach the secondary only every interval)");
      if (!s.checksum_error.empty()) problems.push_back("checksum: " + s.checksum_error);
      h.status = problems.empty() ? sdk::HealthStatus::ok : sdk::HealthStatus::degraded;
      h.summary = problems.empty() ? "primary: serving " + std::to_string(settings_.paths.size()) +
                                         " path(s); checksum " + short_sum(s.local_checksum) +
                                         (match == "true"    ? ", secondary matches"
                                          : match == "false" ? ", secondary differs"
                                                             : "")
                                   : "primary: " + problems.front();
      if (!s.peer_checksum.empty()) h.replication.push_back({host_->peer().address, "config_checksum_match", match});
      break;
    }
    case Mode::pulling: {
      d["primary_checksum"] = d["peer_checksum"];
      d["last_exit_code"] = s.last_exit_code;
      if (!s.last_error.empty()) d["last_error"] = s.last_error;
      d["files_transferred"] = s.last_stats.files_transferred;
      d["bytes_transferred"] = s.last_stats.bytes_transferred;
      d["changes"] = s.last_stats.changes_total;
      d["last_duration_ms"] = s.last_duration.count();
      if (s.last_attempt) d["last_attempt_age_seconds"] = std::round(seconds_since(*s.last_attempt));
      // Staleness is measured from the last good pull, or from when pulling began.
      auto reference = s.last_good ? *s.last_good : s.mode_since;
      double age = seconds_since(reference);
      if (s.last_good) {
        d["last_good_sync_age_seconds"] = std::round(age);
        h.lag_seconds = age;
      }
      std::string when =
          s.last_good ? "last good pull " + std::to_string(static_cast<long long>(age)) + "s ago" : "no good pull yet";
      if (age >= 4 * interval_s) {
        h.status = sdk::HealthStatus::failed;
        h.summary = "stale: " + when + " (> 4 intervals)" + (s.last_error.empty() ? "" : "; last pull " + s.last_error);
      } else if (!s.last_error.empty()) {
        h.status = sdk::HealthStatus::degraded;
        h.summary = "last pull failed: " + s.last_error + "; " + when;
      } else if (age >= 2 * interval_s) {
        h.status = sdk::HealthStatus::degraded;
        h.summary = "stale: " + when + " (> 2 intervals)";
      } else if (!s.last_good) {
        h.status = sdk::HealthStatus::unknown;
        h.summary = "waiting for the first pull";
      } else {
        h.status = sdk::HealthStatus::ok;
        h.summary = "in sync: " + when + ", " + std::to_string(s.last_stats.files_transferred) + " file(s) " +
                    human_bytes(s.last_stats.bytes_transferred) + "; checksum " + short_sum(s.local_checksum) +
                    (match == "true"    ? " matches primary"
                     : match == "false" ? " differs from primary"
                                        : "");
      }
      if (host_) {
        const std::string& me = host_->node().address;
        h.replication.push_back(
            {me, "config_sync_age_seconds", s.last_good ? std::to_string(static_cast<long long>(age)) : "unknown"});
        h.replication.push_back({me, "config_checksum_match", match});
      }
      break;
    }
  }
  h.details = std::move(d);
  return h;
}

}  // namespace tandem::config_rsync
