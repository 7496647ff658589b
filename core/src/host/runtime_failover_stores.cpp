#include "host/runtime_failover_stores.h"

#include <stdexcept>

#include "host/node_runtime.h"

namespace tandem::core {

std::vector<FailoverStore> RuntimeFailoverStores::stores() const {
  std::vector<FailoverStore> out;
  for (const auto& snap : runtime_.snapshots()) {
    FailoverStore s{snap.name, snap.plugin, 50};
    if (StoreRunner* runner = runtime_.find_store(snap.name))
      runner
          ->call([&](sdk::Plugin& p) {
            auto info = p.info();
            s.order = info.failover_order;
            s.nothing_to_fail_over = info.nothing_to_fail_over;
          })
          .get();
    out.push_back(std::move(s));
  }
  return out;
}

void RuntimeFailoverStores::call(const std::string& store, const std::function<void(sdk::Plugin&)>& fn) {
  StoreRunner* runner = runtime_.find_store(store);
  if (!runner) throw std::runtime_error("no store named '" + store + "'");
  runner->call(fn).get();
}

}  // namespace tandem::core
