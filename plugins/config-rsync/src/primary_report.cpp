#include "primary_report.h"

#include <nlohmann/json.hpp>

#include "config_rsync_plugin.h"

namespace tandem::config_rsync {

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_unix_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

std::string to_state_text(const PrimaryReport& r) {
  nlohmann::json j{{"checksum", r.checksum}, {"reported_at_ms", unix_ms(r.reported_at)}};
  if (r.changed_at) j["changed_at_ms"] = unix_ms(*r.changed_at);
  return j.dump();
}

std::optional<PrimaryReport> primary_report_from_state(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("checksum") || !j["checksum"].is_string() || !j.contains("reported_at_ms") ||
      !j["reported_at_ms"].is_number_integer())
    return std::nullopt;
  PrimaryReport r{j["checksum"].get<std::string>(), from_unix_ms(j["reported_at_ms"].get<std::int64_t>()), {}};
  if (j.contains("changed_at_ms") && j["changed_at_ms"].is_number_integer())
    r.changed_at = from_unix_ms(j["changed_at_ms"].get<std::int64_t>());
  return r;
}

void ConfigRsyncPlugin::save_primary_report() {
  std::optional<PrimaryReport> report;
  {
    std::lock_guard l(mu_);
    if (!state_.report_unsaved || state_.peer_checksum.empty() || !state_.peer_checksum_at) return;
    state_.report_unsaved = false;
    report = PrimaryReport{state_.peer_checksum, *state_.peer_checksum_at, state_.peer_changed_at};
  }
  host_->state().put(kPrimaryReportKey, to_state_text(*report));
}

void ConfigRsyncPlugin::load_primary_report() {
  auto text = host_->state().get(kPrimaryReportKey);
  if (!text) return;
  auto report = primary_report_from_state(*text);
  if (!report) return;
  std::lock_guard l(mu_);
  state_.peer_checksum = report->checksum;
  state_.peer_checksum_at = report->reported_at;
  state_.peer_changed_at = report->changed_at;
}

}  // namespace tandem::config_rsync
