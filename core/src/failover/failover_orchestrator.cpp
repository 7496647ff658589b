#include "failover/failover_orchestrator.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <future>

#include "tandem/sdk/exit_now.h"

namespace tandem::core {
namespace {

std::string make_id(const std::string& kind) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf) + "-" + kind;
}

// The role a hook is told: a fenced primary is "fenced".
std::string role_name(const NodeStateValues& v) { return v.fenced ? "fenced" : std::string(sdk::to_string(v.role)); }

sdk::FailoverKind kind_of(const std::string& kind) {
  if (kind == "switchover") return sdk::FailoverKind::switchover;
  if (kind == "rejoin") return sdk::FailoverKind::rejoin;
  return sdk::FailoverKind::failover;
}

// While a promote or switchover runs, the stores start no sync and end the
// one in progress (FailoverStores::hold_syncs).
class SyncHold {
 public:
  SyncHold(FailoverStores& stores, bool hold) : stores_(hold ? &stores : nullptr) {
    if (stores_) stores_->hold_syncs();
  }
  ~SyncHold() {
    if (stores_) stores_->release_syncs();
  }
  SyncHold(const SyncHold&) = delete;
  SyncHold& operator=(const SyncHold&) = delete;

 private:
  FailoverStores* stores_;
};

}  // namespace

void fault_point(const std::string& when, const std::string& step) {
#ifdef TANDEM_FAULT_INJECTION
  const char* spec = std::getenv("TANDEM_FAULT_INJECT");
  // As a crash would: not _exit(), whose ThreadSanitizer interceptor reports
  // the threads the process would have joined later (a finished rebuild
  // thread of elasticsearch-rebuild) as leaked.
  if (spec && when + ":" + step == spec) sdk::exit_now(86);
#else
  (void)when;
  (void)step;
#endif
}

FailoverOrchestrator::FailoverOrchestrator(std::filesystem::path data_dir, NodeState& state, FailoverStores& stores,
                                           FailoverPeer& peer, sdk::Logger& log, const MaintenanceState* maintenance,
                                           HookRunner* hooks)
    : journal_(std::move(data_dir)),
      state_(state),
      stores_(stores),
      peer_(peer),
      log_(log),
      maintenance_(maintenance),
      hooks_(hooks) {}

std::map<std::string, std::string> FailoverOrchestrator::hook_env(const JournalEntry& entry) const {
  return {{"TANDEM_FAILOVER_ID", entry.id},
          {"TANDEM_FAILOVER_KIND", entry.kind},
          {"TANDEM_EPOCH", std::to_string(entry.new_epoch)},
          {"TANDEM_OLD_EPOCH", std::to_string(entry.old_epoch)}};
}

void FailoverOrchestrator::fire_hook(HookEvent event) {
  if (!hooks_) return;
  std::string name = event.event;
  if (auto future = hooks_->fire(std::move(event))) pending_hooks_.emplace_back(name, *future);
}

std::string FailoverOrchestrator::pre_promote_veto(const std::string& kind, const FailoverOptions& options,
                                                   const JournalEntry& entry) {
  if (!hooks_ || !hooks_->has("pre_promote")) return "";
  auto env = hook_env(entry);
  env["TANDEM_DRY_RUN"] = options.dry_run ? "1" : "0";
  env["TANDEM_FORCE"] = options.force ? "1" : "0";
  auto outcome = hooks_->run(HookEvent{"pre_promote", role_name(state_.get()), env, ""});
  if (!outcome) return "";
  hook_results_.push_back(outcome->to_json());
  if (outcome->ok()) return "";
  std::string why = outcome->result == "timed out" ? "it did not answer in time (" + outcome->summary + ")"
                    : outcome->first_line.empty()  ? outcome->summary
                                                   : outcome->first_line;
  return "the pre_promote hook vetoed the " + kind + ": " + why;
}

