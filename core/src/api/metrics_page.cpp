#include "api/metrics_page.h"

#include <functional>

namespace tandem::core {
namespace {

void family(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const sdk::MetricLabels& labels, double value) {
  out += name;
  out += prometheus_labels(labels);
  out += ' ';
  out += prometheus_number(value);
  out += '\n';
}

// One family with one sample per store, skipping stores without a value.
void per_store(std::string& out, const std::vector<StoreSnapshot>& stores, const std::string& name, const char* type,
               const char* help, const std::function<std::optional<double>(const StoreSnapshot&)>& value) {
  family(out, name, type, help);
  for (const auto& s : stores)
    if (auto v = value(s)) sample(out, name, {{"store", s.name}}, *v);
}

}  // namespace

std::string render_metrics(const NodeStateValues& node, const MaintenanceValues& maintenance, const PeerStatus& peer,
                           const std::vector<StoreSnapshot>& stores, const PluginMetrics& plugin_metrics) {
  std::string out;
  out.reserve(2048 + stores.size() * 1024);

  family(out, "tandem_node_epoch", "gauge", "The node's persisted failover epoch.");
  sample(out, "tandem_node_epoch", {}, static_cast<double>(node.epoch));
  family(out, "tandem_node_role", "gauge", "1 for the node's current role.");
  sample(out, "tandem_node_role", {{"role", "primary"}}, node.role == sdk::Role::primary ? 1 : 0);
  sample(out, "tandem_node_role", {{"role", "secondary"}}, node.role == sdk::Role::secondary ? 1 : 0);
  family(out, "tandem_node_fenced", "gauge",
         "1 when the node saw its peer at a higher epoch and must not act as primary.");
  sample(out, "tandem_node_fenced", {}, node.fenced ? 1 : 0);
  family(out, "tandem_node_paused", "gauge",
         "1 while the node is in maintenance mode (tandemctl pause): promote and switchover refused unless forced.");
  sample(out, "tandem_node_paused", {}, maintenance.paused ? 1 : 0);
  family(out, "tandem_peer_reachable", "gauge", "1 when the peer's API answered the last status poll.");
  sample(out, "tandem_peer_reachable", {}, peer.reachable ? 1 : 0);
  if (peer.epoch) {
    family(out, "tandem_peer_epoch", "gauge", "The peer's epoch as it last reported it.");
    sample(out, "tandem_peer_epoch", {}, static_cast<double>(*peer.epoch));
  }

  family(out, "tandem_store_health", "gauge", "1 for the store's current health status.");
  for (const auto& s : stores) {
    for (auto st : {sdk::HealthStatus::ok, sdk::HealthStatus::degraded, sdk::HealthStatus::failed,
                    sdk::HealthStatus::unknown, sdk::HealthStatus::stopped}) {
      sample(out, "tandem_store_health", {{"store", s.name}, {"status", std::string(sdk::to_string(st))}},
             s.health.status == st ? 1 : 0);
    }
  }
  per_store(out, stores, "tandem_store_lag_bytes", "gauge", "Replication lag in bytes, where the store measures it.",
            [](const StoreSnapshot& s) -> std::optional<double> {
              if (!s.health.lag_bytes) return std::nullopt;
              return static_cast<double>(*s.health.lag_bytes);
            });
  per_store(out, stores, "tandem_store_lag_seconds", "gauge",
            "Replication lag in seconds, where the store measures it.",
            [](const StoreSnapshot& s) { return s.health.lag_seconds; });
  per_store(out, stores, "tandem_store_sync_runs_total", "counter", "Sync runs completed.",
            [](const StoreSnapshot& s) -> std::optional<double> { return static_cast<double>(s.sync.runs); });
  per_store(out, stores, "tandem_store_sync_failures_total", "counter", "Sync runs that failed.",
            [](const StoreSnapshot& s) -> std::optional<double> { return static_cast<double>(s.sync.failures); });
  per_store(out, stores, "tandem_store_sync_duration_seconds", "gauge", "Duration of the last sync run.",
            [](const StoreSnapshot& s) -> std::optional<double> {
              if (!s.sync.last_duration_ms) return std::nullopt;
              return *s.sync.last_duration_ms / 1000.0;
            });
  per_store(out, stores, "tandem_store_last_sync_success_timestamp_seconds", "gauge",
            "Unix time of the last successful sync.", [](const StoreSnapshot& s) -> std::optional<double> {
              if (!s.sync.last_success) return std::nullopt;
              return std::chrono::duration<double>(s.sync.last_success->time_since_epoch()).count();
            });
  family(out, "tandem_store_running", "gauge", "1 when the store's plugin is started.");
  for (const auto& s : stores)
    sample(out, "tandem_store_running", {{"store", s.name}}, s.state == StoreState::running ? 1 : 0);

  plugin_metrics.render(out);
  return out;
}

std::string render_auto_failover_metrics(const dcs::AutoFailover::Figures& f) {
  std::string out;
  family(out, "tandem_dcs_last_seen_seconds", "gauge",
         "Seconds since etcd last answered this node (-1: never since start).");
  sample(out, "tandem_dcs_last_seen_seconds", {}, f.dcs_last_seen_seconds);
  family(out, "tandem_leader", "gauge", "1 while this node holds the leader key on etcd.");
  sample(out, "tandem_leader", {}, f.leader ? 1 : 0);
  family(out, "tandem_lease_remaining_seconds", "gauge",
         "Seconds the leader lease has at least on etcd's side (0 when not the leader).");
  sample(out, "tandem_lease_remaining_seconds", {}, f.lease_remaining_seconds);
  family(out, "tandem_takeover_refused", "gauge",
         "1 while the secondary would take over but a gate refuses (a store lags more than "
         "maximum_lag_on_failover: tandem_store_lag_bytes); why in /v1/status failover.decision.");
  sample(out, "tandem_takeover_refused", {}, f.takeover_refused ? 1 : 0);
  return out;
}

}  // namespace tandem::core
