#include "config_rsync_plugin.h"

#include <algorithm>
#include <cmath>

#include "primary_report.h"
#include "report_format.h"
#include "tree_checksum.h"

namespace tandem::config_rsync {
using Clock = std::chrono::system_clock;

ConfigRsyncPlugin::~ConfigRsyncPlugin() { stop(); }

const char* ConfigRsyncPlugin::mode_name(Mode m) {
  switch (m) {
    case Mode::stopped: return "stopped";
    case Mode::serving: return "serving";
    case Mode::pulling: return "pulling";
    case Mode::idle: return "idle";
  }
  return "?";
}

sdk::PluginInfo ConfigRsyncPlugin::info() const {
  // Name, version and description: the TANDEM_PLUGIN line in export.cpp.
  return {.failover_order = sdk::kOrderConfig, .default_sync_interval = "60s"};
}

sdk::Status ConfigRsyncPlugin::configure(const sdk::StoreConfig& config, sdk::HostContext& host) {
  TANDEM_TRY_ASSIGN(settings_, parse_settings(config));
  host_ = &host;
  host.metrics().describe("config_rsync_pulls_total", "rsync pulls run by the secondary");
  host.metrics().describe("config_rsync_pull_failures_total", "rsync pulls that failed");
  host.metrics().describe("config_rsync_change_notifications_total", "change bursts the primary reported to the peer");
  return {};
}

ConfigRsyncPlugin::Mode ConfigRsyncPlugin::mode() const {
  std::lock_guard l(mu_);
  return state_.mode;
}

std::string ConfigRsyncPlugin::peer_address() const { return host_->peer().address; }

sdk::Status ConfigRsyncPlugin::start() {
  if (!host_) return sdk::Status::failure("start() before configure()");
  if (mode() != Mode::stopped) return {};
  if (host_->role() == sdk::Role::secondary || host_->fenced()) {
    // A daemon orphaned by a crashed tandemd would go on serving this node's
    // (possibly stale) copy although this node is not the primary.
    ServedDaemon(settings_, host_->store_dir() / "rsyncd", "", {}).stop_orphan();
  }
  if (host_->role() == sdk::Role::secondary) {
    enter_pulling();
    return {};
  }
  if (host_->fenced()) {
    enter_idle("fenced: the peer has a higher epoch; run rejoin", false);
    return {};
  }
  auto st = enter_serving();
  if (!st) {
    stop_watcher_and_daemon(false);
    std::lock_guard l(mu_);
    state_.mode = Mode::stopped;
  }
  return st;
}

void ConfigRsyncPlugin::stop() {
  stop_watcher_and_daemon(false);
  std::lock_guard l(mu_);
  state_.mode = Mode::stopped;
}

void ConfigRsyncPlugin::stop_watcher_and_daemon(bool keep_daemon) {
  if (watcher_) {
    watcher_->stop();
    watcher_.reset();
  }
  if (daemon_ && !keep_daemon) {
    daemon_->stop();
    daemon_.reset();
  }
}

sdk::Status ConfigRsyncPlugin::enter_serving() {
  std::vector<WatchRoot> roots;
  for (auto& e : settings_.paths)
    roots.push_back(e.is_file ? WatchRoot{e.path.parent_path(), false} : WatchRoot{e.path, true});
  if (!watcher_) {
    auto w = std::make_unique<ChangeWatcher>(roots, settings_.debounce, settings_.debounce_max,
                                             [this](std::size_t n) { on_change_burst(n); });
    try {
      w->start();
    } catch (const std::exception& e) {
      return sdk::Status::failure(std::string("cannot watch the synced paths: ") + e.what());
    }
    watcher_ = std::move(w);
  }
  std::string serve_problem;
  if (settings_.serve_port > 0) {
    if (!daemon_) {
      std::vector<std::string> allow{peer_address()};
      if (peer_address() != "127.0.0.1") allow.push_back("127.0.0.1");
      std::string bind = settings_.serve_address.empty() ? host_->node().address : settings_.serve_address;
      daemon_ = std::make_unique<ServedDaemon>(settings_, host_->store_dir() / "rsyncd", bind, allow);
    }
    auto st = daemon_->start();
    if (!st) serve_problem = st.message();
  }
  {
    std::lock_guard l(mu_);
    state_.mode = Mode::serving;
    state_.mode_since = Clock::now();
    state_.idle_reason.clear();
    state_.serve_problem = serve_problem;
    state_.watch_problems = watcher_->problems();
    state_.watched_directories = watcher_->watched_directories();
    state_.peer_checksum.clear();
    state_.peer_checksum_at.reset();
    state_.peer_changed_at.reset();
  }
  host_->state().erase(kPrimaryReportKey);  // a report of the old primary means nothing here
  // Tell the secondary where we stand right away (it pulls if it differs).
  notify_checksum("checksum", refresh_local_checksum(), 0);
  host_->log().info("serving " + std::to_string(settings_.paths.size()) + " path(s) as primary" +
                    (settings_.serve_port > 0
                         ? " with the built-in rsync daemon on port " + std::to_string(settings_.serve_port)
                         : std::string()));
  if (!serve_problem.empty()) return sdk::Status::failure(serve_problem);
  return {};
}

void ConfigRsyncPlugin::enter_pulling() {
  stop_watcher_and_daemon(false);
  {
    std::lock_guard l(mu_);
    state_.mode = Mode::pulling;
    state_.mode_since = Clock::now();
    state_.idle_reason.clear();
    state_.serve_problem.clear();
    state_.watch_problems.clear();
    state_.last_good.reset();
    state_.last_attempt.reset();
    state_.last_error.clear();
    state_.peer_checksum.clear();
    state_.peer_checksum_at.reset();
    state_.peer_changed_at.reset();
  }
  load_primary_report();  // the bound a failover states, if the primary dies before it reports again
  host_->log().info("pulling from " + settings_.remote_for(peer_address()) + " as secondary");
  host_->request_sync();  // first pull now rather than after a whole interval
  // Ask the primary for its checksum now rather than at its next interval.
  host_->notify_peer({{"event", "checksum-request"}, {"epoch", host_->epoch()}});
}

void ConfigRsyncPlugin::enter_idle(const std::string& reason, bool keep_daemon) {
  stop_watcher_and_daemon(keep_daemon);
  std::lock_guard l(mu_);
  state_.mode = Mode::idle;
  state_.mode_since = Clock::now();
  state_.idle_reason = reason;
  state_.watch_problems.clear();
}

std::string ConfigRsyncPlugin::refresh_local_checksum() {
  std::string sum, error;
  try {
    sum = compute_tree_checksum(settings_).sha256;
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::lock_guard l(mu_);
  state_.local_checksum = sum;
  state_.checksum_error = error;
  return sum;
}

void ConfigRsyncPlugin::notify_checksum(const char* event_name, const std::string& checksum, std::size_t changes) {
  nlohmann::json msg{{"event", event_name}, {"checksum", checksum}, {"epoch", host_->epoch()}};
  if (changes) msg["changes"] = changes;
  {
    std::lock_guard l(mu_);
    if (state_.last_change) msg["changed_at_ms"] = unix_ms(*state_.last_change);
  }
  host_->notify_peer(msg);
}

void ConfigRsyncPlugin::on_change_burst(std::size_t events) {
  // On the watcher's thread: blocking work is fine here (never the host loop).
  std::string sum = refresh_local_checksum();
  {
    std::lock_guard l(mu_);
    if (state_.mode != Mode::serving) return;
    ++state_.notifications_sent;
    state_.last_change = Clock::now();
  }
  host_->metrics().add_counter("config_rsync_change_notifications_total", 1);
  notify_checksum("config-changed", sum, events);
}

void ConfigRsyncPlugin::on_peer_event(const nlohmann::json& event) {
  if (!event.is_object() || !event.contains("event") || !event["event"].is_string()) return;
  std::string name = event["event"].get<std::string>();
  std::string sum =
      event.contains("checksum") && event["checksum"].is_string() ? event["checksum"].get<std::string>() : "";
  // News from a node at an older epoch comes from a former primary that has
  // not rejoined yet: its tree is not the one to follow.
  if (event.contains("epoch") && event["epoch"].is_number_integer()) {
    auto epoch = event["epoch"].get<std::int64_t>();
    if (epoch < 0 || static_cast<std::uint64_t>(epoch) < host_->epoch()) return;
  }
  bool want_pull = false;
  std::string reply_checksum;
  {
    std::lock_guard l(mu_);
    if (name == "checksum-request" && state_.mode == Mode::serving) reply_checksum = state_.local_checksum;
    if (name == "config-changed" || name == "checksum") {
      if (state_.mode != Mode::pulling) return;  // only a secondary acts on the primary's news
      state_.peer_checksum = sum;
      state_.peer_checksum_at = Clock::now();
      if (event.contains("changed_at_ms") && event["changed_at_ms"].is_number_integer())
        state_.peer_changed_at = from_unix_ms(event["changed_at_ms"].get<std::int64_t>());
      state_.report_unsaved = true;
      want_pull = name == "config-changed" || sum != state_.local_checksum;
    } else if (name == "secondary-checksum") {
      if (state_.mode != Mode::serving) return;
      state_.peer_checksum = sum;
      state_.peer_checksum_at = Clock::now();
    }
  }
  if (want_pull) host_->request_sync();
  // The cached checksum is current: the watcher refreshes it on every change.
  if (!reply_checksum.empty()) notify_checksum("checksum", reply_checksum, 0);
}

sdk::Result<sdk::SyncReport> ConfigRsyncPlugin::sync() {
  if (!host_) return sdk::Result<sdk::SyncReport>::failure("sync() before configure()");
  Mode m = mode();
  if (m == Mode::serving && host_->fenced()) {
    enter_idle("fenced: the peer has a higher epoch; run rejoin", false);
    return sdk::SyncReport{"fenced: stopped serving", nlohmann::json::object()};
  }
  switch (m) {
    case Mode::pulling: save_primary_report(); return pull_once();
    case Mode::serving: return publish_once();
    case Mode::idle: {
      std::lock_guard l(mu_);
      return sdk::SyncReport{"idle: " + state_.idle_reason, nlohmann::json::object()};
    }
    case Mode::stopped: break;
  }
  return sdk::SyncReport{"not started", nlohmann::json::object()};
}

sdk::Result<sdk::SyncReport> ConfigRsyncPlugin::publish_once() {
  // Periodic duties of the primary: keep the daemon and watches alive and
  // tell the secondary the current checksum (it pulls if its own differs).
  std::string serve_problem;
  if (daemon_ && !daemon_->running()) {
    std::string why = daemon_->problem();
    auto st = daemon_->start();
    serve_problem = st ? std::string() : st.message();
    host_->log().warn("built-in rsync daemon was down (" + why + "); restart " + (st ? "succeeded" : "failed"));
  }
  if (watcher_) watcher_->rescan();
  std::string sum = refresh_local_checksum();
  {
    std::lock_guard l(mu_);
    state_.serve_problem = serve_problem;
    state_.watch_problems = watcher_ ? watcher_->problems() : std::vector<std::string>{};
    state_.watched_directories = watcher_ ? watcher_->watched_directories() : 0;
  }
  notify_checksum("checksum", sum, 0);
  nlohmann::json details{{"checksum", sum}};
  if (!serve_problem.empty()) return sdk::Result<sdk::SyncReport>::failure(serve_problem);
  return sdk::SyncReport{"primary: published checksum " + short_sum(sum), details};
}

sdk::Result<sdk::SyncReport> ConfigRsyncPlugin::pull_once() {
  auto attempt = Clock::now();
  // sync_cancelled() is set only during a sync (a promote waits for it):
  // false when a failover step pulls.
  const std::atomic<bool>* cancel = &host_->sync_cancelled();
  PullOutcome out =
      run_rsync_for_all(settings_, peer_address(), RsyncRun::pull, std::chrono::milliseconds::max(), cancel);
  std::string sum = refresh_local_checksum();
  std::string peer_sum;
  {
    std::lock_guard l(mu_);
    peer_sum = state_.peer_checksum;
  }
  bool full_compare = false;
  if (out.ok && !peer_sum.empty() && !sum.empty() && sum != peer_sum) {
    // rsync's quick check (size + mtime) can miss a same-size edit made in
    // the same timestamp tick; when the checksums still disagree after a good
    // pull, compare contents once. (A primary that changed again since it
    // reported its checksum also lands here: harmless, one extra pass.)
    full_compare = true;
    PullOutcome second = run_rsync_for_all(settings_, peer_address(), RsyncRun::pull_full_compare,
                                           std::chrono::milliseconds::max(), cancel);
    second.stats.add(out.stats);
    second.duration += out.duration;
    out = std::move(second);
    sum = refresh_local_checksum();
  }
  {
    std::lock_guard l(mu_);
    if (state_.mode != Mode::pulling) return sdk::SyncReport{"role changed during the pull", nlohmann::json::object()};
    state_.last_attempt = attempt;
    state_.last_exit_code = out.exit_code;
    state_.last_duration = out.duration;
    ++state_.pulls;
    if (out.ok) {
      state_.last_good = attempt;
      state_.last_error.clear();
      state_.last_stats = out.stats;
    } else {
      ++state_.failures;
      state_.last_error = out.error;
    }
    peer_sum = state_.peer_checksum;
  }
  auto& m = host_->metrics();
  m.add_counter("config_rsync_pulls_total", 1);
  m.set_gauge("config_rsync_pull_duration_seconds", out.duration.count() / 1000.0);
  m.set_gauge("config_rsync_last_exit_code", out.exit_code);
  if (!out.ok) {
    m.add_counter("config_rsync_pull_failures_total", 1);
    host_->log().warn("pull failed: " + out.error);
    return sdk::Result<sdk::SyncReport>::failure("rsync pull from " + settings_.remote_for(peer_address()) +
                                                 " failed: " + out.error);
  }
  m.add_counter("config_rsync_files_transferred_total", static_cast<double>(out.stats.files_transferred));
  m.add_counter("config_rsync_bytes_transferred_total", static_cast<double>(out.stats.bytes_transferred));
  m.set_gauge("config_rsync_last_good_sync_timestamp_seconds",
              std::chrono::duration<double>(attempt.time_since_epoch()).count());
  if (!peer_sum.empty()) m.set_gauge("config_rsync_checksum_match", peer_sum == sum ? 1 : 0);
  if (!sum.empty()) notify_checksum("secondary-checksum", sum, 0);

  std::string summary = "pulled " + std::to_string(out.stats.files_transferred) + " file(s), " +
                        human_bytes(out.stats.bytes_transferred) + ", " + std::to_string(out.stats.changes_total) +
                        " change(s) in " + std::to_string(out.duration.count()) + " ms; checksum " + short_sum(sum) +
                        (peer_sum.empty()  ? ""
                         : peer_sum == sum ? " (matches primary)"
                                           : " (differs from primary)");
  nlohmann::json details{{"files_transferred", out.stats.files_transferred},
                         {"bytes_transferred", out.stats.bytes_transferred},
                         {"changes", out.stats.changes},
                         {"checksum", sum},
                         {"full_compare", full_compare}};
  return sdk::SyncReport{summary, details};
}

}  // namespace tandem::config_rsync