std::string FailoverOrchestrator::paused_refusal(const PeerView& peer) const {
  auto with_reason = [](const std::string& reason) { return reason.empty() ? std::string() : " (" + reason + ")"; };
  if (maintenance_) {
    auto m = maintenance_->get();
    if (m.paused)
      return "this node is paused (maintenance mode since " + m.since + with_reason(m.reason) +
             "): run `tandemctl resume` first, or --force to go ahead anyway";
  }
  if (peer.reachable && peer.paused)
    return "the peer is paused (maintenance mode" + with_reason(peer.paused_reason) +
           "): run `tandemctl resume` on it first, or --force to go ahead anyway";
  return "";
}

std::vector<FailoverStore> FailoverOrchestrator::ordered_stores() const {
  auto list = stores_.stores();
  std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  return list;
}

nlohmann::json FailoverOrchestrator::promote(const FailoverOptions& o) { return run("promote", o); }
nlohmann::json FailoverOrchestrator::switchover(const FailoverOptions& o) { return run("switchover", o); }
nlohmann::json FailoverOrchestrator::rejoin(const FailoverOptions& o) { return run("rejoin", o); }

std::vector<JournalStep> FailoverOrchestrator::plan_steps(const std::string& kind) const {
  std::vector<JournalStep> steps;
  auto add = [&](std::string name, std::string store, std::string action) {
    JournalStep s;
    s.name = std::move(name);
    s.store = std::move(store);
    s.action = std::move(action);
    steps.push_back(std::move(s));
  };
  auto stores = ordered_stores();
  if (kind == "rejoin") {
    for (auto& s : stores) add("rejoin:" + s.name, s.name, "rejoin");
    add("role", "", "role");
    return steps;
  }
  if (kind == "switchover") add("peer-demote", "", "peer-demote");
  if (leader_key_move_) add("leader-key", "", "leader-key");
  add("epoch", "", "epoch");
  for (auto& s : stores) add("promote:" + s.name, s.name, "promote");
  add("role", "", "role");
  if (kind == "switchover") add("peer-rejoin", "", "peer-rejoin");
  return steps;
}

std::future<FailoverOrchestrator::PrepareResults> FailoverOrchestrator::start_prepares(
    const sdk::FailoverRequest& req) {
  std::vector<std::pair<std::string, std::future<sdk::Result<sdk::PrepareReport>>>> running;
  for (auto& s : ordered_stores())
    running.emplace_back(s.name, std::async(std::launch::async, [this, name = s.name, req] {
                           auto r = sdk::Result<sdk::PrepareReport>::failure("not run");
                           try {
                             stores_.call(name, [&](sdk::Plugin& p) { r = p.prepare(req); });
                           } catch (const std::exception& e) {  // the store is shutting down
                             r = sdk::Result<sdk::PrepareReport>::failure(e.what());
                           }
                           return r;
                         }));
  // Deferred: get() collects on the caller's thread. Dropped unread, the
  // futures above still wait for their prepares (nothing outlives them).
  return std::async(std::launch::deferred, [running = std::move(running)]() mutable {
    PrepareResults out;
    for (auto& [name, f] : running) out.emplace_back(name, f.get());
    return out;
  });
}

