#include "cli/progress_bar.h"

#include <algorithm>
#include <cstdio>

#include "cli/cli_support.h"

namespace tandem::cli {

std::optional<Progress> progress_from_details(const nlohmann::json& details) {
  if (!details.is_object()) return std::nullopt;
  auto it = details.find("progress");
  if (it == details.end() || !it->is_object()) return std::nullopt;
  const auto& p = *it;
  if (!p.contains("done") || !p["done"].is_number()) return std::nullopt;
  Progress out;
  out.done = p["done"].get<double>();
  if (p.contains("total") && p["total"].is_number()) out.total = p["total"].get<double>();
  if (p.contains("rate") && p["rate"].is_number()) out.rate = p["rate"].get<double>();
  if (p.contains("eta_seconds") && p["eta_seconds"].is_number()) out.eta_seconds = p["eta_seconds"].get<double>();
  return out;
}

std::string render_progress(const Progress& p, int width) {
  char buf[160];
  std::string line;
  if (p.total > 0) {
    double fraction = std::clamp(p.done / p.total, 0.0, 1.0);
    int filled = static_cast<int>(fraction * width + 0.5);
    line = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
    std::snprintf(buf, sizeof buf, " %5.1f%%  %.0f/%.0f", fraction * 100, p.done, p.total);
  } else {
    line = "[" + std::string(width, '?') + "]";
    std::snprintf(buf, sizeof buf, " %.0f done", p.done);
  }
  line += buf;
  if (p.rate) {
    std::snprintf(buf, sizeof buf, "  %.1f/s", *p.rate);
    line += buf;
  }
  if (p.eta_seconds) line += "  ETA " + human_seconds(*p.eta_seconds);
  return line;
}

}  // namespace tandem::cli
