// The running daemon's stores as the failover orchestrator sees them: each
// call runs on the store's own executor (StoreRunner::call), so a failover
// step never overlaps the store's sync; the list (names, failover order) is
// what the runners read at construction, so it never waits for one.
#pragma once

#include "failover/failover_orchestrator.h"
namespace tandem::core {

class NodeRuntime;

class RuntimeFailoverStores final : public FailoverStores {
 public:
  explicit RuntimeFailoverStores(NodeRuntime& runtime) : runtime_(runtime) {}
  std::vector<FailoverStore> stores() const override;
  void call(const std::string& store, const std::function<void(sdk::Plugin&)>& fn) override;
  void hold_syncs() override;
  void release_syncs() override;

 private:
  NodeRuntime& runtime_;
};

}  // namespace tandem::core
