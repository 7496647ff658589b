#include "echo_plugin.h"

namespace echo {

using namespace tandem::sdk;

PluginInfo EchoPlugin::info() const {
  // Name, version and description come from TANDEM_PLUGIN (export.cpp).
  return {.default_sync_interval = "30s", .min_sync_interval = "10ms"};
}

ConfigSchema EchoPlugin::schema() const {
  return {
      {.name = "message",
       .type = ValueType::string,
       .required = true,
       .description = "the text every sync echoes to the log"},
      {.name = "reported_lag",
       .type = ValueType::size,
       .default_value = "0",
       .description = "lag in bytes the health reports (to see it on the pages)",
       .max = "1TiB"},
  };
}

Status EchoPlugin::configure(const StoreConfig& config, HostContext& host) {
  // Validate only: nothing outside the process is touched here.
  message_ = config.string("message");
  if (message_.find('\n') != std::string::npos) return config.error("message", "must be a single line");
  reported_lag_ = config.size("reported_lag");
  host_ = &host;
  return {};
}

Result<SyncReport> EchoPlugin::sync() {
  std::uint64_t runs = 0;
  {
    std::lock_guard lock(mu_);
    runs = ++runs_;
    last_echo_ = message_;
  }
  host_->log().info("echo: " + message_);
  host_->state().put("runs", std::to_string(runs));
  host_->metrics().add_counter("echo_syncs_total", 1);
  return SyncReport{"echoed '" + message_ + "'", {{"runs", runs}}};
}

Health EchoPlugin::health() const {
  std::lock_guard lock(mu_);
  if (runs_ == 0) return Health::make(HealthStatus::unknown, "no sync yet");
  Health h = Health::make(HealthStatus::ok, "echoed " + std::to_string(runs_) + " times: " + last_echo_);
  h.lag_bytes = reported_lag_;
  h.details = {{"runs", runs_}};
  if (host_) h.replication.push_back({host_->node().address, "echo_lag_bytes", std::to_string(reported_lag_)});
  return h;
}

bool EchoPlugin::become(Role role) {
  std::string wanted(to_string(role));
  if (host_->state().get("role") == wanted) return false;
  host_->state().put("role", wanted);
  return true;
}

Result<PrepareReport> EchoPlugin::prepare(const FailoverRequest& request) {
  PrepareReport report;
  report.ready = true;
  report.loss_summary = "nothing (echo keeps no data)";
  report.loss = {{"bytes", 0}};
  report.plan = "record role primary at epoch " + std::to_string(request.new_epoch);
  return report;
}

Result<StepReport> EchoPlugin::promote(const FailoverRequest& request) {
  bool changed = become(Role::primary);
  return StepReport{
      changed,
      changed ? "echo is primary at epoch " + std::to_string(request.new_epoch) : "echo was primary already",
      {{"role", "primary"}}};
}

Result<StepReport> EchoPlugin::demote(const FailoverRequest&) {
  bool changed = become(Role::secondary);
  // Nothing for the new primary to wait for: the handoff is empty but present.
  return StepReport{changed, changed ? "echo stepped down" : "echo was secondary already", {{"wait_for", nullptr}}};
}

Result<StepReport> EchoPlugin::rejoin(const FailoverRequest&) {
  bool changed = become(Role::secondary);
  return StepReport{
      changed, changed ? "echo follows the new primary" : "echo was following already", {{"role", "secondary"}}};
}

std::vector<Diagnostic> EchoPlugin::diagnostics() {
  return {{"echo", "prints the configured message and any arguments",
           [this](const std::vector<std::string>& args) -> Result<DiagnosticResult> {
             std::string out = message_;
             for (const auto& a : args) out += " " + a;
             return DiagnosticResult{true, out, {{"args", args.size()}}};
           }}};
}

}  // namespace echo
