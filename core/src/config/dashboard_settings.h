// The [api] keys of the dashboard (GET /ui) and of the samples it charts
// (GET /v1/history/samples): defaults here and nowhere else.
#pragma once

#include <chrono>

namespace tandem::core {

struct DashboardSettings {
  // How often the node keeps a sample of its role, epoch and each store's
  // health and lag; the ring holds 360, one hour at this default.
  std::chrono::milliseconds history_interval{std::chrono::seconds(10)};
  // The page offers switchover, promote, rejoin, pause and resume buttons
  // (each still needs the API token typed into the page). Off: a read-only
  // page, as if the buttons had never been written.
  bool actions = false;
};

}  // namespace tandem::core
