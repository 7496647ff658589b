// The primary's last report as a secondary keeps it: its tree checksum, when
// it sent it, and when its tree last changed. A failover's prepare states
// the loss against it when the primary can no longer be asked; it is saved
// in the store state so that a restart of the secondary's tandemd between
// the primary's death and the promote does not forget it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tandem::config_rsync {

inline constexpr const char* kPrimaryReportKey = "primary_report";

std::int64_t unix_ms(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point from_unix_ms(std::int64_t ms);

struct PrimaryReport {
  std::string checksum;
  std::chrono::system_clock::time_point reported_at;
  std::optional<std::chrono::system_clock::time_point> changed_at;
};

std::string to_state_text(const PrimaryReport& r);
// nullopt for text that is not a report (a damaged state file is ignored).
std::optional<PrimaryReport> primary_report_from_state(const std::string& text);

}  // namespace tandem::config_rsync
