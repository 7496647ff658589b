// Promote, switchover and rejoin across all stores of a node (DESIGN.md §6).
//
// The orchestrator owns the order of steps, the journal and the report; the
// stores' own steps are the plugins' (idempotent) prepare/promote/demote/
// rejoin, run on each store's serial executor through FailoverStores.
//
// Guarantees:
//  - Nothing changes before every store's prepare() passed (or --force).
//  - promote refuses while the peer answers as primary at an epoch >= ours,
//    unless forced; a forced promote still bumps the epoch, so the old
//    primary fences itself as soon as it sees us.
//  - Every step is journaled before and after it runs; rerunning the same
//    command after a crash skips finished steps and reruns the interrupted one.
//  - The epoch is bumped and persisted before any store is promoted.
//  - A promote or switchover waits for no store's sync: none starts while it
//    runs, the one in progress is asked to end; every store's prepare runs
//    at once, its probes of the peer bounded by set_peer_probe_timeout().
//  - While either node is paused (maintenance mode), promote and switchover
//    are refused unless forced; rejoin, a repair, is not.
//  - [hooks]: a pre_promote hook may veto a promote/switchover (unless
//    forced); the other hooks are fired, never waited for by a step, and
//    their outcomes are collected into the report ("hooks") at the end.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "failover/failover_journal.h"
#include "hooks/hook_runner.h"
#include "state/maintenance_state.h"
#include "state/node_state.h"
#include "tandem/sdk/host_context.h"
#include "tandem/sdk/plugin.h"
#include "tandem/sdk/result.h"

namespace tandem::core {

struct FailoverStore {
  std::string name;
  std::string plugin;
  int order = 50;
  bool nothing_to_fail_over = false;  // PluginInfo::nothing_to_fail_over
};

// The daemon's stores as the orchestrator sees them.
class FailoverStores {
 public:
  virtual ~FailoverStores() = default;
  virtual std::vector<FailoverStore> stores() const = 0;
  // Run `fn` with the store's plugin on the store's executor (never
  // concurrently with its sync) and wait for it.
  virtual void call(const std::string& store, const std::function<void(sdk::Plugin&)>& fn) = 0;
  // A promote or switchover begins / ends: no store starts a sync meanwhile,
  // and the sync in progress is asked to end (StoreRunner::hold_syncs), so
  // the operation's steps wait for no pull from a silent peer. Nest; called
  // from the operation's thread. Default: nothing (stores without syncs).
  virtual void hold_syncs() {}
  virtual void release_syncs() {}
};

struct PeerView {
  bool reachable = false;
  sdk::Role role = sdk::Role::secondary;
  std::uint64_t epoch = 0;
  bool fenced = false;
  std::string error;          // why unreachable
  bool paused = false;        // the peer is in maintenance mode
  std::string paused_reason;  // its pause's reason, when given
};

// The peer's tandemd, over its HTTP API.
class FailoverPeer {
 public:
  virtual ~FailoverPeer() = default;
  virtual PeerView status() = 0;
  // The peer demotes its stores (planned switchover); returns {store: details}.
  virtual sdk::Result<nlohmann::json> demote(std::uint64_t new_epoch) = 0;
  // The peer rejoins as our secondary; returns its report.
  virtual sdk::Result<nlohmann::json> rejoin() = 0;
};

struct FailoverOptions {
  bool force = false;
  bool dry_run = false;
  // Promote at least at this epoch (automatic failover: the one it took on
  // etcd with the leader key); 0: the next one after both nodes'.
  std::uint64_t epoch = 0;
};

class FailoverOrchestrator {
 public:
  // maintenance: this node's pause (nullptr: never paused); hooks: the
  // operator's [hooks] (nullptr: none).
  FailoverOrchestrator(std::filesystem::path data_dir, NodeState& state, FailoverStores& stores, FailoverPeer& peer,
                       sdk::Logger& log, const MaintenanceState* maintenance = nullptr, HookRunner* hooks = nullptr);

  // Each returns the report (also kept in history unless refused/dry-run):
  // {"id","kind","result":"succeeded|failed|refused|dry-run","reason","old_epoch","new_epoch",
  //  "plan":[...],"loss":{store:{...}},"steps":[...],"time_to_writable_ms","total_ms"}.
  nlohmann::json promote(const FailoverOptions& options);     // unplanned, on the secondary
  nlohmann::json switchover(const FailoverOptions& options);  // planned, on the secondary
  nlohmann::json rejoin(const FailoverOptions& options);      // on the former primary
  // The old primary's half of a switchover, invoked by the peer: demote every
  // store (reverse order), become secondary. Returns {store: demote details}.
  sdk::Result<nlohmann::json> demote_for_peer(std::uint64_t new_epoch);

