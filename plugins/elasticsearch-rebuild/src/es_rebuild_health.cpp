// sync() measures (cluster health, alias targets, documents vs source rows);
// health() composes the cached measurements with the running rebuild's
// progress, without I/O. Also the diagnostics `tandemctl diag` runs.
#include <cmath>
#include <sstream>

#include "es_api.h"
#include "es_rebuild_plugin.h"
#include "pg_source.h"

namespace tandem::esrebuild {

using json = nlohmann::json;

std::string EsRebuildPlugin::progress_line() const {
  if (!progress_) return "starting";
  auto& p = *progress_;
  std::ostringstream s;
  s << p.alias << " " << p.phase;
  if (p.total > 0) s << " " << p.done << "/" << p.total << " (" << (100 * p.done / p.total) << "%)";
  if (p.phase == "loading")
    s << ", " << static_cast<long long>(p.rate) << " rows/s, ETA " << static_cast<long long>(p.eta_seconds) << "s";
  return s.str();
}

sdk::Result<sdk::SyncReport> EsRebuildPlugin::sync() {
  std::string cluster_status, cluster_error;
  std::vector<IndexHealth> measured;
  std::shared_ptr<const EsTarget> target;
  try {
    target = make_target();
  } catch (const std::exception& e) {
    cluster_error = std::string("cannot read a secret file: ") + e.what();
  }
  if (target) {
    // interrupted_ ends the retries and the requests in flight when the host stops the store.
    EsApi api(target, kQuickRetry, interrupted_);
    auto health = api.cluster_health();
    if (!health.ok())
      cluster_error = health.message();
    else
      cluster_status = health->value("status", "unknown");
    std::string password;
    try {
      password = source_password();
    } catch (const std::exception& e) {
      password.clear();
    }
    for (auto& spec : config_.indices) {
      if (interrupted_.load()) break;  // stopping: what is measured so far is enough
      IndexHealth ih;
      ih.alias = spec.alias;
      if (cluster_error.empty()) {
        auto targets = api.alias_targets(spec.alias);
        if (!targets.ok()) {
          ih.error = targets.message();
        } else {
          ih.targets = *targets;
          if (!ih.targets.empty()) {
            auto docs = api.count(spec.alias);
            if (docs.ok())
              ih.documents = *docs;
            else
              ih.error = docs.message();
          }
        }
      }
      PgSource source(spec.source_conninfo, password, config_.source_connect_timeout);
      auto rows = source.count(spec.query);
      if (rows.ok())
        ih.source_rows = *rows;
      else if (ih.error.empty())
        ih.error = rows.message();
      measured.push_back(std::move(ih));
    }
  }

  auto& m = host_->metrics();
  m.set_gauge("elasticsearch_rebuild_cluster_up", cluster_error.empty() ? 1 : 0);
  for (auto& ih : measured) {
    sdk::MetricLabels labels{{"alias", ih.alias}};
    m.set_gauge("elasticsearch_rebuild_alias_present", ih.targets.empty() ? 0 : 1, labels);
    if (ih.documents) m.set_gauge("elasticsearch_rebuild_documents", static_cast<double>(*ih.documents), labels);
    if (ih.source_rows) m.set_gauge("elasticsearch_rebuild_source_rows", static_cast<double>(*ih.source_rows), labels);
    if (ih.documents && ih.source_rows)
      m.set_gauge("elasticsearch_rebuild_drift",
                  static_cast<double>(*ih.documents) - static_cast<double>(*ih.source_rows), labels);
  }

  bool retry_startup_check = false;
  {
    std::lock_guard lock(mu_);
    measured_ = true;
    measured_at_ = std::chrono::system_clock::now();
    cluster_status_ = cluster_status;
    cluster_error_ = cluster_error;
    index_health_ = measured;
    retry_startup_check = startup_check_pending_ && !running_ && cluster_error.empty();
  }
  // Elasticsearch was unreachable at start-up: do the alias-missing check now.
  if (retry_startup_check && host_->role() == sdk::Role::primary && !host_->fenced())
    (void)launch({.reason = "start-up: alias missing", .only_if_missing = true, .epoch = host_->epoch()});

  sdk::SyncReport report;
  report.summary = health().summary;
  report.details = health().details;
  return report;
}

sdk::Health EsRebuildPlugin::health() const {
  std::lock_guard lock(mu_);
  json details = json::object();
  json indices = json::array();
  std::string problem;  // the first thing worth a person's attention
  sdk::HealthStatus status = sdk::HealthStatus::ok;
  auto worsen = [&](sdk::HealthStatus s, const std::string& why) {
    auto rank = [](sdk::HealthStatus x) {
      return x == sdk::HealthStatus::failed     ? 3
             : x == sdk::HealthStatus::degraded ? 2
             : x == sdk::HealthStatus::unknown  ? 1
                                                : 0;
    };
    if (rank(s) > rank(status)) {
      status = s;
      problem = why;
    }
  };
  // A warm secondary's index is behind the live standby by design between
  // rounds; each round checks it against its own snapshot (warm_refresh.h).
  const bool warm = config_.warm_standby && host_->role() == sdk::Role::secondary;
  double warm_age = 0;
  if (config_.warm_standby) details["warm"] = warm_details(warm_age);
  if (catch_up_.is_object()) details["catch_up"] = catch_up_;
  // First: on a warm secondary what the warm rounds say explains the rest.
  if (warm && !warm_suspended_.load()) {
    for (auto& w : details["warm"]["indices"]) {
      std::string alias = w.value("alias", "");
      if (w.contains("last_round") && w["last_round"].value("result", "") == "failed")
        worsen(sdk::HealthStatus::degraded,
               "warm refresh of " + alias + " failed: " + w["last_round"].value("error", std::string()));
      else if (!w.contains("age_seconds"))
        worsen(sdk::HealthStatus::degraded,
               "warm index of " + alias + " not built yet: a promotion now would rebuild it from scratch");
      else if (w.value("age_seconds", 0.0) > w.value("stale_after_seconds", 0.0))
        worsen(sdk::HealthStatus::degraded, "warm index of " + alias + " is " +
                                                std::to_string(static_cast<long long>(w.value("age_seconds", 0.0))) +
                                                " s behind the standby");
    }
  }
  for (auto& ih : index_health_) {
    json j = {{"alias", ih.alias}, {"targets", ih.targets}};
    if (ih.documents) j["documents"] = *ih.documents;
    if (ih.source_rows) j["source_rows"] = *ih.source_rows;
    if (ih.documents && ih.source_rows)
      j["drift"] = static_cast<std::int64_t>(*ih.documents) - static_cast<std::int64_t>(*ih.source_rows);
    if (!ih.error.empty()) j["error"] = ih.error;
    indices.push_back(j);
    if (!cluster_error_.empty()) continue;
    if (ih.targets.empty())
      worsen(sdk::HealthStatus::degraded, "alias " + ih.alias +
                                              " is missing: searches find nothing; run `tandemctl rebuild " +
                                              host_->store_name() + "`");
    else if (!ih.error.empty())
      worsen(sdk::HealthStatus::degraded, ih.alias + ": " + ih.error);
    else if (!warm && ih.documents && ih.source_rows && *ih.documents != *ih.source_rows)
      worsen(sdk::HealthStatus::degraded, ih.alias + " drifted: " + std::to_string(*ih.documents) + " documents vs " +
                                              std::to_string(*ih.source_rows) +
                                              " source rows; a rebuild resynchronises it");
  }
  details["indices"] = indices;
  details["cluster"] = {{"status", cluster_status_.empty() ? "unreachable" : cluster_status_}};
  if (!cluster_error_.empty()) details["cluster"]["error"] = cluster_error_;
  details["rebuilding"] = full_running_;
  if (full_running_)
    details["progress"] = progress_
                              ? progress_->to_json()
                              : json{{"phase", "starting"}, {"done", 0}, {"total", 0}, {"rate", 0}, {"eta_seconds", 0}};
  if (!last_rebuild_.is_null()) details["last_rebuild"] = last_rebuild_;

  if (!started_) {
    auto h = sdk::Health::make(sdk::HealthStatus::stopped, "not started");
    h.details = details;
    return h;
  }
  if (!cluster_error_.empty())
    worsen(sdk::HealthStatus::failed, "Elasticsearch unreachable: " + cluster_error_);
  else if (cluster_status_ == "red")
    worsen(sdk::HealthStatus::failed, "cluster health is red");
  else if (cluster_status_ == "yellow")
    worsen(sdk::HealthStatus::degraded, "cluster health is yellow (replicas unassigned)");
  if (!last_rebuild_.is_null() && last_rebuild_.value("result", "") != "success")
    worsen(sdk::HealthStatus::degraded,
           "last rebuild " + last_rebuild_.value("result", "") + ": " + last_rebuild_.value("error", ""));
  if (!measured_) worsen(sdk::HealthStatus::unknown, "not measured yet");

  std::string summary;
  if (full_running_) {
    // A rebuild in progress is the headline: searches still hit the previous index.
    worsen(sdk::HealthStatus::degraded, "");
    summary = "rebuilding " + progress_line();
  } else if (status == sdk::HealthStatus::ok) {
    summary = std::to_string(index_health_.size()) + (warm ? " warm alias(es)" : " alias(es) in sync");
    for (auto& ih : index_health_)
      summary += "; " + ih.alias + " -> " + (ih.targets.empty() ? "?" : ih.targets.front()) + " (" +
                 (ih.documents ? std::to_string(*ih.documents) : "?") + " docs)";
  } else {
    summary = problem;
  }
  if (warm && status == sdk::HealthStatus::ok)
    summary += "; " + std::to_string(static_cast<long long>(warm_age)) + " s behind the standby";
  auto h = sdk::Health::make(status, summary);
  h.details = details;
  if (warm) {
    h.lag_seconds = warm_age;
    h.replication.push_back(
        {host_->node().address, "search_index_age_seconds",
         details["warm"].value("complete", false) ? std::to_string(static_cast<long long>(warm_age)) : "unknown"});
  }
  if (measured_) h.observed_at = measured_at_;
  return h;
}

json EsRebuildPlugin::warm_details(double& oldest_age) const {
  oldest_age = 0;
  bool complete = true;
  json indices = json::array();
  auto now = wall_ms_now();
  for (auto& spec : config_.indices) {
    json j = {{"alias", spec.alias}};
    if (!spec.updated_column.empty()) j["updated_column"] = spec.updated_column;
    // An index refreshed only by full rebuilds is as old as its last one.
    auto interval = spec.updated_column.empty() ? config_.warm_full_interval : config_.warm_interval;
    j["stale_after_seconds"] = 3.0 * static_cast<double>(interval.count()) / 1000.0 + 30.0;
    if (auto it = warm_marks_.find(spec.alias); it != warm_marks_.end()) {
      auto& m = it->second;
      double age = static_cast<double>(now - m.snapshot_at_ms) / 1000.0;
      j["index"] = m.index;
      j["age_seconds"] = std::round(age * 10) / 10;
      j["snapshot_at_ms"] = m.snapshot_at_ms;
      j["full_rebuild_age_seconds"] = std::round(static_cast<double>(now - m.full_at_ms) / 100.0) / 10;
      if (m.newest) j["newest_" + (spec.updated_column.empty() ? std::string("row") : spec.updated_column)] = *m.newest;
      oldest_age = std::max(oldest_age, age);
    } else {
      complete = false;
    }
    if (auto it = warm_rounds_.find(spec.alias); it != warm_rounds_.end()) j["last_round"] = it->second;
    indices.push_back(j);
  }
  return {{"indices", indices},
          {"complete", complete},
          {"interval_seconds", static_cast<double>(config_.warm_interval.count()) / 1000.0}};
}

std::vector<sdk::Diagnostic> EsRebuildPlugin::diagnostics() {
  return {{"connectivity", "Reach Elasticsearch (cluster health) and PostgreSQL (count each index's source rows)",
           [this](const auto&) { return diagnose_connectivity(); }},
          {"aliases", "Show each alias, the index it points at, and the rebuilt indices that exist",
           [this](const auto&) { return diagnose_aliases(); }}};
}

EsApi EsRebuildPlugin::diagnostic_api() const {
  return EsApi(make_target(), RetryPolicy{1, std::chrono::milliseconds(100), std::chrono::milliseconds(100)},
               interrupted_);
}

sdk::DiagnosticResult EsRebuildPlugin::diagnose_connectivity() {
  auto api = diagnostic_api();
  sdk::DiagnosticResult r;
  std::ostringstream out;
  auto health = api.cluster_health();
  if (health.ok()) {
    out << "elasticsearch " << api.endpoint() << ": cluster " << health->value("cluster_name", "?") << " status "
        << health->value("status", "?") << "\n";
    r.details["cluster"] = *health;
  } else {
    r.passed = false;
    out << "elasticsearch: " << health.message() << "\n";
  }
  std::string password = source_password();
  for (auto& spec : config_.indices) {
    PgSource source(spec.source_conninfo, password, config_.source_connect_timeout);
    auto rows = source.count(spec.query);
    if (rows.ok()) {
      out << "postgresql for " << spec.alias << ": " << *rows << " source rows\n";
    } else {
      r.passed = false;
      out << "postgresql for " << spec.alias << ": " << rows.message() << "\n";
    }
  }
  r.output = out.str();
  return r;
}

sdk::DiagnosticResult EsRebuildPlugin::diagnose_aliases() {
  auto api = diagnostic_api();
  sdk::DiagnosticResult r;
  std::ostringstream out;
  for (auto& spec : config_.indices) {
    auto targets = api.alias_targets(spec.alias);
    auto indices = api.indices_matching(spec.alias + "-e*");
    if (!targets.ok() || !indices.ok()) {
      r.passed = false;
      out << spec.alias << ": " << (targets.ok() ? indices.message() : targets.message()) << "\n";
      continue;
    }
    out << spec.alias << " -> " << (targets->empty() ? "(missing)" : targets->front()) << "\n";
    for (auto& [name, _] : *indices) out << "  " << name << "\n";
  }
  r.output = out.str();
  return r;
}

}  // namespace tandem::esrebuild
