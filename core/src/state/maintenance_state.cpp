#include "state/maintenance_state.h"

#include <ctime>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "tandem/sdk/file_util.h"

namespace tandem::core {
namespace {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

MaintenanceState::MaintenanceState(const std::filesystem::path& data_dir) : file_(data_dir / "maintenance.json") {
  if (!std::filesystem::exists(file_)) return;
  try {
    auto j = nlohmann::json::parse(sdk::read_file(file_));
    if (!j.is_object() || !j.contains("paused") || !j["paused"].is_boolean())
      throw std::runtime_error("'paused' must be true or false");
    values_.paused = j["paused"].get<bool>();
    values_.since = j.value("since", std::string());
    values_.reason = j.value("reason", std::string());
  } catch (const std::exception& e) {
    throw std::runtime_error("maintenance file " + file_.string() + " is unreadable: " + e.what() +
                             ". Fix it, or remove it to leave maintenance mode (`tandemctl pause` pauses again).");
  }
}

MaintenanceValues MaintenanceState::get() const {
  std::lock_guard l(mu_);
  return values_;
}

MaintenanceValues MaintenanceState::pause(const std::string& reason) {
  std::lock_guard l(mu_);
  MaintenanceValues v{true, values_.paused ? values_.since : utc_now(), reason};
  nlohmann::json j = {{"paused", true}, {"since", v.since}, {"reason", v.reason}};
  sdk::atomic_write_file(file_, j.dump(2) + "\n");
  values_ = v;
  return v;
}

MaintenanceValues MaintenanceState::resume() {
  std::lock_guard l(mu_);
  // The file says so explicitly (rather than being removed): the rename is
  // the one atomic step, and the file shows when the pair was last resumed.
  nlohmann::json j = {{"paused", false}, {"resumed", utc_now()}};
  sdk::atomic_write_file(file_, j.dump(2) + "\n");
  values_ = MaintenanceValues{};
  return values_;
}

}  // namespace tandem::core
