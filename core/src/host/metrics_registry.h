// Plugin metrics for GET /metrics. Each store writes through its own
// StoreMetrics view (which adds the store="..." label); the node-wide
// PluginMetrics table renders them all in Prometheus text format.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "tandem/sdk/host_context.h"
#include "tandem/sdk/result.h"

namespace tandem::core {

// Escape a label value for the Prometheus text format (\\, \" and \n).
std::string prometheus_escape(std::string_view value);
// `{a="x",b="y"}`, or "" when there are no labels.
std::string prometheus_labels(const sdk::MetricLabels& labels);
// A number as Prometheus writes it (NaN, +Inf, integers without a fraction).
std::string prometheus_number(double value);

class PluginMetrics {
 public:
  enum class Kind { gauge, counter };

  // An invalid_argument error (and nothing recorded) when the name is not
  // [a-z0-9_]+, is reserved, or a counter is decremented; it says what was wrong.
  sdk::Status set_gauge(std::string_view name, double value, const sdk::MetricLabels& labels);
  sdk::Status add_counter(std::string_view name, double delta, const sdk::MetricLabels& labels);
  void describe(std::string_view name, std::string_view help);

  // Every family as "tandem_<name>" with # HELP and # TYPE lines.
  void render(std::string& out) const;

 private:
  struct Family {
    Kind kind = Kind::gauge;
    std::string help;
    std::map<sdk::MetricLabels, double> samples;
  };
  sdk::Status record(std::string_view name, Kind kind, const sdk::MetricLabels& labels, double value, bool add);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::map<std::string, std::string, std::less<>> pending_help_;
};

// One store's view: adds store="<name>" to every sample; logs rejected writes once per name.
class StoreMetrics final : public sdk::MetricsRegistry {
 public:
  StoreMetrics(PluginMetrics& table, std::string store_name) : table_(table), store_(std::move(store_name)) {}
  void set_gauge(std::string_view name, double value, const sdk::MetricLabels& labels = {}) override;
  void add_counter(std::string_view name, double delta, const sdk::MetricLabels& labels = {}) override;
  void describe(std::string_view name, std::string_view help) override { table_.describe(name, help); }

 private:
  sdk::MetricLabels with_store(const sdk::MetricLabels& labels) const;
  void report_rejected(std::string_view name, const sdk::Status& why);

  PluginMetrics& table_;
  std::string store_;
  std::mutex mu_;
  std::set<std::string, std::less<>> warned_;
};

}  // namespace tandem::core
