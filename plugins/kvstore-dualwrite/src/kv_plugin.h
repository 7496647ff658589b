// The kvstore-dualwrite plugin: a Redis pair behind tandem's RESP endpoint.
// See README.md for the behaviour this class implements.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "dispatcher.h"
#include "divergence.h"
#include "endpoint.h"
#include "redis_sync_client.h"
#include "settings.h"
#include "tandem/sdk/clone_test.h"
#include "tandem/sdk/plugin.h"

namespace tandem::kv {

class KvStorePlugin final : public sdk::Plugin {
 public:
  KvStorePlugin() = default;
  ~KvStorePlugin() override;

  sdk::PluginInfo info() const override;
  sdk::ConfigSchema schema() const override { return settings_schema(); }
  sdk::Status configure(const sdk::StoreConfig& config, sdk::HostContext& host) override;
  sdk::Status start() override;
  void stop() override;
  sdk::Result<sdk::SyncReport> sync() override;
  sdk::Health health() const override;

  sdk::Result<sdk::PrepareReport> prepare(const sdk::FailoverRequest& request) override;
  sdk::Result<sdk::StepReport> promote(const sdk::FailoverRequest& request) override;
  sdk::Result<sdk::StepReport> demote(const sdk::FailoverRequest& request) override;
  sdk::Result<sdk::StepReport> rejoin(const sdk::FailoverRequest& request) override;
  void on_role_change(sdk::Role role, std::uint64_t epoch) override;

  std::vector<sdk::Diagnostic> diagnostics() override;
  // clone-test (clone_test.cpp).
  std::vector<sdk::Action> actions() override;
  void on_peer_event(const nlohmann::json& event) override;

 private:
  sdk::Result<nlohmann::json> clone_test(const sdk::CloneTestArgs& args);
  sdk::DiagnosticResult diagnose_connectivity();
  sdk::Result<sdk::DiagnosticResult> diagnose_compare(const std::vector<std::string>& args);
  std::filesystem::path journal_dir() const;
  PeerMode stored_mode() const;
  void store_mode(PeerMode mode);
  void start_endpoint();  // throws
  void stop_endpoint();
  std::shared_ptr<Endpoint> endpoint() const;
  bool should_serve() const;
  // This node's epoch for the epoch fence (fence.h): the host's, or the one
  // its last promotion recorded if higher (the host raises its own epoch in
  // the same failover).
  std::uint64_t serving_epoch() const;
  // Raises the epoch marker on `redis` to serving_epoch() after a promotion
  // (no-op before any); kills other nodes' writer links there when it rose.
  void raise_fence(RedisSyncClient& redis, const char* which);
  void note_superseded(const EndpointStats& stats);
  // One connection to the peer's Redis per sync round, shared by the checks
  // that need it (the rejoin cut-over, its epoch marker, the divergence
  // sampler): against a silent peer (a partition) a round then waits out
  // connect_timeout once, not once per check.
  struct PeerProbe {
    std::unique_ptr<RedisSyncClient> client;         // null: unreachable, or failed since
    std::map<std::string, std::string> replication;  // its INFO replication
    std::string error;                               // why client is null
  };
  PeerProbe probe_peer() const;
  void try_rejoin_cutover(Endpoint& endpoint, PeerProbe& peer);
  void sample_divergence(Endpoint& ep, RedisSyncClient& peer);
  void publish_metrics(const EndpointStats& stats);
  void notify_peer_status(const EndpointStats& stats);
  // The peer's last journal report in the store state (peer_report.cpp):
  // loaded at start, saved from sync() when it changed or aged.
  void load_peer_report();
  void save_peer_report();

  Settings settings_;
  sdk::HostContext* host_ = nullptr;
  Secrets secrets_;
  std::atomic<bool> started_{false};  // read by health() on the host's loop

  mutable std::mutex endpoint_mu_;
  std::shared_ptr<Endpoint> endpoint_;

  DivergenceSampler sampler_;

  // Cached facts for health(), written by sync() and failover steps.
  struct Observed {
    bool local_reachable = false;
    std::string local_error;
    std::string local_role;  // "master" / "slave"
    std::string endpoint_error;
    std::string cutover_error;
    std::uint64_t keys_compared_total = 0;
    std::uint64_t keys_differing = 0;
    std::string sampler_error;
    std::uint64_t superseded_by = 0;  // an epoch marker above ours stopped the endpoint
    std::string superseded_reason;
    std::uint64_t discarded = 0;  // this timeline's writes discarded then
    std::string discarded_file;
    std::optional<std::uint64_t> peer_journal_depth;  // as the peer last reported it
    std::optional<std::uint64_t> peer_journal_bytes;  // the same report's size of those writes
    std::optional<std::int64_t> peer_journal_oldest_ms;
    std::int64_t peer_report_ms = 0;
    std::chrono::system_clock::time_point at{};
  };
  mutable std::mutex observed_mu_;
  Observed observed_;
  EndpointStats last_stats_;  // sync thread only: for counter deltas
  struct SavedReport {
    std::optional<std::uint64_t> depth;
    std::int64_t at_ms = 0;
  } saved_report_;  // what save_peer_report last wrote (sync thread only)
};

}  // namespace tandem::kv
