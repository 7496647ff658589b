// Health snapshots a store reports to the host.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::sdk {

// ok: in sync and serving its role. degraded: working, but a guarantee is
// weakened (stale, lagging, journaling). failed: not doing its job.
// unknown: not measured yet, or cannot be measured. stopped: not running.
enum class HealthStatus { ok, degraded, failed, unknown, stopped };

inline std::string_view to_string(HealthStatus s) {
  switch (s) {
    case HealthStatus::ok: return "ok";
    case HealthStatus::degraded: return "degraded";
    case HealthStatus::failed: return "failed";
    case HealthStatus::unknown: return "unknown";
    case HealthStatus::stopped: return "stopped";
  }
  return "unknown";
}

// One cell of the seed's replication page: page[address][field] = value.
// Example: {"10.11.2.60", "postgres_lag_bytes", "0"}. value is a string by
// contract ("unknown" when replication is not running).
struct ReplicationEntry {
  std::string address;
  std::string field;
  std::string value;
};

struct Health {
  HealthStatus status = HealthStatus::unknown;
  std::string summary;                     // one line a person can act on
  std::optional<std::uint64_t> lag_bytes;  // where the store has a notion of lag
  std::optional<double> lag_seconds;
  // A standby's objection to being promoted by automatic failover now, beside
  // lag_bytes (which [failover] maximum_lag_on_failover weighs): e.g. it was
  // not the synchronous standby at the primary's last report. One line a
  // person can act on; empty: none. A manual promote is not held back by it.
  std::string takeover_refusal;
  nlohmann::json details = nlohmann::json::object();    // free-form, store-specific
  std::vector<ReplicationEntry> replication;            // cells for /monitor/replication
  std::chrono::system_clock::time_point observed_at{};  // when this was measured

  static Health make(HealthStatus s, std::string summary) {
    Health h;
    h.status = s;
    h.summary = std::move(summary);
    h.observed_at = std::chrono::system_clock::now();
    return h;
  }
};

}  // namespace tandem::sdk
