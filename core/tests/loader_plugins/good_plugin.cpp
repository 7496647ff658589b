// A minimal well-behaved plugin: a schema, health, a diagnostic and an action.
#include <atomic>
#include <mutex>

#include "tandem/sdk/export.h"
#include "tandem/sdk/plugin.h"

namespace {

using namespace tandem::sdk;

std::atomic<int> live_instances{0};

class GoodPlugin final : public Plugin {
 public:
  GoodPlugin() { ++live_instances; }
  ~GoodPlugin() override { --live_instances; }

  PluginInfo info() const override { return {.failover_order = 50, .default_sync_interval = "30s"}; }
  ConfigSchema schema() const override {
    return {
        {.name = "greeting", .type = ValueType::string, .required = true, .description = "text the diagnostic prints"},
        {.name = "fail_check",
         .type = ValueType::boolean,
         .default_value = "false",
         .description = "make the 'echo' diagnostic fail"},
        {.name = "report_progress",
         .type = ValueType::boolean,
         .default_value = "false",
         .description = "report a half-done progress in health"}};
  }
  Status configure(const StoreConfig& config, HostContext& host) override {
    greeting_ = config.string("greeting");
    if (greeting_ == "refuse") config.fail("greeting", "must not be 'refuse'");
    fail_check_ = config.boolean("fail_check");
    std::lock_guard lock(mu_);
    progress_done_ = config.boolean("report_progress") ? 5 : -1;
    store_ = host.store_name();
    return {};
  }
  Health health() const override {
    Health h = Health::make(HealthStatus::ok, "fine");
    std::lock_guard lock(mu_);
    if (progress_done_ >= 0)
      h.details["progress"] = {
          {"done", progress_done_}, {"total", 10}, {"rate", 2.5}, {"eta_seconds", (10 - progress_done_) / 2.5}};
    return h;
  }
  std::vector<Diagnostic> diagnostics() override {
    return {{"echo", "prints the greeting",
             [this](const auto&) -> Result<DiagnosticResult> {
               return DiagnosticResult{!fail_check_, store_ + ": " + greeting_, nlohmann::json::object()};
             }},
            {"count", "prints the number of arguments",
             [](const std::vector<std::string>& args) -> Result<DiagnosticResult> {
               return DiagnosticResult{true, std::to_string(args.size()) + " args", nlohmann::json::object()};
             }}};
  }
  std::vector<Action> actions() override {
    return {{"ping", "answers pong",
             [](const nlohmann::json& args) -> Result<nlohmann::json> {
               return nlohmann::json{{"pong", args}};
             }},
            {"rebuild", "completes the reported progress", [this](const nlohmann::json&) -> Result<nlohmann::json> {
               std::lock_guard lock(mu_);
               progress_done_ = 10;
               return nlohmann::json{{"started", true}};
             }}};
  }

 private:
  std::string greeting_;
  std::string store_;
  bool fail_check_ = false;
  mutable std::mutex mu_;
  int progress_done_ = -1;  // -1: no progress reported
};

}  // namespace

TANDEM_PLUGIN(GoodPlugin, "loader-good", "1.2.3", "loader test plugin")

// Lets the test observe that destroying the last reference ran the destructor
// inside the still-loaded library.
extern "C" __attribute__((visibility("default"))) int tandem_test_live_instances() { return live_instances.load(); }
