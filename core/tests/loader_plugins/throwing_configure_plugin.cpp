// configure() throws a plain exception (not a ConfigError).
#include <stdexcept>

#include "tandem/sdk/export.h"

namespace {
using namespace tandem::sdk;
class ThrowingConfigurePlugin final : public Plugin {
 public:
  PluginInfo info() const override { return {}; }
  ConfigSchema schema() const override { return {}; }
  Status configure(const StoreConfig&, HostContext&) override {
    throw std::runtime_error("configure exploded on purpose");
  }
  Health health() const override { return Health::make(HealthStatus::ok, "fine"); }
};
}  // namespace

TANDEM_PLUGIN(ThrowingConfigurePlugin, "loader-throwing-configure", "1.0", "configure throws")
