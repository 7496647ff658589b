// Lifecycle, triggers (promote, start-up, by hand) and the rebuild thread.
// Health and diagnostics live in es_rebuild_health.cpp.
#include "es_rebuild_plugin.h"

#include <algorithm>

#include "es_api.h"
#include "tandem/sdk/file_util.h"

namespace tandem::esrebuild {

using json = nlohmann::json;

EsRebuildPlugin::~EsRebuildPlugin() {
  stop_warm_loop();
  cancel_and_join();
}

sdk::PluginInfo EsRebuildPlugin::info() const {
  // Name, version and description: the TANDEM_PLUGIN line in export.cpp.
  return {.failover_order = sdk::kOrderDerivedIndex, .default_sync_interval = "30s", .min_sync_interval = "1s"};
}

sdk::Status EsRebuildPlugin::configure(const sdk::StoreConfig& config, sdk::HostContext& host) {
  TANDEM_TRY_ASSIGN(config_, parse_es_rebuild_config(config));
  host_ = &host;
  host.metrics().describe("elasticsearch_rebuild_rows_done", "Rows of the running rebuild sent and acknowledged");
  host.metrics().describe("elasticsearch_rebuild_rows_total", "Source rows of the running rebuild");
  host.metrics().describe("elasticsearch_rebuild_rate", "Documents per second of the running rebuild");
  host.metrics().describe("elasticsearch_rebuild_drift", "Documents behind the alias minus source rows");
  return {};
}

std::shared_ptr<const EsTarget> EsRebuildPlugin::make_target() const {
  auto t = std::make_shared<EsTarget>();
  t->endpoints = config_.endpoints;
  t->authorization = authorization_header(config_);
  t->timeout = config_.request_timeout;
  t->interrupted = &interrupted_;
  return t;
}

std::string EsRebuildPlugin::source_password() const {
  return config_.source_password_file ? sdk::read_secret_file(*config_.source_password_file) : std::string();
}

sdk::Status EsRebuildPlugin::start() {
  interrupted_ = false;
  {
    std::lock_guard lock(mu_);
    started_ = true;
    // The start-up check is the primary's (README, Triggers): pending on a
    // secondary, the first sync after a later promotion would run it and
    // rebuild a missing alias although rebuild_on_promote said no.
    startup_check_pending_ =
        config_.rebuild_on_start_if_missing && host_->role() == sdk::Role::primary && !host_->fenced();
  }
  if (config_.warm_standby && host_->role() == sdk::Role::primary && !host_->fenced()) {
    // A catch-up a crash interrupted goes on from its marks.
    if (auto resumed = resume_catch_up(host_->epoch()); resumed && !resumed->ok())
      host_->log().warn("warm catch-up not resumed: " + resumed->message());
  }
  if (config_.warm_standby) {
    std::lock_guard lock(mu_);
    for (auto& spec : config_.indices)
      if (auto m = load_warm_mark(host_->state(), spec.alias)) warm_marks_[spec.alias] = *m;
  }
  if (config_.warm_standby) warm_thread_ = std::thread([this] { warm_loop(); });
  if (config_.rebuild_on_start_if_missing && host_->role() == sdk::Role::primary && !host_->fenced()) {
    auto r = launch({.reason = "start-up: alias missing", .only_if_missing = true, .epoch = host_->epoch()});
    if (!r.ok()) host_->log().warn("start-up alias check not started: " + r.message());
  }
  host_->request_sync();
  return {};
}

void EsRebuildPlugin::stop() {
  {
    // First, so that a sync or promote still running on another thread
    // cannot launch a rebuild after the join below: that thread would
    // outlive the store (found by TSan as a thread never joined).
    std::lock_guard lock(mu_);
    started_ = false;
  }
  stop_warm_loop();
  cancel_and_join();
}

// A sync (or a promote's alias check) may wait request_timeout on a silent
// Elasticsearch, longer than the host's stop grace: ending the requests in
// flight lets it return, so stop() runs and joins the rebuild thread.
void EsRebuildPlugin::interrupt() {
  interrupted_ = true;
  cancel_ = true;
}

void EsRebuildPlugin::cancel_warm_job() {
  bool warm_job;
  {
    std::lock_guard lock(mu_);
    warm_job = running_ && job_ != Job::rebuild;
  }
  if (warm_job) cancel_and_join();
}

void EsRebuildPlugin::cancel_and_join() {
  // worker_ is joined and replaced from two threads (the warm timer's
  // launch() and the store executor's promote/demote/actions).
  std::lock_guard worker_lock(worker_mu_);
  cancel_ = true;
  if (worker_.joinable()) worker_.join();
  cancel_ = false;
}

bool EsRebuildPlugin::rebuilding() const {
  std::lock_guard lock(mu_);
  return running_;
}

sdk::Result<json> EsRebuildPlugin::launch(Launch what) {
  std::lock_guard worker_lock(worker_mu_);  // before mu_, as in cancel_and_join
  std::lock_guard lock(mu_);
  if (interrupted_.load() || !started_)
    return sdk::Result<json>::error(sdk::ErrorCode::refused, "the store is stopping: no rebuild started");
  // Checked again here: the warm timer's check ran before it waited for the
  // locks, and a promote may have begun meanwhile.
  if (what.job == Job::warm && !warm_here())
    return sdk::Result<json>::error(sdk::ErrorCode::refused, "no warm round: this node is not a warm secondary now");
  if (running_)
    return sdk::Result<json>::failure("a rebuild is already running (" + progress_line() +
                                      "); only one runs at a time: wait for it, or run the 'cancel' action");
  for (auto& alias : what.aliases)
    if (std::none_of(config_.indices.begin(), config_.indices.end(),
                     [&](const IndexSpec& s) { return s.alias == alias; }))
      return sdk::Result<json>::failure("no index with alias '" + alias + "' in this store's [[indices]]");
  if (worker_.joinable()) worker_.join();  // the previous job has finished (running_ is false)
  running_ = true;
  job_ = what.job;
  full_running_ = what.job == Job::rebuild;
  progress_.reset();
  json started = {{"started", true}, {"reason", what.reason}, {"epoch", what.epoch}};
  json aliases = json::array();
  for (auto& s : config_.indices)
    if (what.aliases.empty() || std::count(what.aliases.begin(), what.aliases.end(), s.alias))
      aliases.push_back(s.alias);
  started["aliases"] = aliases;
  if (what.job == Job::rebuild) host_->metrics().set_gauge("elasticsearch_rebuild_running", 1);
  worker_ = std::thread([this, what = std::move(what)] { rebuild_job(what); });
  return started;
}

void EsRebuildPlugin::on_progress(const RebuildProgress& p) {
  {
    std::lock_guard lock(mu_);
    progress_ = p;
  }
  sdk::MetricLabels labels{{"alias", p.alias}};
  auto& m = host_->metrics();
  m.set_gauge("elasticsearch_rebuild_rows_done", static_cast<double>(p.done), labels);
  m.set_gauge("elasticsearch_rebuild_rows_total", static_cast<double>(p.total), labels);
  m.set_gauge("elasticsearch_rebuild_rate", p.rate, labels);
  m.set_gauge("elasticsearch_rebuild_eta_seconds", p.eta_seconds, labels);
}

std::optional<RebuildOutcome> EsRebuildPlugin::full_rebuild(const IndexSpec& spec,
                                                            const std::shared_ptr<const EsTarget>& target,
                                                            const std::string& password, std::uint64_t epoch,
                                                            JobTally& tally) {
  {
    std::lock_guard lock(mu_);
    full_running_ = true;
  }
  IndexRebuilder rebuilder(config_, spec, target, password, host_->state(), host_->log(), cancel_,
                           [this](const RebuildProgress& p) { on_progress(p); });
  std::optional<sdk::Result<RebuildOutcome>> outcome;
  try {
    outcome.emplace(rebuilder.run(epoch));
  } catch (const std::exception& e) {
    outcome.emplace(
        sdk::Result<RebuildOutcome>::failure(std::string("rebuild of ") + spec.alias + " failed: " + e.what()));
  }
  sdk::MetricLabels labels{{"alias", spec.alias}};
  if (!outcome->ok()) {
    tally.all_ok = false;
    if (tally.first_error.empty()) tally.first_error = outcome->message();
    host_->log().error(outcome->message());
    tally.results.push_back({{"alias", spec.alias}, {"result", "failed"}, {"error", outcome->message()}});
    host_->metrics().set_gauge("elasticsearch_rebuild_last_success", 0, labels);
    return std::nullopt;
  }
  auto& o = outcome->value();
  host_->log().info("rebuild of " + o.alias + " done: " + std::to_string(o.documents) + " documents in " + o.index +
                    " (" + std::to_string(static_cast<long long>(o.seconds)) + "s); alias swapped" +
                    (o.previous.empty() ? "" : " from " + o.previous.front()));
  tally.results.push_back({{"alias", o.alias},
                           {"result", "success"},
                           {"index", o.index},
                           {"documents", o.documents},
                           {"source_rows", o.source_rows},
                           {"item_errors", o.item_errors},
                           {"retries", o.retries},
                           {"previous", o.previous},
                           {"deleted", o.deleted},
                           {"duration_seconds", o.seconds}});
  host_->metrics().set_gauge("elasticsearch_rebuild_last_success", 1, labels);
  host_->metrics().set_gauge("elasticsearch_rebuild_last_duration_seconds", o.seconds, labels);
  host_->metrics().add_counter("elasticsearch_rebuild_retries_total", static_cast<double>(o.retries), labels);
  host_->metrics().add_counter("elasticsearch_rebuild_item_errors_total", static_cast<double>(o.item_errors), labels);
  return o;
}

void EsRebuildPlugin::rebuild_job(Launch what) {
  auto started_at = std::chrono::steady_clock::now();
  JobTally tally;
  std::shared_ptr<const EsTarget> target;
  std::string password;
  try {
    target = make_target();
    password = source_password();
  } catch (const std::exception& e) {
    tally.all_ok = false;
    tally.first_error = std::string("cannot read a secret file: ") + e.what();
  }
  bool startup_check_done = true;
  for (auto& spec : config_.indices) {
    if (!target || cancel_.load()) break;
    if (!what.aliases.empty() && !std::count(what.aliases.begin(), what.aliases.end(), spec.alias)) continue;
    if (what.job != Job::rebuild) {
      warm_index(spec, what, target, password, tally);
      continue;
    }
    if (what.only_if_missing) {
      EsApi api(target, kQuickRetry, cancel_);
      auto targets = api.alias_targets(spec.alias);
      if (!targets.ok()) {
        startup_check_done = false;  // Elasticsearch is not reachable yet: sync() retries the check
        host_->log().warn("cannot check alias " + spec.alias + " at start-up: " + targets.message());
        continue;
      }
      if (!targets->empty()) continue;
      host_->log().info("alias " + spec.alias + " is missing: rebuilding it");
    }
    auto done = full_rebuild(spec, target, password, what.epoch, tally);
    // A rebuild by hand on a warm secondary makes a new warm index.
    if (done && warm_here()) remember_warm_mark(spec.alias, done->mark);
  }
  // Before running_ turns false: launch() joins a finished job while holding
  // mu_, so nothing after that point may take mu_.
  if (what.job == Job::catch_up) finish_catch_up(what.epoch);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count();
  {
    std::lock_guard lock(mu_);
    if (what.only_if_missing) startup_check_pending_ = !startup_check_done;
    // A warm round that only upserted rows is no rebuild: last_rebuild keeps
    // describing full rebuilds (warm rounds are in details.warm).
    if (!tally.results.empty() || (!tally.all_ok && what.job == Job::rebuild)) {
      last_rebuild_ = {{"result", tally.all_ok ? "success" : (cancel_.load() ? "cancelled" : "failed")},
                       {"reason", what.reason},
                       {"epoch", what.epoch},
                       {"duration_seconds", seconds},
                       {"finished_at", std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()},
                       {"indices", tally.results}};
      if (!tally.all_ok) last_rebuild_["error"] = tally.first_error;
    }
    running_ = false;
    full_running_ = false;
    progress_.reset();
  }
  host_->metrics().set_gauge("elasticsearch_rebuild_running", 0);
  // Health is measured again after a rebuild; a warm round alone does not
  // need the source counted again (it counted its own snapshot).
  if (what.job != Job::warm || !tally.results.empty()) host_->request_sync();
}

sdk::Result<sdk::PrepareReport> EsRebuildPlugin::prepare(const sdk::FailoverRequest&) {
  sdk::PrepareReport r;
  r.ready = true;
  r.loss_summary = "nothing: the indices are derived from PostgreSQL and rebuilt from it";
  r.loss = {{"documents", 0}};
  std::string aliases;
  for (auto& s : config_.indices) aliases += (aliases.empty() ? "" : ", ") + s.alias;
  if (config_.warm_standby && config_.rebuild_on_promote) {
    std::lock_guard lock(mu_);
    if (warm_marks_.size() == config_.indices.size()) {
      double oldest = 0;
      for (auto& [_, m] : warm_marks_)
        oldest = std::max(oldest, static_cast<double>(wall_ms_now() - m.snapshot_at_ms) / 1000.0);
      r.plan = "catch up the warm indices " + aliases + " (the oldest is " +
               std::to_string(static_cast<long long>(oldest)) +
               " s behind the standby) in the background; searches keep working on them meanwhile";
      return r;
    }
  }
  r.plan = config_.rebuild_on_promote ? "rebuild " + aliases +
                                            " from PostgreSQL in the background (the node is writable meanwhile; "
                                            "searches keep the old index until each alias swaps)"
                                      : "nothing (rebuild_on_promote = false); run `tandemctl rebuild` by hand if the "
                                        "index must follow the new primary";
  return r;
}

sdk::Result<sdk::StepReport> EsRebuildPlugin::promote(const sdk::FailoverRequest& request) {
  if (!config_.rebuild_on_promote)
    return sdk::StepReport{false, "rebuild_on_promote = false: indices left as they are", json::object()};
  std::uint64_t epoch = request.new_epoch ? request.new_epoch : host_->epoch();
  if (config_.warm_standby) {
    warm_suspended_ = true;  // the role is still secondary while promote runs: no new warm round
    cancel_warm_job();
    if (auto resumed = resume_catch_up(epoch)) return std::move(*resumed);
    if (auto marks = warm_marks_serving()) return promote_warm(epoch, std::move(*marks));
    host_->log().info("no complete warm index on this node: rebuilding from scratch");
  }
  if (rebuilding()) {
    std::lock_guard lock(mu_);
    return sdk::StepReport{false, "a rebuild is already running (" + progress_line() + ")", {{"running", true}}};
  }
  // Idempotent: aliases already on an index built in this epoch need nothing.
  bool all_current = true;
  try {
    EsApi api(make_target(), kQuickRetry, interrupted_);
    for (auto& spec : config_.indices) {
      auto targets = api.alias_targets(spec.alias);
      bool current =
          targets.ok() && targets->size() == 1 &&
          rebuilt_index_suffix(spec.alias, targets->front()).rfind("e" + std::to_string(epoch) + "-", 0) == 0;
      all_current = all_current && current;
    }
  } catch (const std::exception&) {
    all_current = false;
  }
  if (all_current)
    return sdk::StepReport{false, "every alias already points at an index rebuilt in epoch " + std::to_string(epoch),
                           json::object()};
  auto started = launch({.reason = "promotion to epoch " + std::to_string(epoch), .epoch = epoch});
  if (!started.ok()) return sdk::Result<sdk::StepReport>::failure(started.message());
  return sdk::StepReport{true,
                         "rebuild started in the background for " + started->at("aliases").dump() +
                             "; follow it with `tandemctl rebuild STORE --follow` or `tandemctl status`",
                         *started};
}

sdk::Result<sdk::StepReport> EsRebuildPlugin::demote(const sdk::FailoverRequest&) {
  bool was = rebuilding();
  cancel_and_join();
  // The index was the primary's: it may hold what the standby never got.
  // The first warm round on this node, now a secondary, rebuilds it.
  if (config_.warm_standby) {
    forget_warm_marks();
    warm_suspended_ = false;
  }
  return sdk::StepReport{
      was,
      was ? "cancelled the running rebuild (this node stops being primary); the aliases were left untouched"
          : "nothing to do: no rebuild running",
      json::object()};
}

sdk::Result<sdk::StepReport> EsRebuildPlugin::rejoin(const sdk::FailoverRequest& request) { return demote(request); }

void EsRebuildPlugin::on_role_change(sdk::Role role, std::uint64_t) {
  if (role == sdk::Role::secondary && rebuilding()) {
    bool warm_job;
    {
      std::lock_guard lock(mu_);
      warm_job = job_ == Job::warm;
    }
    if (!warm_job) {
      host_->log().warn("role changed to secondary: cancelling the running rebuild");
      cancel_and_join();
    }
  }
  if (role == sdk::Role::secondary && config_.warm_standby && warm_suspended_.load()) {
    // A promotion that did not complete: the marks were handed to the
    // catch-up; this node rebuilds its warm index from scratch.
    forget_warm_marks();
    warm_suspended_ = false;
  }
}

std::vector<sdk::Action> EsRebuildPlugin::actions() {
  return {
      {"rebuild",
       "Rebuild every index (or args {\"alias\": NAME}) into a new index and swap its alias; runs in the background",
       [this](const json& args) { return rebuild_action(args); }},
      {"cancel", "Cancel the running rebuild; its new index is deleted and the aliases stay where they were",
       [this](const json&) -> sdk::Result<json> {
         bool was = rebuilding();
         cancel_and_join();
         return json{{"cancelled", was}};
       }}};
}

sdk::Result<json> EsRebuildPlugin::rebuild_action(const json& args) {
  if (host_->fenced())
    return sdk::Result<json>::failure(
        "this node is fenced (its peer has a higher epoch): it must not act as primary; rejoin it first");
  bool force = args.is_object() && args.value("force", false);
  if (host_->role() != sdk::Role::primary && !force)
    return sdk::Result<json>::failure(
        "this node is the secondary: rebuild on the primary, or pass {\"force\": true} to rebuild from here anyway");
  cancel_warm_job();  // a warm round in flight gives way to a rebuild asked for
  Launch what{.reason = "by hand", .epoch = host_->epoch()};
  if (args.is_object() && args.contains("alias")) {
    if (!args["alias"].is_string()) return sdk::Result<json>::failure("argument 'alias' must be a string");
    what.aliases.push_back(args["alias"].get<std::string>());
  }
  return launch(std::move(what));
}

}  // namespace tandem::esrebuild