FailoverOrchestrator::Precheck FailoverOrchestrator::precheck(const std::string& kind, const FailoverOptions& options,
                                                              JournalEntry& entry) {
  auto local = state_.get();
  // A promote's or switchover's prepares start before the peer is asked:
  // a silent peer takes the whole probe bound to answer, and so do their
  // probes of it. They are given the epoch this node's own state leads to;
  // should the peer's answer raise it, they run again with that one.
  sdk::FailoverRequest req{
      kind_of(kind),      std::max(local.epoch + 1, options.epoch), options.force, true, nlohmann::json::object(),
      peer_probe_timeout_};
  std::future<PrepareResults> prepared;
  if (kind != "rejoin") prepared = start_prepares(req);
  PeerView peer = peer_.status();
  Precheck out;
  nlohmann::json& plan = out.store_plans;
  std::vector<std::string> refusals;

  if (kind == "rejoin") {
    if (!peer.reachable) {
      refusals.push_back("the peer is not reachable (" + peer.error + "): rejoin needs the new primary up");
    } else if (peer.role != sdk::Role::primary) {
      refusals.push_back("the peer is not primary: nothing to rejoin to");
    } else if (peer.epoch < local.epoch ||
               (peer.epoch == local.epoch && local.role == sdk::Role::primary && !local.fenced)) {
      refusals.push_back("this node is at epoch " + std::to_string(local.epoch) + " and the peer at " +
                         std::to_string(peer.epoch) + ": this node is not a former primary that needs rejoining");
    }
    entry.new_epoch = peer.epoch;
  } else {
    if (auto paused = paused_refusal(peer); !paused.empty()) {
      if (!options.force)
        refusals.push_back(paused);
      else if (!options.dry_run)
        log_.warn(kind + " forced through maintenance mode: " + paused);
    }
    if (kind == "switchover") {
      if (!peer.reachable)
        refusals.push_back(
            "the peer is not reachable (" + peer.error +
            "): a switchover needs the old primary up; use `tandemctl promote` for an unplanned failover");
      else if (peer.role != sdk::Role::primary)
        refusals.push_back("the peer is not primary: nothing to switch over from");
    } else if (peer.reachable && peer.role == sdk::Role::primary && !peer.fenced && peer.epoch >= local.epoch &&
               !options.force) {
      refusals.push_back("the peer answers as primary at epoch " + std::to_string(peer.epoch) +
                         ": use `tandemctl switchover` for a planned change, or --force if you are sure it no "
                         "longer serves (it will be fenced when it sees the new epoch)");
    }
    entry.new_epoch = std::max(std::max(local.epoch, peer.reachable ? peer.epoch : 0) + 1, options.epoch);
    // Not overridable: without etcd the step "leader-key" fails whatever --force says.
    if (leader_key_check_)
      if (auto ready = leader_key_check_(entry.new_epoch); !ready.ok())
        refusals.push_back("automatic failover: the leader key cannot move to this node at epoch " +
                           std::to_string(entry.new_epoch) + ": " + ready.message() +
                           (kind == "switchover" ? " (checked before the peer demotes)" : ""));
    if (auto veto = pre_promote_veto(kind, options, entry); !veto.empty()) {
      if (!options.force)
        refusals.push_back(veto);
      else if (!options.dry_run)
        log_.warn(kind + ": " + veto + " (overridden by --force)");
    }
    PrepareResults results = prepared.get();
    if (req.new_epoch != entry.new_epoch) {
      req.new_epoch = entry.new_epoch;
      results = start_prepares(req).get();
    }
    for (auto& [name, r] : results) {
      if (!r) {
        entry.loss[name] = {{"summary", "unknown: prepare failed: " + r.message()}};
        if (!options.force) refusals.push_back(name + ": prepare failed: " + r.message());
        continue;
      }
      entry.loss[name] = {{"summary", r->loss_summary.empty() ? "nothing" : r->loss_summary}, {"details", r->loss}};
      plan[name] = r->plan;
      if (!r->ready && !options.force) refusals.push_back(name + ": " + r->refusal);
    }
  }
  std::string refusal;
  for (auto& r : refusals) refusal += (refusal.empty() ? "" : "; ") + r;
  if (!refusal.empty()) out.verdict = sdk::Status::error(sdk::ErrorCode::refused, refusal);
  return out;
}

void FailoverOrchestrator::notify_role(sdk::Role role, std::uint64_t epoch) {
  for (auto& s : ordered_stores()) stores_.call(s.name, [&](sdk::Plugin& p) { p.on_role_change(role, epoch); });
}

