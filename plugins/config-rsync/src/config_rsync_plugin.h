// The config-rsync store: the secondary pulls configured trees from the
// primary with rsync, every `interval` and promptly after the primary's
// inotify watcher reports a burst of changes.
//
// Modes (DESIGN.md §5, README "Failover"):
//   serving  primary: watches its paths, tells the peer about changes and
//            checksums, optionally runs the read-only rsync daemon.
//   pulling  secondary: pulls on schedule and on request, compares checksums.
//   idle     demoted or fenced: neither (the built-in daemon of a demoted
//            primary keeps serving read-only until rejoin, for a final pull).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "change_watcher.h"
#include "pull_runner.h"
#include "served_daemon.h"
#include "settings.h"
#include "tandem/sdk/clone_test.h"
#include "tandem/sdk/plugin.h"

namespace tandem::config_rsync {

class ConfigRsyncPlugin final : public sdk::Plugin {
 public:
  ConfigRsyncPlugin() = default;
  ~ConfigRsyncPlugin() override;

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
  enum class Mode { stopped, serving, pulling, idle };
  static const char* mode_name(Mode m);
  using SystemTime = std::chrono::system_clock::time_point;

  // Everything health() reads; guarded by mu_.
  struct State {
    Mode mode = Mode::stopped;
    std::string idle_reason;
    SystemTime mode_since{};
    std::optional<SystemTime> last_attempt;
    std::optional<SystemTime> last_good;
    int last_exit_code = 0;
    std::string last_error;
    TransferStats last_stats;
    std::chrono::milliseconds last_duration{0};
    std::uint64_t pulls = 0;
    std::uint64_t failures = 0;
    std::uint64_t notifications_sent = 0;
    std::string local_checksum;
    std::string checksum_error;
    std::string peer_checksum;  // the primary's (on a secondary) or the secondary's (on a primary)
    std::optional<SystemTime> peer_checksum_at;
    // Secondary: when the primary's tree last changed, as its last report
    // said (absent when it never said); saved_report: what is in the store
    // state, so the bound survives a restart of this tandemd.
    std::optional<SystemTime> peer_changed_at;
    bool report_unsaved = false;
    // Primary: when the watcher last saw a change of the tree.
    std::optional<SystemTime> last_change;
    std::string serve_problem;
    std::vector<std::string> watch_problems;
    std::size_t watched_directories = 0;
  };

  // Mode transitions; called only from the host's one-at-a-time methods.
  sdk::Status enter_serving();
  void enter_pulling();
  void enter_idle(const std::string& reason, bool keep_daemon);
  void stop_watcher_and_daemon(bool keep_daemon);

  sdk::Result<sdk::SyncReport> pull_once();
  sdk::Result<sdk::SyncReport> publish_once();
  // Recomputes this node's checksum; on error records it and returns "".
  std::string refresh_local_checksum();
  void on_change_burst(std::size_t events);
  void notify_checksum(const char* event_name, const std::string& checksum, std::size_t changes);
  // The primary's last report in the store state (primary_report.cpp):
  // saved from sync() when it changed, loaded when this node starts pulling.
  void save_primary_report();
  void load_primary_report();
  Mode mode() const;
  std::string peer_address() const;

  sdk::Result<sdk::DiagnosticResult> diagnose_dry_run();
  sdk::Result<sdk::DiagnosticResult> diagnose_connectivity();
  sdk::Result<sdk::DiagnosticResult> diagnose_checksum();

  Settings settings_;
  sdk::HostContext* host_ = nullptr;
  std::unique_ptr<ChangeWatcher> watcher_;
  std::unique_ptr<ServedDaemon> daemon_;

  mutable std::mutex mu_;
  State state_;
};

}  // namespace tandem::config_rsync
