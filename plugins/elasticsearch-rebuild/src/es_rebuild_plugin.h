// The elasticsearch-rebuild plugin: keeps search indices derived from
// PostgreSQL, rebuilding them into fresh indices behind an alias after a
// promotion, at start-up when an alias is missing, or by hand.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "es_api.h"
#include "es_config.h"
#include "es_http.h"
#include "rebuild.h"
#include "tandem/sdk/plugin.h"

namespace tandem::esrebuild {

class EsRebuildPlugin final : public sdk::Plugin {
 public:
  EsRebuildPlugin() = default;
  ~EsRebuildPlugin() override;

  sdk::PluginInfo info() const override;
  sdk::ConfigSchema schema() const override { return es_rebuild_schema(); }
  sdk::Status configure(const sdk::StoreConfig& config, sdk::HostContext& host) override;
  sdk::Status start() override;
  void stop() override;
  void interrupt() override;

  sdk::Result<sdk::SyncReport> sync() override;
  sdk::Health health() const override;

  sdk::Result<sdk::PrepareReport> prepare(const sdk::FailoverRequest& request) override;
  sdk::Result<sdk::StepReport> promote(const sdk::FailoverRequest& request) override;
  sdk::Result<sdk::StepReport> demote(const sdk::FailoverRequest& request) override;
  sdk::Result<sdk::StepReport> rejoin(const sdk::FailoverRequest& request) override;
  void on_role_change(sdk::Role role, std::uint64_t epoch) override;

  std::vector<sdk::Diagnostic> diagnostics() override;
  std::vector<sdk::Action> actions() override;

 private:
  struct IndexHealth {
    std::string alias;
    std::vector<std::string> targets;
    std::optional<std::uint64_t> documents;
    std::optional<std::uint64_t> source_rows;
    std::string error;
  };
  struct Launch {
    std::vector<std::string> aliases;  // empty: all
    std::string reason;
    bool only_if_missing = false;
    std::uint64_t epoch = 0;
  };

  sdk::DiagnosticResult diagnose_connectivity();
  sdk::DiagnosticResult diagnose_aliases();
  EsApi diagnostic_api() const;  // one attempt per call, ended by interrupt()
  sdk::Result<nlohmann::json> rebuild_action(const nlohmann::json& args);
  // Starts a rebuild thread; error text when one is already running.
  sdk::Result<nlohmann::json> launch(Launch what);
  void rebuild_job(Launch what);
  void cancel_and_join();
  std::shared_ptr<const EsTarget> make_target() const;
  std::string source_password() const;
  void on_progress(const RebuildProgress& p);
  bool rebuilding() const;
  std::string progress_line() const;  // requires mu_

  EsRebuildConfig config_;
  sdk::HostContext* host_ = nullptr;

  mutable std::mutex mu_;
  bool started_ = false;
  bool running_ = false;
  bool startup_check_pending_ = false;  // alias-missing check not yet done (ES was down at start)
  std::optional<RebuildProgress> progress_;
  nlohmann::json last_rebuild_;  // null until one finished
  bool measured_ = false;
  std::string cluster_status_;
  std::string cluster_error_;
  std::vector<IndexHealth> index_health_;
  std::chrono::system_clock::time_point measured_at_{};

  std::thread worker_;
  std::atomic<bool> cancel_{false};       // ends the rebuild between requests (cancel action, demote, stop)
  std::atomic<bool> interrupted_{false};  // the host is stopping: ends requests in flight too (EsTarget::interrupted)
};

}  // namespace tandem::esrebuild