bool FailoverOrchestrator::skips_unsupported(const std::string& store) const {
  for (const auto& s : stores_.stores())
    if (s.name == store) return s.nothing_to_fail_over;
  return false;
}

// Fenced while the operation ran (e.g. automatic mode's self-fence after the
// lease could not be renewed during a slow promote): promoting more stores or
// becoming an unfenced primary now could make a second writer. The node stays
// fenced; a rerun with --force, after the operator checked the peer and etcd
// (in automatic mode the peer may have taken over), finishes the operation.
sdk::Status FailoverOrchestrator::fenced_since_start(const JournalEntry& entry) const {
  if (entry.kind == "rejoin") return {};
  auto v = state_.get();
  if (!v.fenced || (entry.fenced_at_start && *entry.fenced_at_start == v.fenced_reason)) return {};
  return sdk::Status::failure("this node was fenced while the " + entry.kind + " ran (" + v.fenced_reason +
                              "): it does not become primary. Check the peer and etcd (in automatic mode the peer "
                              "may have taken over); to finish anyway, run `tandemctl " +
                              entry.kind + " --force`");
}

// The step's work; its failure is the returned Status. Exceptions (a state
// file that cannot be written) are caught by run_step, the edge.
sdk::Status FailoverOrchestrator::perform(JournalEntry& entry, JournalStep& step) {
  if (step.action == "epoch") {
    auto v = state_.get();
    step.changed = v.epoch != entry.new_epoch;
    step.summary = "epoch " + std::to_string(v.epoch) + " -> " + std::to_string(entry.new_epoch);
    v.epoch = entry.new_epoch;
    state_.set(v);
  } else if (step.action == "promote" || step.action == "rejoin") {
    if (auto fenced = fenced_since_start(entry); !fenced) return fenced;
    sdk::FailoverRequest req{kind_of(entry.kind), entry.new_epoch, entry.force, false,
                             entry.handoff.value(step.store, nlohmann::json::object())};
    sdk::Result<sdk::StepReport> r = sdk::Result<sdk::StepReport>::failure("not run");
    stores_.call(step.store, [&](sdk::Plugin& p) { r = step.action == "promote" ? p.promote(req) : p.rejoin(req); });
    if (!r && r.code() == sdk::ErrorCode::not_supported && skips_unsupported(step.store))
      r = sdk::StepReport{false, "skipped: " + r.message() + " (the store has nothing to fail over)",
                          nlohmann::json::object()};
    if (!r) return r.status();
    step.changed = r->changed;
    step.summary = r->summary;
    step.details = r->details;
  } else if (step.action == "role") {
    auto v = state_.get();
    if (auto fenced = fenced_since_start(entry); !fenced) return fenced;
    std::string old_role = role_name(v);
    sdk::Role role = entry.kind == "rejoin" ? sdk::Role::secondary : sdk::Role::primary;
    step.changed = v.role != role || v.fenced || v.epoch != entry.new_epoch;
    v.role = role;
    v.epoch = entry.new_epoch;
    v.fenced = false;
    v.fenced_reason.clear();
    state_.set(v);
    step.summary = std::string("role ") + std::string(sdk::to_string(role)) + " at epoch " + std::to_string(v.epoch);
    notify_role(role, v.epoch);
    if (old_role != role_name(v)) {
      auto env = hook_env(entry);
      env["TANDEM_OLD_ROLE"] = old_role;
      env["TANDEM_NEW_ROLE"] = role_name(v);
      fire_hook(HookEvent{"on_role_change", role_name(v), env, ""});
    }
  } else if (step.action == "peer-demote") {
    auto r = peer_.demote(entry.new_epoch);
    if (!r) return r.status().prefixed("peer demote");
    entry.handoff = *r;
    step.changed = true;
    step.summary = "peer demoted its stores";
    step.details = *r;
  } else if (step.action == "leader-key") {
    // Before this node's epoch moves, etcd's does (so a restart at the new
    // epoch finds etcd agreeing); in a switchover after the peer demoted, so
    // nothing renews the key for it any more.
    if (!leader_key_move_)
      return sdk::Status::error(sdk::ErrorCode::invalid_config,
                                "this " + entry.kind +
                                    " was journaled in automatic mode; [failover] mode is no longer "
                                    "\"automatic\"");
    if (auto moved = leader_key_move_(entry.new_epoch); !moved.ok()) return moved.prefixed("leader key");
    step.changed = true;
    step.summary = "leader key and etcd's epoch moved to this node at epoch " + std::to_string(entry.new_epoch);
  } else if (step.action == "peer-rejoin") {
    auto r = peer_.rejoin();
    if (!r) return r.status().prefixed("peer rejoin");
    step.changed = true;
    step.summary = "peer rejoined as secondary";
    step.details = *r;
  } else {
    return sdk::Status::error(sdk::ErrorCode::internal, "unknown step action '" + step.action + "'");
  }
  return {};
}

