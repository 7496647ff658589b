// The last hour in figures (GET /v1/history/samples, the dashboard's lag
// charts): a fixed number of samples of the node's role and epoch and of each
// store's health status and lag, taken on the health refresh cycle. Memory is
// allocated once, at construction: a full ring overwrites its oldest sample,
// so a node that runs for months holds exactly as much as after one hour.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/store_runner.h"
#include "state/node_state.h"

namespace tandem::core {

// A fixed-capacity ring: push overwrites the oldest entry once full.
template <class T>
class SampleRing {
 public:
  explicit SampleRing(std::size_t capacity) : slots_(capacity) {}
  void push(T value) {
    if (slots_.empty()) return;
    slots_[(first_ + size_) % slots_.size()] = std::move(value);
    if (size_ < slots_.size())
      ++size_;
    else
      first_ = (first_ + 1) % slots_.size();
  }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return slots_.size(); }
  // i = 0 is the oldest entry held.
  const T& at(std::size_t i) const { return slots_[(first_ + i) % slots_.size()]; }

 private:
  std::vector<T> slots_;
  std::size_t first_ = 0;
  std::size_t size_ = 0;
};

struct NodeSample {
  std::int64_t unix_seconds = 0;
  sdk::Role role = sdk::Role::secondary;
  bool fenced = false;
  bool test_instance = false;
  std::uint64_t epoch = 0;
};

struct StoreSample {
  std::int64_t unix_seconds = 0;
  sdk::HealthStatus status = sdk::HealthStatus::unknown;
  std::optional<std::uint64_t> lag_bytes;
  std::optional<double> lag_seconds;
};

class SampleHistory {
 public:
  // 360 samples: one hour at the default interval of 10 s ([api] history_interval).
  static constexpr std::size_t kCapacity = 360;

  // `stores`: the node's store names, fixed for the node's life (a sample of
  // a store not named here is ignored).
  SampleHistory(std::chrono::milliseconds interval, const std::vector<std::string>& stores,
                std::size_t capacity = kCapacity);
  SampleHistory(const SampleHistory&) = delete;
  SampleHistory& operator=(const SampleHistory&) = delete;

  // Takes a sample when `interval` has passed since the last one (the first
  // call always does); `steady` decides, `wall` is what is recorded. Called
  // on every health refresh; any thread.
  bool maybe_record(std::chrono::steady_clock::time_point steady, std::chrono::system_clock::time_point wall,
                    const NodeStateValues& node, bool test_instance, const std::vector<StoreSnapshot>& stores);
  // The same, unconditionally.
  void record(std::chrono::system_clock::time_point wall, const NodeStateValues& node, bool test_instance,
              const std::vector<StoreSnapshot>& stores);

  // {"interval_seconds", "capacity", "samples": [{"t", "role", "epoch", "fenced"}...],
  //  "stores": {"<name>": [{"t", "status", "lag_bytes", "lag_seconds"}...]}}, oldest
  // first; only samples taken at or after `since` (unix seconds) when given.
  nlohmann::json to_json(std::optional<std::int64_t> since = std::nullopt) const;

  // The bytes the rings hold, fixed at construction (for docs/http-api.md's figure).
  std::size_t memory_bytes() const;

 private:
  struct StoreRing {
    std::string name;
    SampleRing<StoreSample> ring;
  };
  std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::optional<std::chrono::steady_clock::time_point> last_;
  SampleRing<NodeSample> node_;
  std::vector<StoreRing> stores_;
};

}  // namespace tandem::core
