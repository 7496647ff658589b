#include "config_rsync_plugin.h"

#include <algorithm>
#include <cmath>

#include "tree_checksum.h"

namespace tandem::config_rsync {
namespace {

using Clock = std::chrono::system_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string short_sum(const std::string& sum) { return sum.empty() ? "unknown" : sum.substr(0, 12); }

std::string human_bytes(std::int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 3) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

std::string match_text(const std::string& local, const std::string& peer) {
  if (local.empty() || peer.empty()) return "unknown";
  return local == peer ? "true" : "false";
}

}  // namespace

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
  return {"config-rsync", "0.1.0", "Secondary pulls configuration trees from the primary with rsync, within seconds",
          sdk::kOrderConfig};
}

sdk::Status ConfigRsyncPlugin::configure(const sdk::StoreConfig& config, sdk::HostContext& host) {
  settings_ = parse_settings(config);  // throws ConfigError with the key's location
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
  }
  // Tell the secondary where we stand right away (it pulls if it differs).
  notify_checksum("checksum", refresh_local_checksum(), 0);
  host_->log().info("serving " + std::to_string(settings_.paths.size()) + " path(s) as primary" +
                    (settings_.serve_port > 0 ? " with the built-in rsync daemon on port " +
                                                    std::to_string(settings_.serve_port)
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
  }
  host_->log().info("pulling from " + settings_.remote_for(peer_address()) + " as secondary");
  host_->request_sync();  // first pull now rather than after a whole interval
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
  host_->notify_peer(msg);
}

void ConfigRsyncPlugin::on_change_burst(std::size_t events) {
  // On the watcher's thread: blocking work is fine here (never the host loop).
  std::string sum = refresh_local_checksum();
  {
    std::lock_guard l(mu_);
    if (state_.mode != Mode::serving) return;
    ++state_.notifications_sent;
  }
  host_->metrics().add_counter("config_rsync_change_notifications_total", 1);
  notify_checksum("config-changed", sum, events);
}

void ConfigRsyncPlugin::on_peer_event(const nlohmann::json& event) {
  if (!event.is_object() || !event.contains("event") || !event["event"].is_string()) return;
  std::string name = event["event"].get<std::string>();
  std::string sum = event.contains("checksum") && event["checksum"].is_string() ? event["checksum"].get<std::string>() : "";
  bool want_pull = false;
  {
    std::lock_guard l(mu_);
    if (name == "config-changed" || name == "checksum") {
      if (state_.mode != Mode::pulling) return;  // only a secondary acts on the primary's news
      state_.peer_checksum = sum;
      state_.peer_checksum_at = Clock::now();
      want_pull = name == "config-changed" || sum != state_.local_checksum;
    } else if (name == "secondary-checksum") {
      if (state_.mode != Mode::serving) return;
      state_.peer_checksum = sum;
      state_.peer_checksum_at = Clock::now();
    }
  }
  if (want_pull) host_->request_sync();
}