void FailoverOrchestrator::run_step(JournalEntry& entry, JournalStep& step) {
  fault_point("before", step.name);
  step.status = StepStatus::running;
  step.started_ms = now_ms();
  step.error.clear();
  journal_.save(entry);
  log_.info(entry.kind + ": step " + step.name + " starting");
  try {
    if (auto done = perform(entry, step); done.ok()) {
      step.status = StepStatus::done;
    } else {
      step.status = StepStatus::failed;
      step.error = done.message();
    }
  } catch (const std::exception& e) {
    step.status = StepStatus::failed;
    step.error = e.what();
  }
  step.finished_ms = now_ms();
  journal_.save(entry);
  log_.log(step.status == StepStatus::done ? sdk::LogLevel::info : sdk::LogLevel::error,
           entry.kind + ": step " + step.name +
               (step.status == StepStatus::done ? " done: " + step.summary : " FAILED: " + step.error));
  fault_point("after", step.name);
}

nlohmann::json FailoverOrchestrator::make_report(const JournalEntry& entry, const std::string& result,
                                                 const std::string& reason) const {
  nlohmann::json steps = nlohmann::json::array();
  std::int64_t writable_at = 0, finished = entry.started_ms;
  std::map<std::string, int> order;
  for (auto& s : stores_.stores()) order[s.name] = s.order;
  for (const auto& s : entry.steps) {
    steps.push_back({{"name", s.name},
                     {"store", s.store},
                     {"action", s.action},
                     {"status", std::string(to_string(s.status))},
                     {"duration_ms", s.finished_ms > s.started_ms ? s.finished_ms - s.started_ms : 0},
                     {"changed", s.changed},
                     {"summary", s.summary},
                     {"error", s.error}});
    finished = std::max(finished, s.finished_ms);
    if (s.status == StepStatus::done && s.action == "promote" && order[s.store] < sdk::kOrderDerivedIndex)
      writable_at = std::max(writable_at, s.finished_ms);
  }
  nlohmann::json report = {{"id", entry.id},
                           {"kind", entry.kind},
                           {"result", result},
                           {"reason", reason},
                           {"old_epoch", entry.old_epoch},
                           {"new_epoch", entry.new_epoch},
                           {"started_at_ms", entry.started_ms},
                           {"precheck_ms", entry.precheck_ms},
                           {"loss", entry.loss},
                           {"steps", steps},
                           {"hooks", hook_results_},
                           {"total_ms", finished - entry.started_ms}};
  report["time_to_writable_ms"] =
      writable_at ? nlohmann::json(writable_at - entry.started_ms) : nlohmann::json(nullptr);
  return report;
}

