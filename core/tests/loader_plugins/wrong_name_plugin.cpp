// Built as tandem-loader-wrong-name.so but declares itself "something-else".
#include "tandem/sdk/export.h"

namespace {
using namespace tandem::sdk;
class WrongNamePlugin final : public Plugin {
 public:
  PluginInfo info() const override { return {}; }
  ConfigSchema schema() const override { return {}; }
  Status configure(const StoreConfig&, HostContext&) override { return {}; }
  Health health() const override { return Health::make(HealthStatus::ok, "fine"); }
};
}  // namespace

TANDEM_PLUGIN(WrongNamePlugin, "something-else", "1.0", "misnamed")
