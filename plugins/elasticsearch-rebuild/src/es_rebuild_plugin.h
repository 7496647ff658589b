// The elasticsearch-rebuild plugin: keeps search indices derived from
// PostgreSQL, rebuilding them into fresh indices behind an alias after a
// promotion, at start-up when an alias is missing, or by hand.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
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
#include "warm_refresh.h"

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
  // rebuild: full rebuilds (promote, start-up, by hand). warm: one warm
  // round on the secondary. catch_up: the warm index's last round, after a
  // promotion, from the marks taken when promote began.
  enum class Job { rebuild, warm, catch_up };
  struct Launch {
    std::vector<std::string> aliases = {};  // empty: all
    std::string reason = {};
    bool only_if_missing = false;
    std::uint64_t epoch = 0;
    Job job = Job::rebuild;
    std::map<std::string, WarmMark> marks = {};  // catch_up: per alias
  };
  struct JobTally {  // what a job's full rebuilds report in last_rebuild
    nlohmann::json results = nlohmann::json::array();
    bool all_ok = true;
    std::string first_error;
  };

  sdk::DiagnosticResult diagnose_connectivity();
  sdk::DiagnosticResult diagnose_aliases();
  EsApi diagnostic_api() const;  // one attempt per call, ended by interrupt()
  sdk::Result<nlohmann::json> rebuild_action(const nlohmann::json& args);
  // Starts a rebuild thread; error text when one is already running.
  sdk::Result<nlohmann::json> launch(Launch what);
  void rebuild_job(Launch what);
  // One full rebuild of `spec`, with its log, metrics and last_rebuild row.
  std::optional<RebuildOutcome> full_rebuild(const IndexSpec& spec, const std::shared_ptr<const EsTarget>& target,
                                             const std::string& password, std::uint64_t epoch, JobTally& tally);
  // The warm or catch-up work for one index (warm_refresh.h).
  void warm_index(const IndexSpec& spec, const Launch& what, const std::shared_ptr<const EsTarget>& target,
                  const std::string& password, JobTally& tally);
  // Every index's mark, when each alias still points at its warm index.
  std::optional<std::map<std::string, WarmMark>> warm_marks_serving();
  sdk::Result<sdk::StepReport> promote_warm(std::uint64_t epoch, std::map<std::string, WarmMark> marks);
  void forget_warm_marks();
  void remember_warm_mark(const std::string& alias, const WarmMark& mark);  // the state store and warm_marks_
  void finish_catch_up(std::uint64_t epoch);  // records a complete catch-up (idempotent promote)
  // A catch-up recorded for `epoch`: done (no change) or resumed; nullopt when none.
  std::optional<sdk::Result<sdk::StepReport>> resume_catch_up(std::uint64_t epoch);
  void cancel_warm_job();  // a running warm or catch-up job, not a rebuild asked for
  void warm_loop();
  void stop_warm_loop();
  bool warm_here() const;  // warm_standby, and this node is an unfenced secondary not being promoted
  nlohmann::json warm_details(double& oldest_age) const;  // requires mu_
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

  Job job_ = Job::rebuild;                             // of the running job
  bool full_running_ = false;                          // a full rebuild is in progress (health: "rebuilding")
  std::map<std::string, WarmMark> warm_marks_;         // the persisted marks, as last read or written
  std::map<std::string, nlohmann::json> warm_rounds_;  // per alias: the last warm round's outcome
  nlohmann::json catch_up_;                            // the last catch-up after a promotion (null: none)

  std::thread warm_thread_;
  std::mutex warm_mu_;
  std::condition_variable warm_cv_;
  bool warm_stop_ = false;                   // guarded by warm_mu_
  std::atomic<bool> warm_suspended_{false};  // promote began: no more warm rounds until this node is secondary again

  std::mutex worker_mu_;  // guards worker_ itself (join and replace); taken before mu_
  std::thread worker_;
  std::atomic<bool> cancel_{false};       // ends the rebuild between requests (cancel action, demote, stop)
  std::atomic<bool> interrupted_{false};  // the host is stopping: ends requests in flight too (EsTarget::interrupted)
};

}  // namespace tandem::esrebuild
