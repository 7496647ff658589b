// "daemon-test": the plugin the binary-level tandemd tests load from a .so.
// It counts its starts in its persistent state (to show the state survives a
// restart), reports a replication cell and a moving lag, and relays peer events.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "tandem/sdk/export.h"
#include "tandem/sdk/plugin.h"

namespace {

using namespace tandem::sdk;

class DaemonTestPlugin final : public Plugin {
 public:
  PluginInfo info() const override {
    return {.failover_order = 50, .default_sync_interval = "1s", .nothing_to_fail_over = true};
  }
  ConfigSchema schema() const override {
    return {{.name = "lag_field",
             .type = ValueType::string,
             .default_value = "test_lag",
             .description = "field name on the replication page"},
            // Keys of each checked kind, for the hostile-config cases
            // (core/tests/config/testcases run through the real binaries).
            {.name = "password_file",
             .type = ValueType::path,
             .description = "a secret file (read only by the host's check)",
             .path_rule = PathRule::absolute,
             .secret = true},
            {.name = "timeout",
             .type = ValueType::duration,
             .default_value = "1s",
             .description = "a bounded duration",
             .min = "1ms",
             .max = "1h"},
            {.name = "listen_port",
             .type = ValueType::port,
             .default_value = "0",
             .description = "a port, 0 = off",
             .min = "0"},
            {.name = "buffer",
             .type = ValueType::size,
             .default_value = "1MiB",
             .description = "a bounded size",
             .min = "1KiB",
             .max = "1GiB"},
            {.name = "workers",
             .type = ValueType::integer,
             .default_value = "1",
             .description = "a bounded count",
             .min = "1",
             .max = "64"}};
  }
  Status configure(const StoreConfig& config, HostContext& host) override {
    host_ = &host;
    field_ = config.string("lag_field");
    // A refusal only configure() knows about (the schema accepts any string).
    if (field_ == "refuse") config.fail("lag_field", "must not be 'refuse'");
    return {};
  }
  Status start() override {
    int starts = std::stoi(host_->state().get("starts").value_or("0")) + 1;
    host_->state().put("starts", std::to_string(starts));
    starts_ = starts;
    host_->log().info("started " + std::to_string(starts) + " time(s)");
    return {};
  }
  Result<SyncReport> sync() override {
    ++syncs_;
    return SyncReport{"ok", nlohmann::json::object()};
  }
  Health health() const override {
    Health h = Health::make(HealthStatus::ok, "daemon-test store");
    h.replication = {{host_->peer().address, field_, std::to_string(syncs_.load())}};
    // A lag that moves with the syncs, so the samples and the dashboard's chart have a shape.
    h.lag_bytes = static_cast<std::uint64_t>(syncs_.load() % 20) * 256;
    h.lag_seconds = (syncs_.load() % 20) * 0.05;
    std::lock_guard l(mu_);
    h.details = {{"starts", starts_.load()}, {"last_peer_event", last_event_}};
    return h;
  }
  std::vector<Action> actions() override {
    return {{"tell-peer", "sends the args to the peer's same store",
             [this](const nlohmann::json& args) -> Result<nlohmann::json> {
               host_->notify_peer(args);
               return nlohmann::json{{"sent", args}};
             }}};
  }
  void on_peer_event(const nlohmann::json& event) override {
    std::lock_guard l(mu_);
    last_event_ = event;
  }

 private:
  HostContext* host_ = nullptr;
  std::string field_;
  std::atomic<int> syncs_{0};
  std::atomic<int> starts_{0};
  mutable std::mutex mu_;
  nlohmann::json last_event_ = nullptr;
};

}  // namespace

TANDEM_PLUGIN(DaemonTestPlugin, "daemon-test", "1.0.0", "tandemd binary test plugin")
