#include "host/metrics_registry.h"

#include <cmath>
#include <cstdio>

#include "util/logging.h"

namespace tandem::core {
namespace {

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

std::string prometheus_escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string prometheus_labels(const sdk::MetricLabels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += prometheus_escape(v);
    out += '"';
  }
  out += '}';
  return out;
}

std::string prometheus_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (std::floor(value) == value && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", value);
  }
  return buf;
}

sdk::Status PluginMetrics::record(std::string_view name, Kind kind, const sdk::MetricLabels& labels, double value,
                                  bool add) {
  auto refuse = [](std::string why) { return sdk::Status::error(sdk::ErrorCode::invalid_argument, std::move(why)); };
  if (!valid_metric_name(name)) {
    return refuse("metric name '" + std::string(name) + "' must match [a-z0-9_]+");
  }
  for (std::string_view reserved : {"store_", "node_", "peer_"}) {
    if (name.substr(0, reserved.size()) == reserved) {
      return refuse("metric name '" + std::string(name) + "' starts with '" + std::string(reserved) +
                    "', reserved for the host's own metrics; prefix it with the plugin's name");
    }
  }
  if (add && value < 0) {
    return refuse("counter '" + std::string(name) + "' cannot decrease");
  }
  for (const auto& [k, v] : labels) {
    if (!valid_label_name(k)) {
      return refuse("label name '" + k + "' of metric '" + std::string(name) + "' must match [A-Za-z_][A-Za-z0-9_]*");
    }
  }
  std::lock_guard l(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.kind = kind;
    if (auto h = pending_help_.find(name); h != pending_help_.end()) it->second.help = h->second;
  } else if (it->second.kind != kind) {
    return refuse("metric '" + std::string(name) + "' is already a " +
                  (it->second.kind == Kind::gauge ? "gauge" : "counter"));
  }
  if (add) {
    it->second.samples[labels] += value;
  } else {
    it->second.samples[labels] = value;
  }
  return {};
}

sdk::Status PluginMetrics::set_gauge(std::string_view name, double value, const sdk::MetricLabels& labels) {
  return record(name, Kind::gauge, labels, value, false);
}

sdk::Status PluginMetrics::add_counter(std::string_view name, double delta, const sdk::MetricLabels& labels) {
  return record(name, Kind::counter, labels, delta, true);
}

void PluginMetrics::describe(std::string_view name, std::string_view help) {
  std::lock_guard l(mu_);
  std::string text;
  for (char c : help) text += (c == '\n') ? ' ' : c;
  if (auto it = families_.find(name); it != families_.end()) it->second.help = text;
  pending_help_[std::string(name)] = text;
}

void PluginMetrics::render(std::string& out) const {
  std::lock_guard l(mu_);
  for (const auto& [name, family] : families_) {
    std::string full = "tandem_" + name;
    out += "# HELP " + full + " " + (family.help.empty() ? "Reported by a store plugin." : family.help) + "\n";
    out += "# TYPE " + full + (family.kind == Kind::gauge ? " gauge\n" : " counter\n");
    for (const auto& [labels, value] : family.samples) {
      out += full;
      out += prometheus_labels(labels);
      out += ' ';
      out += prometheus_number(value);
      out += '\n';
    }
  }
}

sdk::MetricLabels StoreMetrics::with_store(const sdk::MetricLabels& labels) const {
  sdk::MetricLabels out = labels;
  out["store"] = store_;  // the host owns this label: a plugin cannot spoof another store
  return out;
}

void StoreMetrics::report_rejected(std::string_view name, const sdk::Status& why) {
  std::lock_guard l(mu_);
  if (warned_.insert(std::string(name)).second) log_warn(store_, "metric ignored: " + why.message());
}

void StoreMetrics::set_gauge(std::string_view name, double value, const sdk::MetricLabels& labels) {
  if (auto st = table_.set_gauge(name, value, with_store(labels)); !st) report_rejected(name, st);
}

void StoreMetrics::add_counter(std::string_view name, double delta, const sdk::MetricLabels& labels) {
  if (auto st = table_.add_counter(name, delta, with_store(labels)); !st) report_rejected(name, st);
}

}  // namespace tandem::core
