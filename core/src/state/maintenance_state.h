// Maintenance mode (`tandemctl pause` / `resume`): while paused, tandemd keeps
// syncing and monitoring, but promote and switchover are refused unless
// forced. Persisted in <data_dir>/maintenance.json (written atomically), so a
// restart stays paused; no file means not paused.
#pragma once

#include <filesystem>
#include <mutex>
#include <string>

namespace tandem::core {

struct MaintenanceValues {
  bool paused = false;
  std::string since;   // ISO-8601 UTC time of the pause
  std::string reason;  // the operator's words, may be empty
};

class MaintenanceState {
 public:
  // Loads the file if present. Throws std::runtime_error on a corrupt file:
  // guessing "not paused" could let a failover through that was meant to wait.
  explicit MaintenanceState(const std::filesystem::path& data_dir);

  MaintenanceValues get() const;
  // Both persist before returning (throw std::runtime_error on I/O failure) and
  // are idempotent: pausing again keeps the first `since`, updates the reason.
  MaintenanceValues pause(const std::string& reason);
  MaintenanceValues resume();

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  mutable std::mutex mu_;
  MaintenanceValues values_;
};

}  // namespace tandem::core