nlohmann::json FailoverOrchestrator::conclude(const JournalEntry& entry, const std::string& result,
                                              const std::string& reason) {
  auto env = hook_env(entry);
  env["TANDEM_SUCCESS"] = result == "succeeded" ? "1" : "0";
  std::string role = role_name(state_.get());
  fire_hook(HookEvent{entry.kind == "rejoin" ? "on_rejoin" : "on_promote", role, env, ""});
  if (!pending_hooks_.empty()) {
    // Each hook is bounded by its own timeout, so this wait is too; it comes
    // after every step, so it never delays one.
    auto deadline = std::chrono::steady_clock::now() + hooks_->longest_timeout() + std::chrono::seconds(2);
    for (auto& o : collect_hook_outcomes(pending_hooks_, deadline)) hook_results_.push_back(std::move(o));
  }
  auto report = make_report(entry, result, reason);
  if (result == "succeeded") journal_.finish(report);
  if (hooks_) {
    env["TANDEM_RESULT"] = result;
    // Its own outcome cannot be in the report it reads: it is logged.
    (void)hooks_->fire(HookEvent{"on_failover_report", role, env, report.dump()});
  }
  return report;
}

nlohmann::json FailoverOrchestrator::run(const std::string& kind, const FailoverOptions& options) {
  std::lock_guard lock(run_mu_);
  // Before anything waits on a store: a promote's prechecks and steps queue
  // on each store's executor behind its sync, which may be a pull from the
  // silent peer for as long as that store's own timeout.
  SyncHold hold(stores_, kind != "rejoin" && !options.dry_run && refuse_all_.empty());
  pending_hooks_.clear();
  hook_results_ = nlohmann::json::array();
  JournalEntry entry;
  if (!refuse_all_.empty()) {
    entry.id = make_id(kind);
    entry.kind = kind;
    entry.old_epoch = entry.new_epoch = state_.get().epoch;
    return make_report(entry, "refused", refuse_all_);
  }
  if (auto existing = journal_.current()) {
    if (existing->kind != kind) {
      entry = *existing;
      return make_report(entry, "refused",
                         "an unfinished " + existing->kind + " (" + existing->id +
                             ") is in the journal: run `tandemctl " + existing->kind + "` again to finish it first");
    }
    entry = *existing;
    if (options.dry_run)
      return make_report(entry, "dry-run", "resuming " + entry.id + " would run its unfinished steps");
    log_.warn(kind + ": resuming " + entry.id + " from the journal");
    // --force on the rerun: the operator has seen the fence set during the
    // first run and finishes the operation anyway (its role step lifts it).
    if (auto local = state_.get(); options.force && local.fenced && !options.dry_run) {
      entry.fenced_at_start = local.fenced_reason;
      log_.warn(kind + " forced: the role step will lift the fence (" + local.fenced_reason + ")");
    }
  } else {
    auto local = state_.get();
    entry.id = make_id(kind);
    entry.kind = kind;
    entry.force = options.force;
    entry.old_epoch = local.epoch;
    entry.started_ms = now_ms();
    if (local.fenced) entry.fenced_at_start = local.fenced_reason;
    if (kind != "rejoin" && local.role == sdk::Role::primary && !local.fenced) {
      entry.new_epoch = local.epoch;
      return make_report(entry, "succeeded", "this node is already primary at epoch " + std::to_string(local.epoch));
    }
    if (kind == "rejoin" && local.role == sdk::Role::secondary && !local.fenced) {
      PeerView peer = peer_.status();
      if (peer.reachable && peer.role == sdk::Role::primary && peer.epoch == local.epoch) {
        entry.new_epoch = local.epoch;
        return make_report(
            entry, "succeeded",
            "this node already follows the primary at epoch " + std::to_string(local.epoch) + ": nothing to do");
      }
    }
    Precheck checked = precheck(kind, options, entry);
    entry.precheck_ms = now_ms() - entry.started_ms;
    entry.steps = plan_steps(kind);
    auto report_plan = [&](nlohmann::json report) {
      nlohmann::json p = nlohmann::json::array();
      for (auto& s : entry.steps) p.push_back(s.name);
      report["plan"] = p;
      report["store_plans"] = checked.store_plans;
      return report;
    };
    if (!checked.verdict.ok()) return report_plan(make_report(entry, "refused", checked.verdict.message()));
    if (options.dry_run) return report_plan(make_report(entry, "dry-run", "nothing was changed"));
    journal_.save(entry);
  }
  for (auto& step : entry.steps) {
    if (step.status == StepStatus::done) continue;
    run_step(entry, step);
    if (step.status != StepStatus::done)
      return conclude(entry, "failed",
                      "step " + step.name + " failed: " + step.error + ". Fix the cause and run `tandemctl " + kind +
                          "` again: finished steps are not repeated");
  }
  return conclude(entry, "succeeded", "");
}

