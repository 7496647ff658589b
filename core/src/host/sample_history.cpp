#include "host/sample_history.h"

#include <algorithm>

namespace tandem::core {

SampleHistory::SampleHistory(std::chrono::milliseconds interval, const std::vector<std::string>& stores,
                             std::size_t capacity)
    : interval_(interval), node_(capacity) {
  stores_.reserve(stores.size());
  for (const auto& name : stores) stores_.push_back({name, SampleRing<StoreSample>(capacity)});
}

bool SampleHistory::maybe_record(std::chrono::steady_clock::time_point steady,
                                 std::chrono::system_clock::time_point wall, const NodeStateValues& node,
                                 bool test_instance, const std::vector<StoreSnapshot>& stores) {
  {
    std::lock_guard l(mu_);
    if (last_ && steady - *last_ < interval_) return false;
    last_ = steady;
  }
  record(wall, node, test_instance, stores);
  return true;
}

void SampleHistory::record(std::chrono::system_clock::time_point wall, const NodeStateValues& node, bool test_instance,
                           const std::vector<StoreSnapshot>& stores) {
  std::int64_t t = std::chrono::duration_cast<std::chrono::seconds>(wall.time_since_epoch()).count();
  std::lock_guard l(mu_);
  node_.push({t, node.role, node.fenced, test_instance, node.epoch});
  for (const auto& s : stores) {
    auto it = std::find_if(stores_.begin(), stores_.end(), [&](const StoreRing& r) { return r.name == s.name; });
    if (it == stores_.end()) continue;
    it->ring.push({t, s.health.status, s.health.lag_bytes, s.health.lag_seconds});
  }
}

nlohmann::json SampleHistory::to_json(std::optional<std::int64_t> since) const {
  auto kept = [&](std::int64_t t) { return !since || t >= *since; };
  auto optional = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  std::lock_guard l(mu_);
  nlohmann::json samples = nlohmann::json::array();
  for (std::size_t i = 0; i < node_.size(); ++i) {
    const NodeSample& n = node_.at(i);
    if (!kept(n.unix_seconds)) continue;
    samples.push_back({{"t", n.unix_seconds},
                       {"role", n.test_instance ? std::string("test") : std::string(sdk::to_string(n.role))},
                       {"epoch", n.epoch},
                       {"fenced", n.fenced}});
  }
  nlohmann::json stores = nlohmann::json::object();
  for (const auto& r : stores_) {
    nlohmann::json points = nlohmann::json::array();
    for (std::size_t i = 0; i < r.ring.size(); ++i) {
      const StoreSample& s = r.ring.at(i);
      if (!kept(s.unix_seconds)) continue;
      points.push_back({{"t", s.unix_seconds},
                        {"status", std::string(sdk::to_string(s.status))},
                        {"lag_bytes", optional(s.lag_bytes)},
                        {"lag_seconds", optional(s.lag_seconds)}});
    }
    stores[r.name] = std::move(points);
  }
  return {{"interval_seconds", static_cast<double>(interval_.count()) / 1000.0},
          {"capacity", node_.capacity()},
          {"samples", std::move(samples)},
          {"stores", std::move(stores)}};
}

std::size_t SampleHistory::memory_bytes() const {
  std::size_t bytes = node_.capacity() * sizeof(NodeSample);
  for (const auto& r : stores_) bytes += r.ring.capacity() * sizeof(StoreSample) + r.name.capacity();
  return bytes;
}

}  // namespace tandem::core
