// The [api] keys of the dashboard (GET /ui) and of the samples it charts
// (GET /v1/history/samples): defaults here and nowhere else.
#pragma once

#include <chrono>

namespace tandem::core {

struct DashboardSettings {
  // How often the node keeps a sample of its role, epoch and each store's
  // health and lag; the ring holds 360, one hour at this default.
  std::chrono::milliseconds history_interval{std::chrono::seconds(10)};
};

}  // namespace tandem::core
