// The interface every tandem store plugin implements.
//
// One class combines the three roles of DESIGN.md §3 (sync, health, failover)
// with lifecycle, metadata and diagnostics. Every method but info(), schema(),
// configure() and health() has a default body, so the interface can grow
// without breaking existing plugins.
//
// Threading contract (the host guarantees it; the test kit follows it):
//  - configure, start, stop, sync, prepare, promote, demote, rejoin, diagnose
//    and run_action are called off the event loop, one at a time per store:
//    they may block (subprocesses, network) for as long as they need.
//  - health() and on_peer_event() may be called from the event loop at any
//    time, concurrently with the above: they must be quick and thread-safe
//    (serve health from a cached snapshot guarded by a mutex). interrupt()
//    comes from a host thread while one of the above may be running.
//  - Plugin code may throw; the SDK's export edge (export.h) turns any
//    exception into an error result, so nothing crosses the library boundary.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/sdk/config.h"
#include "tandem/sdk/diagnostics.h"
#include "tandem/sdk/failover.h"
#include "tandem/sdk/health.h"
#include "tandem/sdk/host_context.h"
#include "tandem/sdk/result.h"

namespace tandem::sdk {

// Conventional failover order hints (lower runs first on promote).
inline constexpr int kOrderConfig = 10;
inline constexpr int kOrderDatabase = 20;
inline constexpr int kOrderKeyValue = 30;
inline constexpr int kOrderDerivedIndex = 40;

struct PluginInfo {
  // Identity: answered by the SDK from the TANDEM_PLUGIN manifest (export.h);
  // a plugin's info() leaves these three empty rather than repeat them.
  std::string name{};         // plugin type, e.g. "postgres-wal"
  std::string version{};      // the plugin's own version
  std::string description{};  // one line
  int failover_order = 50;    // lower promotes first
  // Default of the host's `sync_interval` key (written as in TOML, "30s");
  // empty: the plugin has no periodic work and the key is not offered.
  std::string default_sync_interval{};
  // Lowest sync_interval the host accepts for this plugin.
  std::string min_sync_interval = "100ms";
  // True for a store that keeps no copy a failover moves (it only watches or
  // reports): the orchestrator then skips the steps it does not implement.
  // Otherwise a step answering not_supported fails the failover.
  bool nothing_to_fail_over = false;
};

struct SyncReport {
  std::string summary;  // one line, e.g. "pulled 3 files, 12 KiB"
  nlohmann::json details = nlohmann::json::object();
};

class Plugin {
 public:
  Plugin() = default;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;
  virtual ~Plugin() = default;

  // Metadata; constant for the plugin's lifetime. Callable before configure.
  virtual PluginInfo info() const = 0;
  // The keys of this plugin's store table (DESIGN.md §3 "schema as data"),
  // with their constraints (choices, min/max, path rules). The host rejects
  // unknown keys, wrong types and values outside the constraints before
  // configure is called. `sync_interval` is the host's (store_schema adds it).
  virtual ConfigSchema schema() const = 0;

  // Validate the configuration and remember it. Touches nothing outside the
  // process (no connections, no files written). A refusal is the returned
  // Status: `return config.error(key, why);` (invalid_config, with the key's
  // file:line:col); helpers return Result and TANDEM_TRY passes it on. The
  // host has checked every value against the schema before this runs, so
  // the accessors do not throw here (they do on StoreConfig::from_json
  // values in tests, with the same words). `host` outlives the plugin.
  // Path keys arrive resolved by their PathRule (config.path(key) gives the
  // absolute path: relative ones against the config file's directory in the
  // daemon, against the working directory in StoreConfig::from_json).
  virtual Status configure(const StoreConfig& config, HostContext& host) = 0;
  // Acquire the long-lived, retryable resources (listeners, watchers, timers).
  // A start failure is reported and retried by the host; it must not leave
  // half-acquired resources behind.
  virtual Status start() { return {}; }
  // Release everything start() acquired; cancel timers and handlers posted to
  // the host's io_context. Idempotent. After stop, no plugin code may run.
  virtual void stop() {}
  // The host is about to stop this store (tandemd is shutting down): make the
  // call in progress, if any (sync, a failover step, an action, a diagnostic),
  // return soon, e.g. by ending its blocking requests; stop() follows once it
  // has. Called from a host thread concurrently with that call: quick,
  // thread-safe, never blocking. A plugin whose calls are all short needs none.
  virtual void interrupt() {}