sdk::Result<sdk::SyncReport> ConfigRsyncPlugin::sync() {
  if (!host_) return sdk::Result<sdk::SyncReport>::failure("sync() before configure()");
  Mode m = mode();
  if (m == Mode::serving && host_->fenced()) {
    enter_idle("fenced: the peer has a higher epoch; run rejoin", false);
    return sdk::SyncReport{"fenced: stopped serving", nlohmann::json::object()};
  }
  switch (m) {
    case Mode::pulling: return pull_once();
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
  PullOutcome out = run_rsync_for_all(settings_, peer_address(), RsyncRun::pull);
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
    PullOutcome second = run_rsync_for_all(settings_, peer_address(), RsyncRun::pull_full_compare);
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
                        (peer_sum.empty() ? "" : peer_sum == sum ? " (matches primary)" : " (differs from primary)");
  nlohmann::json details{{"files_transferred", out.stats.files_transferred},
                         {"bytes_transferred", out.stats.bytes_transferred},
                         {"changes", out.stats.changes},
                         {"checksum", sum},
                         {"full_compare", full_compare}};
  return sdk::SyncReport{summary, details};
}

sdk::Health ConfigRsyncPlugin::health() const {
  std::lock_guard l(mu_);
  const State& s = state_;
  const double interval_s = settings_.interval.count() / 1000.0;
  nlohmann::json d{{"mode", mode_name(s.mode)},
                   {"remote", host_ ? settings_.remote_for(host_->peer().address) : settings_.remote},
                   {"interval_seconds", interval_s},
                   {"local_checksum", s.local_checksum.empty() ? "unknown" : s.local_checksum},
                   {"peer_checksum", s.peer_checksum.empty() ? "unknown" : s.peer_checksum},
                   {"checksums_match", match_text(s.local_checksum, s.peer_checksum)},
                   {"pulls", s.pulls},
                   {"pull_failures", s.failures},
                   {"notifications_sent", s.notifications_sent}};
  if (!s.checksum_error.empty()) d["checksum_error"] = s.checksum_error;
  if (s.peer_checksum_at) d["peer_checksum_age_seconds"] = std::round(seconds_since(*s.peer_checksum_at));

  sdk::Health h;
  h.observed_at = Clock::now();
  const std::string match = match_text(s.local_checksum, s.peer_checksum);
  switch (s.mode) {
    case Mode::stopped:
      h.status = sdk::HealthStatus::stopped;
      h.summary = "not started";
      break;
    case Mode::idle:
      h.status = sdk::HealthStatus::degraded;
      h.summary = "idle (" + s.idle_reason + "): neither serving nor pulling";
      break;
    case Mode::serving: {
      d["watched_directories"] = s.watched_directories;
      if (!s.watch_problems.empty()) d["watch_problems"] = s.watch_problems;
      if (settings_.serve_port > 0) d["serve_port"] = settings_.serve_port;
      d["secondary_checksum"] = d["peer_checksum"];
      std::vector<std::string> problems;
      if (!s.serve_problem.empty()) problems.push_back(s.serve_problem);
      if (!s.watch_problems.empty())
        problems.push_back("not watching " + s.watch_problems.front() + " (changes reach the secondary only every interval)");
      if (!s.checksum_error.empty()) problems.push_back("checksum: " + s.checksum_error);
      h.status = problems.empty() ? sdk::HealthStatus::ok : sdk::HealthStatus::degraded;
      h.summary = problems.empty() ? "primary: serving " + std::to_string(settings_.paths.size()) +
                                         " path(s); checksum " + short_sum(s.local_checksum) +
                                         (match == "true" ? ", secondary matches" : match == "false" ? ", secondary differs" : "")
                                   : "primary: " + problems.front();
      if (!s.peer_checksum.empty())
        h.replication.push_back({host_->peer().address, "config_checksum_match", match});
      break;
    }
    case Mode::pulling: {
      d["primary_checksum"] = d["peer_checksum"];
      d["last_exit_code"] = s.last_exit_code;
      if (!s.last_error.empty()) d["last_error"] = s.last_error;
      d["files_transferred"] = s.last_stats.files_transferred;
      d["bytes_transferred"] = s.last_stats.bytes_transferred;
      d["changes"] = s.last_stats.changes_total;
      d["last_duration_ms"] = s.last_duration.count();
      if (s.last_attempt) d["last_attempt_age_seconds"] = std::round(seconds_since(*s.last_attempt));
      // Staleness is measured from the last good pull, or from when pulling began.
      auto reference = s.last_good ? *s.last_good : s.mode_since;
      double age = seconds_since(reference);
      if (s.last_good) {
        d["last_good_sync_age_seconds"] = std::round(age);
        h.lag_seconds = age;
      }
      std::string when = s.last_good ? "last good pull " + std::to_string(static_cast<long long>(age)) + "s ago"
                                     : "no good pull yet";
      if (age >= 4 * interval_s) {
        h.status = sdk::HealthStatus::failed;
        h.summary = "stale: " + when + " (> 4 intervals)" + (s.last_error.empty() ? "" : "; last pull " + s.last_error);
      } else if (!s.last_error.empty()) {
        h.status = sdk::HealthStatus::degraded;
        h.summary = "last pull failed: " + s.last_error + "; " + when;
      } else if (age >= 2 * interval_s) {
        h.status = sdk::HealthStatus::degraded;
        h.summary = "stale: " + when + " (> 2 intervals)";
      } else if (!s.last_good) {
        h.status = sdk::HealthStatus::unknown;
        h.summary = "waiting for the first pull";
      } else {
        h.status = sdk::HealthStatus::ok;
        h.summary = "in sync: " + when + ", " + std::to_string(s.last_stats.files_transferred) + " file(s) " +
                    human_bytes(s.last_stats.bytes_transferred) + "; checksum " + short_sum(s.local_checksum) +
                    (match == "true" ? " matches primary" : match == "false" ? " differs from primary" : "");
      }
      if (host_) {
        const std::string& me = host_->node().address;
        h.replication.push_back({me, "config_sync_age_seconds",
                                 s.last_good ? std::to_string(static_cast<long long>(age)) : "unknown"});
        h.replication.push_back({me, "config_checksum_match", match});
      }
      break;
    }
  }
  h.details = std::move(d);
  return h;
}

}  // namespace tandem::config_rsync
