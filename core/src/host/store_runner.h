// Runs one store: its plugin's blocking calls (start, sync, actions, stop) on
// a serial executor of its own, so they never overlap and a slow or hung
// store delays nobody else; the event loop only schedules. Keeps the store's
// sync statistics and a cached health snapshot the API serves.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "host/store_host_context.h"
#include "tandem/sdk/plugin.h"
#include "util/task_threads.h"

namespace tandem::core {

struct SyncStats {
  std::uint64_t runs = 0;
  std::uint64_t failures = 0;
  std::optional<double> last_duration_ms;
  std::string last_error;    // of the last run; empty when it succeeded
  std::string last_summary;  // of the last successful run
  std::optional<std::chrono::system_clock::time_point> last_success;
  std::optional<std::chrono::system_clock::time_point> last_run;
  bool in_progress = false;
};

enum class StoreState { created, starting, running, start_failed, stopping, stopped };
std::string_view to_string(StoreState s);

struct StoreSnapshot {
  std::string name;
  std::string plugin;   // plugin type
  std::string version;  // plugin version
  StoreState state = StoreState::created;
  std::string start_error;  // last start failure while state is start_failed
  sdk::Health health;
  SyncStats sync;
};

struct StoreRunnerOptions {
  std::chrono::milliseconds start_retry_base{std::chrono::seconds(1)};
  std::chrono::milliseconds start_retry_max{std::chrono::seconds(60)};
  std::chrono::milliseconds stop_grace{std::chrono::seconds(30)};
};

class StoreRunner {
 public:
  StoreRunner(boost::asio::io_context& io, std::string plugin_type, std::string plugin_version,
              std::shared_ptr<sdk::Plugin> plugin, std::unique_ptr<StoreHostContext> context,
              std::chrono::milliseconds sync_interval, StoreRunnerOptions options = {});
  ~StoreRunner();
  StoreRunner(const StoreRunner&) = delete;
  StoreRunner& operator=(const StoreRunner&) = delete;

  const std::string& name() const { return name_; }

  // Starts the plugin on its executor; failures are logged and retried with
  // exponential backoff. Returns at once.
  void start();
  // Tells the plugin the store is about to stop (Plugin::interrupt), so that
  // the call it is in returns soon. Any thread; quick. stop() does it too.
  void interrupt();
  // Stops scheduling, interrupts and waits for the running call, calls plugin
  // stop(). Blocks (not on the event loop!) up to stop_grace; false when the
  // store is hung.
  bool stop();

  // Coalesced: at most one extra run is queued while one is in progress.
  void request_sync();

  // A promote or switchover is pending on this node: no sync starts until
  // the matching release_syncs() (one requested or due meanwhile runs then),
  // and the sync in progress, if any, is asked to end soon
  // (HostContext::sync_cancelled), so that the failover steps queued behind
  // it wait for a cancelled sync, not for a pull from a silent peer. Any
  // thread; holds nest.
  void hold_syncs();
  void release_syncs();

  // From the plugin's info(), read once at construction (metadata: the
  // failover orchestrator asks without queueing behind a sync).
  int failover_order() const { return failover_order_; }
  bool nothing_to_fail_over() const { return nothing_to_fail_over_; }

  // Refresh the cached health from the plugin (quick by contract). Any thread.
  void refresh_health();
  StoreSnapshot snapshot() const;
  const std::vector<sdk::ActionInfo>& actions() const { return actions_; }
  const std::vector<sdk::DiagnosticInfo>& diagnostics() const { return diagnostics_; }

  // Runs the action on the store's executor; `done` gets its result on that thread.
  void run_action(const std::string& action, const nlohmann::json& args,
                  std::function<void(sdk::Result<nlohmann::json>)> done);
  // Runs `fn` with the plugin on the store's executor (never concurrently with
  // its sync or any other call); the future is ready when it has run. Throws
  // std::runtime_error when the store is shutting down. For the failover orchestrator.
  std::future<void> call(std::function<void(sdk::Plugin&)> fn);
  // Delivers a peer's event to the plugin on the event loop.
  void deliver_peer_event(nlohmann::json event);

 private:
  void attempt_start();
  void schedule_start_retry();
  void run_sync();                                       // on the executor
  void arm_sync_timer(std::chrono::milliseconds delay);  // any thread

  boost::asio::io_context& io_;
  // Declared before plugin_: the plugin (which may use its host context in
  // its destructor) goes away first.
  std::unique_ptr<StoreHostContext> context_;
  std::string name_;
  std::string plugin_type_;
  std::string plugin_version_;
  std::shared_ptr<sdk::Plugin> plugin_;
  StoreRunnerOptions options_;
  std::chrono::milliseconds interval_{0};
  std::vector<sdk::ActionInfo> actions_;
  std::vector<sdk::DiagnosticInfo> diagnostics_;
  int failover_order_ = 50;
  bool nothing_to_fail_over_ = false;

  // Only touched on the event loop.
  boost::asio::steady_timer sync_timer_;
  boost::asio::steady_timer retry_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  mutable std::mutex mu_;
  StoreState state_ = StoreState::created;
  std::string start_error_;
  int start_attempts_ = 0;
  bool sync_running_ = false;
  bool sync_pending_ = false;
  int sync_holds_ = 0;  // hold_syncs() minus release_syncs()
  bool stopping_ = false;
  SyncStats stats_;
  sdk::Health health_;

  TaskThreads executor_;  // last: its thread is joined before the rest goes away
};

}  // namespace tandem::core