  // One round of keeping this node's copy current for its role, every
  // `sync_interval` (StoreConfig::sync_interval(); never periodically when the
  // plugin declares no default_sync_interval, only on request_sync()). Never
  // runs concurrently with itself. An error is recorded in the store's metrics.
  virtual Result<SyncReport> sync() { return SyncReport{"nothing to sync", nlohmann::json::object()}; }

  // The latest health snapshot. Cheap, thread-safe, never blocks on I/O.
  virtual Health health() const = 0;

  // Pre-checks before promotion: refuse with a reason, or state what would be
  // lost if promoted now and what promote would do. Changes nothing.
  virtual Result<PrepareReport> prepare(const FailoverRequest& request) {
    (void)request;
    return PrepareReport{};
  }
  // Make this node's copy the writable one. Idempotent. Runs after every
  // store's prepare() accepted and after the stores ordered before this one
  // promoted; the node's role is still secondary while it runs (the host
  // records primary after the last store). The default body answers
  // ErrorCode::not_supported, never success (see nothing_to_fail_over).
  virtual Result<StepReport> promote(const FailoverRequest& request) {
    (void)request;
    return Result<StepReport>::error(ErrorCode::not_supported, "this plugin does not implement promote");
  }
  // Stop being writable (planned switchover, on the old primary). Idempotent.
  // details should carry what the new primary needs to wait for (handoff).
  virtual Result<StepReport> demote(const FailoverRequest& request) {
    (void)request;
    return Result<StepReport>::error(ErrorCode::not_supported, "this plugin does not implement demote");
  }
  // Turn this former primary into a secondary of the current primary. Idempotent.
  virtual Result<StepReport> rejoin(const FailoverRequest& request) {
    (void)request;
    return Result<StepReport>::error(ErrorCode::not_supported, "this plugin does not implement rejoin");
  }
  // Called after the host changed this node's role or epoch (after a failover
  // ended, or on fencing): on the store's own serial thread, like sync(), so
  // never concurrently with it or with a failover step.
  virtual void on_role_change(Role role, std::uint64_t epoch) {
    (void)role;
    (void)epoch;
  }

  // Checks `tandemctl diag` can run, as {name, description, handler} rows.
  // They must work with only configure() called: tandemctl loads the plugin
  // itself (the daemon may be down) with an offline HostContext that offers
  // node(), peer(), role()/epoch()/fenced() (from the node's state file),
  // log() (stderr), state() (a copy: writes are discarded), store_dir(), and
  // io() (a loop of its own); metrics(), notify_peer() and request_sync() do
  // nothing and post_blocking() runs inline. No dependency on start().
  // Handlers run like the calls above (off the loop, one at a time) and only
  // while this plugin exists.
  virtual std::vector<Diagnostic> diagnostics() { return {}; }
  // Operator-triggered operations (POST /v1/stores/<name>/actions/<action>), as rows.
  virtual std::vector<Action> actions() { return {}; }

  // Run the row of that name; ErrorCode::not_found, naming the rows there
  // are, for any other name. Not virtual: the rows are the interface.
  Result<DiagnosticResult> diagnose(const std::string& check, const std::vector<std::string>& args) {
    return detail::run_row(diagnostics(), "diagnostic", check, args);
  }
  Result<nlohmann::json> run_action(const std::string& action, const nlohmann::json& args) {
    return detail::run_row(actions(), "action", action, args);
  }

  // A message the same store on the peer sent with HostContext::notify_peer.
  virtual void on_peer_event(const nlohmann::json& event) { (void)event; }
};

// The whole schema of a store table of this plugin: its own keys plus the
// host's sync_interval (from info()). The host validates against it; tests
// build StoreConfig::from_json with it so they see what the daemon sees.
inline ConfigSchema store_schema(const Plugin& plugin) {
  ConfigSchema out = plugin.schema();
  PluginInfo info = plugin.info();
  if (!info.default_sync_interval.empty())
    out.push_back(sync_interval_key(info.default_sync_interval, info.min_sync_interval));
  return out;
}

}  // namespace tandem::sdk