sdk::Result<nlohmann::json> FailoverOrchestrator::demote_for_peer(std::uint64_t new_epoch) {
  std::lock_guard lock(run_mu_);
  if (!refuse_all_.empty()) return sdk::Result<nlohmann::json>::error(sdk::ErrorCode::refused, refuse_all_);
  // As for a promote: the role turns secondary only once every store has
  // demoted, and a sync in between still sees a primary; one of a store
  // already demoted could act as one again (a search store's pending
  // start-up check launching a rebuild after its demote cancelled any).
  SyncHold hold(stores_, true);
  auto stores = ordered_stores();
  std::reverse(stores.begin(), stores.end());
  nlohmann::json handoff = nlohmann::json::object();
  sdk::FailoverRequest req{sdk::FailoverKind::switchover, new_epoch, false, false, nlohmann::json::object()};
  auto old = state_.get();
  // The old primary's hooks: fired, not waited for (the peer's report is where the switchover is told).
  auto fire = [&](bool ok, const std::string& error) {
    if (!hooks_) return;
    auto now = state_.get();
    std::map<std::string, std::string> env = {{"TANDEM_EPOCH", std::to_string(new_epoch)},
                                              {"TANDEM_OLD_EPOCH", std::to_string(old.epoch)},
                                              {"TANDEM_SUCCESS", ok ? "1" : "0"}};
    if (!error.empty()) env["TANDEM_ERROR"] = error;
    if (role_name(old) != role_name(now)) {
      auto change = env;
      change["TANDEM_OLD_ROLE"] = role_name(old);
      change["TANDEM_NEW_ROLE"] = role_name(now);
      (void)hooks_->fire(HookEvent{"on_role_change", role_name(now), change, ""});
    }
    (void)hooks_->fire(HookEvent{"on_demote", role_name(now), env, ""});
  };
  for (auto& s : stores) {
    fault_point("before", "demote:" + s.name);
    sdk::Result<sdk::StepReport> r = sdk::Result<sdk::StepReport>::failure("not run");
    stores_.call(s.name, [&](sdk::Plugin& p) { r = p.demote(req); });
    if (!r && r.code() == sdk::ErrorCode::not_supported && s.nothing_to_fail_over)
      r = sdk::StepReport{false, "skipped: " + r.message() + " (the store has nothing to fail over)",
                          nlohmann::json::object()};
    if (!r) {
      fire(false, s.name + ": demote failed: " + r.message());
      return sdk::Result<nlohmann::json>::failure(s.name + ": demote failed: " + r.message());
    }
    log_.info("switchover: demoted " + s.name + ": " + r->summary);
    handoff[s.name] = r->details;
  }
  // Persisted at once so a restart never comes back as primary. The stores
  // hear of the new role only at rejoin: until then a demoted store may still
  // serve what the new primary needs for its final catch-up (config-rsync's
  // read-only daemon does).
  auto v = state_.get();
  if (v.role != sdk::Role::secondary) {
    v.role = sdk::Role::secondary;
    state_.set(v);
  }
  fire(true, "");
  return handoff;
}

}  // namespace tandem::core
