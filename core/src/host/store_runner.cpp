#include "host/store_runner.h"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "util/logging.h"

namespace tandem::core {

std::string_view to_string(StoreState s) {
  switch (s) {
    case StoreState::created: return "created";
    case StoreState::starting: return "starting";
    case StoreState::running: return "running";
    case StoreState::start_failed: return "start_failed";
    case StoreState::stopping: return "stopping";
    case StoreState::stopped: return "stopped";
  }
  return "unknown";
}

StoreRunner::StoreRunner(boost::asio::io_context& io, std::string plugin_type, std::string plugin_version,
                         std::shared_ptr<sdk::Plugin> plugin, std::unique_ptr<StoreHostContext> context,
                         std::chrono::milliseconds sync_interval, StoreRunnerOptions options)
    : io_(io),
      context_(std::move(context)),
      name_(context_->store_name()),
      plugin_type_(std::move(plugin_type)),
      plugin_version_(std::move(plugin_version)),
      plugin_(std::move(plugin)),
      options_(options),
      sync_timer_(io),
      retry_timer_(io),
      executor_("store " + name_, 1) {
  interval_ = sync_interval;
  // Only the listings are kept: a row's handler is the plugin's code, run
  // through the plugin when asked (never held by the host).
  for (const auto& a : plugin_->actions()) actions_.push_back({a.name, a.description});
  for (const auto& d : plugin_->diagnostics()) diagnostics_.push_back({d.name, d.description});
  const sdk::PluginInfo info = plugin_->info();
  failover_order_ = info.failover_order;
  nothing_to_fail_over_ = info.nothing_to_fail_over;
  health_ = sdk::Health::make(sdk::HealthStatus::unknown, "not started yet");
  context_->set_sync_requester([this] { request_sync(); });
}

StoreRunner::~StoreRunner() {
  *alive_ = false;
  stop();
  context_->set_sync_requester(nullptr);
}

void StoreRunner::start() {
  {
    std::lock_guard l(mu_);
    if (stopping_ || state_ != StoreState::created) return;
    state_ = StoreState::starting;
  }
  executor_.post([this] { attempt_start(); });
}

void StoreRunner::attempt_start() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    ++start_attempts_;
  }
  sdk::Status st = plugin_->start();
  if (!st.ok()) {
    {
      std::lock_guard l(mu_);
      state_ = StoreState::start_failed;
      start_error_ = st.message();
    }
    refresh_health();
    schedule_start_retry();
    return;
  }
  bool run_now;
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    state_ = StoreState::running;
    start_error_.clear();
    // A sync requested before start (or the first periodic one) runs at
    // once, or once a pending promote releases the syncs.
    run_now = sync_pending_ || interval_.count() > 0;
    sync_pending_ = run_now && sync_holds_ > 0;
    if (sync_pending_) run_now = false;
    if (run_now) sync_running_ = true;
  }
  log_info(name_, "started (plugin " + plugin_type_ + " " + plugin_version_ +
                      (interval_.count() > 0 ? ", sync every " + std::to_string(interval_.count()) + " ms)"
                                             : ", sync on request only)"));
  refresh_health();
  if (run_now) run_sync();  // already on the executor
}

void StoreRunner::schedule_start_retry() {
  std::chrono::milliseconds delay;
  std::string error;
  int attempt;
  {
    std::lock_guard l(mu_);
    attempt = start_attempts_;
    error = start_error_;
    auto factor = 1LL << std::min(attempt - 1, 16);
    delay = std::min<std::chrono::milliseconds>(options_.start_retry_max, options_.start_retry_base * factor);
  }
  log_error(name_, "start failed (attempt " + std::to_string(attempt) + "): " + error + "; retrying in " +
                       std::to_string(delay.count()) + " ms");
  boost::asio::post(io_, [this, alive = alive_, delay] {
    if (!*alive) return;
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([this, alive](const boost::system::error_code& ec) {
      if (ec || !*alive) return;
      std::lock_guard l(mu_);
      if (stopping_) return;
      executor_.post([this] { attempt_start(); });
    });
  });
}

void StoreRunner::request_sync() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    if (state_ != StoreState::running || sync_running_ || sync_holds_ > 0) {
      sync_pending_ = true;  // runs once started / right after the current run / once released
      return;
    }
    sync_running_ = true;
  }
  executor_.post([this] { run_sync(); });
}

void StoreRunner::run_sync() {
  {
    std::lock_guard l(mu_);
    if (stopping_) {
      sync_running_ = false;
      return;
    }
    if (sync_holds_ > 0) {  // queued before a promote began: it runs after it
      sync_running_ = false;
      sync_pending_ = true;
      return;
    }
    stats_.in_progress = true;
  }
  auto started_wall = std::chrono::system_clock::now();
  auto started = std::chrono::steady_clock::now();
  sdk::Result<sdk::SyncReport> result = plugin_->sync();
  auto elapsed = std::chrono::steady_clock::now() - started;
  double ms = std::chrono::duration<double, std::milli>(elapsed).count();

  bool again;
  {
    std::lock_guard l(mu_);
    stats_.in_progress = false;
    context_->set_sync_cancelled(false);  // under mu_: hold_syncs() sets it only while in progress
    ++stats_.runs;
    stats_.last_duration_ms = ms;
    stats_.last_run = started_wall;
    if (result.ok()) {
      stats_.last_error.clear();
      stats_.last_summary = result->summary;
      stats_.last_success = std::chrono::system_clock::now();
    } else {
      ++stats_.failures;
      stats_.last_error = result.message();
    }
    again = sync_pending_ && !stopping_ && sync_holds_ == 0;
    if (sync_holds_ == 0) sync_pending_ = false;  // held: release_syncs() runs it
    sync_running_ = again;
  }
  if (result.ok())
    log_debug(name_, "sync done in " + std::to_string(static_cast<long long>(ms)) + " ms: " + result->summary);
  else
    log_warn(name_, "sync failed after " + std::to_string(static_cast<long long>(ms)) + " ms: " + result.message());
  refresh_health();

  if (again) {
    executor_.post([this] { run_sync(); });
  } else if (interval_.count() > 0) {
    // Keep a steady rhythm: the next run is due one interval after this one began.
    auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed);
    arm_sync_timer(std::max(std::chrono::milliseconds(0), interval_ - spent));
  }
}

