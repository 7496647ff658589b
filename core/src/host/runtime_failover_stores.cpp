#include "host/runtime_failover_stores.h"

#include <stdexcept>

#include "host/node_runtime.h"

namespace tandem::core {

std::vector<FailoverStore> RuntimeFailoverStores::stores() const {
  std::vector<FailoverStore> out;
  for (const auto& snap : runtime_.snapshots()) {
    FailoverStore s{snap.name, snap.plugin, 50};
    if (const StoreRunner* runner = runtime_.find_store(snap.name)) {
      s.order = runner->failover_order();
      s.nothing_to_fail_over = runner->nothing_to_fail_over();
    }
    out.push_back(std::move(s));
  }
  return out;
}

void RuntimeFailoverStores::call(const std::string& store, const std::function<void(sdk::Plugin&)>& fn) {
  StoreRunner* runner = runtime_.find_store(store);
  if (!runner) throw std::runtime_error("no store named '" + store + "'");
  runner->call(fn).get();
}

void RuntimeFailoverStores::hold_syncs() {
  for (const auto& snap : runtime_.snapshots())
    if (StoreRunner* runner = runtime_.find_store(snap.name)) runner->hold_syncs();
}

void RuntimeFailoverStores::release_syncs() {
  for (const auto& snap : runtime_.snapshots())
    if (StoreRunner* runner = runtime_.find_store(snap.name)) runner->release_syncs();
}

}  // namespace tandem::core
