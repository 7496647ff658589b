// Its constructor throws: the factory must report the text, not crash.
#include <stdexcept>

#include "tandem/sdk/export.h"

namespace {
using namespace tandem::sdk;
class ThrowingCtorPlugin final : public Plugin {
 public:
  ThrowingCtorPlugin() { throw std::runtime_error("cannot allocate the frobnicator"); }
  PluginInfo info() const override { return {}; }
  ConfigSchema schema() const override { return {}; }
  Status configure(const StoreConfig&, HostContext&) override { return {}; }
  Health health() const override { return Health::make(HealthStatus::ok, "fine"); }
};
}  // namespace

TANDEM_PLUGIN(ThrowingCtorPlugin, "loader-throwing-ctor", "1.0", "constructor throws")