void StoreRunner::arm_sync_timer(std::chrono::milliseconds delay) {
  boost::asio::post(io_, [this, alive = alive_, delay] {
    if (!*alive) return;
    sync_timer_.expires_after(delay);
    sync_timer_.async_wait([this, alive](const boost::system::error_code& ec) {
      if (ec || !*alive) return;
      request_sync();
    });
  });
}

void StoreRunner::hold_syncs() {
  bool cancelled = false;
  {
    std::lock_guard l(mu_);
    ++sync_holds_;
    if (stats_.in_progress) {
      context_->set_sync_cancelled(true);
      cancelled = true;
    }
  }
  if (cancelled) log_info(name_, "a failover operation is pending: the sync in progress is asked to end");
}

void StoreRunner::release_syncs() {
  {
    std::lock_guard l(mu_);
    if (sync_holds_ == 0) return;
    if (--sync_holds_ > 0 || !sync_pending_ || sync_running_ || stopping_ || state_ != StoreState::running) return;
    sync_pending_ = false;
    sync_running_ = true;
  }
  executor_.post([this] { run_sync(); });
}

void StoreRunner::refresh_health() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;  // after stop the snapshot says "stopped"
  }
  sdk::Health h = plugin_->health();
  std::lock_guard l(mu_);
  if (stopping_) return;
  health_ = std::move(h);
}

StoreSnapshot StoreRunner::snapshot() const {
  std::lock_guard l(mu_);
  StoreSnapshot s;
  s.name = name_;
  s.plugin = plugin_type_;
  s.version = plugin_version_;
  s.state = state_;
  s.start_error = start_error_;
  s.health = health_;
  if (state_ == StoreState::start_failed) {
    // The plugin's own snapshot may still say "unknown": the failed start is the news.
    s.health.status = sdk::HealthStatus::failed;
    s.health.summary = "start failed (retrying): " + start_error_;
  }
  s.sync = stats_;
  return s;
}

void StoreRunner::run_action(const std::string& action, const nlohmann::json& args,
                             std::function<void(sdk::Result<nlohmann::json>)> done) {
  auto task = [this, action, args, done] {
    log_info(name_, "running action '" + action + "'");
    auto result = plugin_->run_action(action, args);
    if (!result.ok()) log_warn(name_, "action '" + action + "' failed: " + result.message());
    refresh_health();
    done(std::move(result));
  };
  if (!executor_.post(std::move(task))) done(sdk::Result<nlohmann::json>::failure("the store is shutting down"));
}

std::future<void> StoreRunner::call(std::function<void(sdk::Plugin&)> fn) {
  auto task = std::make_shared<std::packaged_task<void()>>([this, fn = std::move(fn)] {
    fn(*plugin_);
    refresh_health();
  });
  auto future = task->get_future();
  if (!executor_.post([task] { (*task)(); })) throw std::runtime_error("store '" + name_ + "' is shutting down");
  return future;
}

void StoreRunner::deliver_peer_event(nlohmann::json event) {
  boost::asio::post(io_, [this, alive = alive_, event = std::move(event)] {
    if (!*alive) return;
    {
      std::lock_guard l(mu_);
      if (stopping_ || state_ == StoreState::stopped) return;
    }
    plugin_->on_peer_event(event);
  });
}

void StoreRunner::interrupt() {
  {
    std::lock_guard l(mu_);
    if (state_ == StoreState::stopped) return;
  }
  plugin_->interrupt();
}

bool StoreRunner::stop() {
  {
    std::lock_guard l(mu_);
    if (state_ == StoreState::stopped) return true;
    stopping_ = true;
    state_ = StoreState::stopping;
  }
  // A sync blocked on a silent server would otherwise outlast stop_grace:
  // the shutdown would be unclean and stop() would never run.
  plugin_->interrupt();
  boost::asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    sync_timer_.cancel();
    retry_timer_.cancel();
  });
  // stop() runs after whatever call is in progress: the plugin never sees two at once.
  executor_.post([this] {
    plugin_->stop();
    log_info(name_, "stopped");
  });
  bool ok = executor_.shutdown(options_.stop_grace);
  if (!ok)
    log_error(name_,
              "did not stop within " + std::to_string(options_.stop_grace.count()) + " ms: a plugin call is hung");
  std::lock_guard l(mu_);
  state_ = StoreState::stopped;
  health_ = sdk::Health::make(sdk::HealthStatus::stopped, "stopped");
  return ok;
}

}  // namespace tandem::core