  // Automatic failover: a promote or switchover moves the leader key on etcd
  // to this node with the new epoch (one transaction), in a step "leader-key"
  // before the epoch is bumped here (in a switchover, after the peer
  // demoted). Unset: no such step.
  // `check`, asked in the precheck of each promote and switchover: whether
  // the key could move now (etcd answers, its epoch is below new_epoch), so
  // that a switchover is refused before the peer demotes rather than failing
  // at the step "leader-key" with both nodes secondary.
  using LeaderKeyMove = std::function<sdk::Status(std::uint64_t new_epoch)>;
  void set_leader_key_move(LeaderKeyMove move, LeaderKeyMove check) {
    leader_key_move_ = std::move(move);
    leader_key_check_ = std::move(check);
  }

  // [failover] peer_probe_timeout: each store's prepare is told it
  // (FailoverRequest::peer_timeout) as the bound of its probes of the peer.
  void set_peer_probe_timeout(std::chrono::milliseconds bound) { peer_probe_timeout_ = bound; }

  // A node that must never take part in a failover (a test instance):
  // promote, switchover, rejoin and the peer's demote are refused with `reason`.
  void refuse_every_operation(std::string reason) { refuse_all_ = std::move(reason); }

  std::vector<nlohmann::json> history() const { return journal_.history(); }
  std::optional<JournalEntry> in_progress() const { return journal_.current(); }

 private:
  nlohmann::json run(const std::string& kind, const FailoverOptions& options);
  // What prepare() said per store, and the verdict: success, or ErrorCode::refused
  // with every reason ("; "-joined). The plan is shown with a refusal too.
  struct Precheck {
    nlohmann::json store_plans = nlohmann::json::object();
    sdk::Status verdict;
  };
  Precheck precheck(const std::string& kind, const FailoverOptions& options, JournalEntry& entry);
  using PrepareResults = std::vector<std::pair<std::string, sdk::Result<sdk::PrepareReport>>>;
  // Starts every store's prepare(req) at once, each on its store's executor
  // (a silent peer costs one probe bound, not one per store); get() waits
  // for all of them and gives their answers in the stores' order.
  std::future<PrepareResults> start_prepares(const sdk::FailoverRequest& req);
  std::vector<JournalStep> plan_steps(const std::string& kind) const;
  sdk::Status perform(JournalEntry& entry, JournalStep& step);
  // True when `store` declared nothing_to_fail_over: a not_supported step is skipped.
  bool skips_unsupported(const std::string& store) const;
  sdk::Status fenced_since_start(const JournalEntry& entry) const;
  void run_step(JournalEntry& entry, JournalStep& step);
  nlohmann::json make_report(const JournalEntry& entry, const std::string& result, const std::string& reason) const;
  std::vector<FailoverStore> ordered_stores() const;
  void notify_role(sdk::Role role, std::uint64_t epoch);
  // Why a promote/switchover must wait for `tandemctl resume`; "" when neither node is paused.
  std::string paused_refusal(const PeerView& peer) const;
  // Runs pre_promote (if configured); its veto, or "" when it allowed (or there is none).
  std::string pre_promote_veto(const std::string& kind, const FailoverOptions& options, const JournalEntry& entry);
  // Queue a hook; its outcome goes into this operation's report.
  void fire_hook(HookEvent event);
  std::map<std::string, std::string> hook_env(const JournalEntry& entry) const;
  // The end of an operation that ran steps: on_promote/on_rejoin, the hooks'
  // outcomes, the report (kept in history when it succeeded), on_failover_report.
  nlohmann::json conclude(const JournalEntry& entry, const std::string& result, const std::string& reason);

  FailoverJournal journal_;
  NodeState& state_;
  FailoverStores& stores_;
  FailoverPeer& peer_;
  sdk::Logger& log_;
  const MaintenanceState* maintenance_;
  HookRunner* hooks_;
  // This operation's hooks (under run_mu_): fired and not yet collected, and outcomes.
  std::vector<std::pair<std::string, std::shared_future<HookOutcome>>> pending_hooks_;
  nlohmann::json hook_results_ = nlohmann::json::array();
  std::mutex run_mu_;       // one failover operation at a time on this node
  std::string refuse_all_;  // non-empty: every operation is refused with it
  LeaderKeyMove leader_key_move_;
  LeaderKeyMove leader_key_check_;
  std::chrono::milliseconds peer_probe_timeout_ = sdk::FailoverRequest{}.peer_timeout;
};

// Test builds only: TANDEM_FAULT_INJECT="before:<step>" or "after:<step>"
// makes the process exit abruptly (sdk::exit_now(86)) at that point, as a crash would.
void fault_point(const std::string& when, const std::string& step);

}  // namespace tandem::core
