// A one-line text progress bar for health.details.progress
// ({"done","total","rate","eta_seconds"}), as shown by status and --follow.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tandem::cli {

struct Progress {
  double done = 0;
  double total = 0;            // 0: unknown
  std::optional<double> rate;  // units per second
  std::optional<double> eta_seconds;
};

// nullopt when `details` has no usable "progress" object.
std::optional<Progress> progress_from_details(const nlohmann::json& details);

// "[##########..........]  50.0%  500/1000  120.5/s  ETA 4.0s"
std::string render_progress(const Progress& progress, int width = 30);

}  // namespace tandem::cli
