// The postgres-wal plugin: PostgreSQL physical streaming replication between
// the pair, driven through libpq and PostgreSQL's own programs.
//
// Method bodies are split by concern: plugin.cpp (lifecycle, sync, health),
// standby_setup.cpp (building and checking the standby), failover_steps.cpp
// (prepare/promote/demote/rejoin), synchronous_mode.cpp, diagnostics.cpp.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "health_model.h"
#include "lag_history.h"
#include "peer_wal_report.h"
#include "pg_connection.h"
#include "pg_tools.h"
#include "settings.h"
#include "tandem/sdk/clone_test.h"
#include "tandem/sdk/plugin.h"

namespace tandem::pgwal {

class PostgresWalPlugin final : public sdk::Plugin {
 public:
  PostgresWalPlugin() = default;

  sdk::PluginInfo info() const override;
  sdk::ConfigSchema schema() const override { return pgwal::schema(); }
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
  // The primary's WAL position (peer_wal_report.h); other events are ignored.
  void on_peer_event(const nlohmann::json& event) override;

  std::vector<sdk::Diagnostic> diagnostics() override;
  std::vector<sdk::Action> actions() override;

 private:
  // --- diagnostics (diagnostics.cpp), one per row of diagnostics() ---
  sdk::DiagnosticResult diagnose_conninfo();
  sdk::DiagnosticResult diagnose_slots();
  sdk::DiagnosticResult diagnose_timeline();
  sdk::DiagnosticResult diagnose_settings();
  sdk::DiagnosticResult diagnose_lag();

  // --- connections (plugin.cpp) ---
  ConnectParams local_params() const;
  ConnectParams peer_params(bool replication) const;
  UpstreamServer upstream() const;
  // The kept-open monitoring connection; reconnects when it was lost.
  PgConnection& local();
  void drop_local() { conn_.reset(); }
  // (Re)writes the passfile PostgreSQL's programs read (passwords from files).
  void refresh_passfile();
  HealthInputs health_inputs() const;
  void publish(sdk::Health h);
  void set_health_problem(sdk::HealthStatus status, const std::string& why);
  void record_metrics(const ServerView& view);
  // Secondary: the primary's last reported WAL position into the store state (when new).
  void save_peer_wal_report();

  // --- test instance (clone_test.cpp): the clone-test action ---
  sdk::Result<nlohmann::json> clone_test(const sdk::CloneTestArgs& args);

  // --- standby (standby_setup.cpp) ---
  // Secondary side of sync(): build from empty, start if stopped, check identity.
  sdk::SyncReport sync_as_standby();
  nlohmann::json build_standby_from_empty();
  // The primary's system identifier and timeline (IDENTIFY_SYSTEM as the replication role).
  struct PrimaryIdentity {
    std::string system_id;
    int timeline = 0;
    std::string wal_lsn;
  };
  PrimaryIdentity identify_primary() const;
  std::string local_system_id();
  // Fenced node whose PostgreSQL is still a primary: shut it down (no writes).
  void fence_local_primary();
  // Poll pg_stat_wal_receiver until it reports streaming.
  bool wait_until_streaming(std::chrono::milliseconds timeout);
  // Create the physical slot on `conn` (a primary) if it does not exist.
  static bool ensure_slot(PgConnection& conn, const std::string& slot);

  // --- synchronous mode (synchronous_mode.cpp) ---
  // Primary side: keep synchronous_standby_names as the policy says.
  SyncModeState manage_synchronous(const PrimaryView& view);
  // Since when the peer's standby has been gone (not streaming, or streaming
  // but silent for WAL it was sent); nullopt while it streams and answers.
  std::optional<std::chrono::steady_clock::time_point> standby_gone_since(
      const PrimaryView& view, std::chrono::steady_clock::time_point now) const;
  // The value synchronous_standby_names should have on a primary right now.
  std::string synchronous_names_for(SyncModeState state) const;
  void set_synchronous_names(PgConnection& conn, const std::string& names);

  // --- failover helpers (failover_steps.cpp) ---
  sdk::StepReport rebuild_standby(const nlohmann::json& args);
  bool rewind_possible(std::string& why);

  Settings settings_;
  sdk::HostContext* host_ = nullptr;
  std::unique_ptr<PgTools> tools_;
  std::unique_ptr<PgConnection> conn_;
  LagHistory lag_history_;
  PeerWalReports peer_wal_;  // secondary: the primary's last reported WAL position
  std::optional<std::chrono::steady_clock::time_point> standby_missing_since_;
  SyncModeState sync_mode_ = SyncModeState::off;
  int not_streaming_syncs_ = 0;  // consecutive syncs the standby did not stream
  std::string standby_problem_;  // set by sync_as_standby when the standby cannot follow (wrong cluster, diverged)

  mutable std::mutex health_mu_;
  sdk::Health health_ = sdk::Health::make(sdk::HealthStatus::unknown, "not measured yet");
};

}  // namespace tandem::pgwal
