// One node's running host: the event loop thread, the node's persisted state,
// the worker pool, the peer monitor, plugin metrics and one StoreRunner per
// store. The HTTP API reads from it; tandemd and the tests assemble it.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/dashboard_settings.h"
#include "dcs/auto_failover.h"
#include "failover/failover_orchestrator.h"
#include "failover/http_failover_peer.h"
#include "hooks/hook_runner.h"
#include "host/metrics_registry.h"
#include "host/peer_monitor.h"
#include "host/runtime_failover_stores.h"
#include "host/sample_history.h"
#include "host/store_host_context.h"
#include "host/store_runner.h"
#include "state/maintenance_state.h"
#include "state/node_state.h"
#include "util/logging.h"
#include "util/task_threads.h"

namespace tandem::core {

struct RuntimeOptions {
  int worker_threads = 4;
  PeerMonitorOptions peer;
  StoreRunnerOptions store;
  std::chrono::milliseconds health_refresh{std::chrono::seconds(1)};
  // [api] history_interval: how often the health refresh keeps a sample for
  // GET /v1/history/samples (SampleHistory::kCapacity of them).
  std::chrono::milliseconds history_interval = DashboardSettings{}.history_interval;
  // [api] dashboard_actions: GET /ui offers its action buttons.
  bool dashboard_actions = DashboardSettings{}.actions;
  std::chrono::milliseconds worker_grace{std::chrono::seconds(10)};
  HooksConfig hooks;  // [hooks]
  // [failover] peer_probe_timeout: how long a promote's probes of the peer
  // wait (its status, each store's prepare).
  std::chrono::milliseconds peer_probe_timeout = sdk::FailoverRequest{}.peer_timeout;
  // [node] role = "test": no peer is watched or asked, and every failover
  // command is refused (the orchestrator's refusal says why).
  bool test_instance = false;
};

class NodeRuntime {
 public:
  // Loads (or creates) <data_dir>/node-state.json; throws std::runtime_error
  // when it is corrupt or data_dir cannot be created.
  NodeRuntime(sdk::NodeIdentity node, sdk::PeerInfo peer, std::string peer_token, sdk::Role initial_role,
              RuntimeOptions options = {});
  ~NodeRuntime();  // shutdown()
  NodeRuntime(const NodeRuntime&) = delete;
  NodeRuntime& operator=(const NodeRuntime&) = delete;

  // The context a store's plugin is configured with (before add_store).
  std::unique_ptr<StoreHostContext> make_context(const std::string& store);
  // Takes a configured plugin and how often to sync it (its config's
  // sync_interval; zero: only on request). Only before start().
  void add_store(std::string plugin_type, std::string plugin_version, std::shared_ptr<sdk::Plugin> plugin,
                 std::unique_ptr<StoreHostContext> context, std::chrono::milliseconds sync_interval);

  // Runs the event loop on its own thread, starts the stores (in order) and the peer monitor.
  void start();
  // Stops the stores in reverse order, drains the workers, ends the loop.
  // Idempotent. Returns false when a store's call or a failover step was hung:
  // its thread still runs, so the caller must end the process (std::_Exit)
  // without destroying this object.
  bool shutdown();

  boost::asio::io_context& io() { return io_; }
  const sdk::NodeIdentity& node() const { return services_.node; }
  const sdk::PeerInfo& peer() const { return services_.peer; }
  // A test node ([node] role = "test"): shown as role "test", never promoted.
  bool test_instance() const { return options_.test_instance; }
  bool dashboard_actions() const { return options_.dashboard_actions; }
  NodeStateValues node_state() const { return state_.get(); }
  // Maintenance mode (`tandemctl pause`): persisted; promote/switchover refused unless forced.
  MaintenanceState& maintenance() { return maintenance_; }
  MaintenanceValues maintenance_state() const { return maintenance_.get(); }
  PeerStatus peer_status() const { return peer_monitor_->status(); }
  const PluginMetrics& plugin_metrics() const { return metrics_; }
  std::vector<StoreSnapshot> snapshots() const;
  // The samples of the last hour (GET /v1/history/samples); nullptr before start().
  const SampleHistory* history() const { return history_.get(); }
  // nullptr when there is no such store.
  StoreRunner* find_store(std::string_view name) const;

  // Promote, switchover, rejoin (DESIGN.md §6). Its calls block: run them
  // through post_failover, never on the event loop.
  FailoverOrchestrator& failover() { return *orchestrator_; }
  // Queue work on the single failover thread; false once shutting down.
  bool post_failover(std::function<void()> work) { return failover_thread_.post(std::move(work)); }

  // Fences this node (persisted, stores told): a primary stops acting as one
  // until `tandemctl rejoin`. No-op when not an unfenced primary.
  void fence(const std::string& reason);
  // Automatic failover ([failover] mode = "automatic"): the runtime owns the
  // driver and the node view it runs on, and stops them first at shutdown.
  // Before start().
  void enable_auto_failover(std::unique_ptr<dcs::AutoFailoverNode> node, std::unique_ptr<dcs::AutoFailover> driver);
  dcs::AutoFailover* auto_failover() const { return auto_failover_.get(); }

 private:
  void arm_health_refresh();
  // A primary that sees its peer at a higher epoch fences itself (on the loop).
  void check_fencing();
  // At start-up, before the stores start: ask the peer once (blocking).
  void check_peer_before_serving();
  // Persists fenced when this node is an unfenced primary behind peer_epoch
  // (and fires on_fenced, on_role_change).
  bool mark_fenced_if_behind(std::uint64_t peer_epoch);
  // on_store_health_change for each store whose status moved since the last look (on the loop).
  void fire_health_hooks();
  // Persists fenced with `reason` when this node is an unfenced primary, and
  // fires the fencing hooks (peer_epoch: when a higher peer epoch is why).
  bool mark_fenced(const std::string& reason, std::optional<std::uint64_t> peer_epoch = std::nullopt);
  // Each store re-reads host.fenced() and stops acting as primary.
  void notify_stores_of_fencing();

  RuntimeOptions options_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  NodeState state_;
  MaintenanceState maintenance_;
  TaskThreads workers_;
  PluginMetrics metrics_;
  std::unique_ptr<PeerMonitor> peer_monitor_;
  NodeServices services_;
  std::vector<std::unique_ptr<StoreRunner>> stores_;
  std::unique_ptr<boost::asio::steady_timer> health_timer_;
  std::unique_ptr<SampleHistory> history_;  // made in start(), when the stores are known
  StoreLogger failover_log_{"failover"};
  std::unique_ptr<HookRunner> hooks_;
  std::map<std::string, sdk::HealthStatus> last_health_;  // loop thread only
  std::unique_ptr<RuntimeFailoverStores> failover_stores_;
  std::unique_ptr<HttpFailoverPeer> failover_peer_;
  std::unique_ptr<FailoverOrchestrator> orchestrator_;
  TaskThreads failover_thread_{"failover", 1};

  std::unique_ptr<dcs::AutoFailoverNode> auto_failover_node_;
  std::unique_ptr<dcs::AutoFailover> auto_failover_;  // after what it uses: destroyed first

  std::thread loop_thread_;
  std::promise<void> loop_done_;
  bool started_ = false;
  bool shut_down_ = false;
  std::mutex shutdown_mu_;
};

}  // namespace tandem::core
