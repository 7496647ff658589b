#include "api/status_views.h"

#include <cstdio>
#include <ctime>

namespace tandem::core {

nlohmann::json iso_time(const std::optional<std::chrono::system_clock::time_point>& t) {
  if (!t || t->time_since_epoch().count() == 0) return nullptr;
  std::time_t secs = std::chrono::system_clock::to_time_t(*t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return std::string(buf);
}

nlohmann::json replication_page(sdk::Role role, const std::vector<StoreSnapshot>& stores) {
  nlohmann::json page = nlohmann::json::object();
  for (const auto& s : stores) {
    for (const auto& cell : s.health.replication) {
      if (cell.address.empty() || cell.address == "replication_mode") continue;  // would break the page's shape
      page[cell.address][cell.field] = cell.value;
    }
  }
  page["replication_mode"] = role == sdk::Role::primary ? "master" : "standby";
  return page;
}

nlohmann::json store_json(const StoreSnapshot& s) {
  const auto& h = s.health;
  nlohmann::json health = {
      {"status", std::string(sdk::to_string(h.status))},
      {"summary", h.summary},
      {"lag_bytes", h.lag_bytes ? nlohmann::json(*h.lag_bytes) : nlohmann::json(nullptr)},
      {"lag_seconds", h.lag_seconds ? nlohmann::json(*h.lag_seconds) : nlohmann::json(nullptr)},
      {"details", h.details.is_null() ? nlohmann::json::object() : h.details},
      {"observed_at", iso_time(h.observed_at)},
  };
  if (!h.takeover_refusal.empty()) health["takeover_refusal"] = h.takeover_refusal;
  nlohmann::json sync = {
      {"runs", s.sync.runs},
      {"failures", s.sync.failures},
      {"last_duration_ms",
       s.sync.last_duration_ms ? nlohmann::json(*s.sync.last_duration_ms) : nlohmann::json(nullptr)},
      {"last_error", s.sync.last_error},
      {"last_success", iso_time(s.sync.last_success)},
      {"last_summary", s.sync.last_summary},
      {"in_progress", s.sync.in_progress},
  };
  nlohmann::json out = {
      {"name", s.name},
      {"plugin", s.plugin},
      {"version", s.version},
      {"state", std::string(to_string(s.state))},
      {"health", std::move(health)},
      {"sync", std::move(sync)},
  };
  if (!s.start_error.empty()) out["start_error"] = s.start_error;
  return out;
}

nlohmann::json store_detail_json(const StoreRunner& runner) {
  nlohmann::json out = store_json(runner.snapshot());
  nlohmann::json diagnostics = nlohmann::json::array();
  for (const auto& d : runner.diagnostics()) diagnostics.push_back({{"name", d.name}, {"description", d.description}});
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : runner.actions()) actions.push_back({{"name", a.name}, {"description", a.description}});
  out["diagnostics"] = std::move(diagnostics);
  out["actions"] = std::move(actions);
  return out;
}

nlohmann::json maintenance_json(const MaintenanceValues& m) {
  nlohmann::json out = {{"paused", m.paused}};
  if (m.paused) {
    out["since"] = m.since;
    out["reason"] = m.reason;
  }
  return out;
}

nlohmann::json status_json(const NodeRuntime& runtime) {
  auto state = runtime.node_state();
  auto peer = runtime.peer_status();
  nlohmann::json stores = nlohmann::json::array();
  for (const auto& s : runtime.snapshots()) stores.push_back(store_json(s));
  nlohmann::json out = {
      {"node", {{"name", runtime.node().name}, {"address", runtime.node().address}}},
      {"role", runtime.test_instance() ? std::string("test") : std::string(sdk::to_string(state.role))},
      {"epoch", state.epoch},
      {"fenced", state.fenced},
      {"peer",
       {{"name", runtime.peer().name},
        {"address", runtime.peer().address},
        {"api_url", runtime.peer().api_url},
        {"reachable", peer.reachable},
        {"role", peer.role ? nlohmann::json(*peer.role) : nlohmann::json(nullptr)},
        {"epoch", peer.epoch ? nlohmann::json(*peer.epoch) : nlohmann::json(nullptr)},
        {"fenced", peer.fenced ? nlohmann::json(*peer.fenced) : nlohmann::json(nullptr)},
        {"paused", peer.paused},
        {"last_seen", iso_time(peer.last_seen)},
        {"last_error", peer.last_error},
        {"stores", peer.stores}}},
      {"stores", std::move(stores)},
  };
  if (state.fenced) out["fenced_reason"] = state.fenced_reason;
  out["maintenance"] = maintenance_json(runtime.maintenance_state());
  // Leader, lease left, etcd's health and why this node would or would not take over.
  out["failover"] = runtime.auto_failover() ? runtime.auto_failover()->status() : nlohmann::json{{"mode", "manual"}};
  return out;
}

}  // namespace tandem::core
