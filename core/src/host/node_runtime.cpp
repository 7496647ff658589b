#include "host/node_runtime.h"

#include <system_error>

#include <boost/asio/post.hpp>

#include "util/logging.h"

namespace tandem::core {
namespace {

std::filesystem::path ensure_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create data_dir " + dir.string() + ": " + ec.message());
  return dir;
}

}  // namespace

NodeRuntime::NodeRuntime(sdk::NodeIdentity node, sdk::PeerInfo peer, std::string peer_token, sdk::Role initial_role,
                         RuntimeOptions options)
    : options_(options),
      work_(boost::asio::make_work_guard(io_)),
      state_(ensure_dir(node.data_dir), initial_role),
      maintenance_(node.data_dir),
      workers_("workers", options.worker_threads) {
  failover_peer_ =
      std::make_unique<HttpFailoverPeer>(io_, peer.api_url, peer_token, options_.peer.tls, options_.peer_probe_timeout);
  peer_monitor_ = std::make_unique<PeerMonitor>(io_, peer, std::move(peer_token), options_.peer);
  services_.node = std::move(node);
  services_.peer = std::move(peer);
  services_.state = &state_;
  services_.io = &io_;
  services_.workers = &workers_;
  services_.metrics = &metrics_;
  services_.peer_monitor = peer_monitor_.get();
  health_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  failover_stores_ = std::make_unique<RuntimeFailoverStores>(*this);
  hooks_ = std::make_unique<HookRunner>(options_.hooks, services_.node.name, services_.peer.name);
  orchestrator_ = std::make_unique<FailoverOrchestrator>(services_.node.data_dir, state_, *failover_stores_,
                                                         *failover_peer_, failover_log_, &maintenance_, hooks_.get());
  orchestrator_->set_peer_probe_timeout(options_.peer_probe_timeout);
  if (options_.test_instance)
    orchestrator_->refuse_every_operation(
        "this is a test instance ([node] role = \"test\", a clone made by `tandemctl clone-test`): it is never "
        "promoted, switched over or rejoined, and is no peer of the pair; run failover commands on the pair's nodes");
}

NodeRuntime::~NodeRuntime() { shutdown(); }

std::unique_ptr<StoreHostContext> NodeRuntime::make_context(const std::string& store) {
  return std::make_unique<StoreHostContext>(services_, store);
}

void NodeRuntime::add_store(std::string plugin_type, std::string plugin_version, std::shared_ptr<sdk::Plugin> plugin,
                            std::unique_ptr<StoreHostContext> context, std::chrono::milliseconds sync_interval) {
  if (started_) throw std::logic_error("NodeRuntime::add_store after start");
  stores_.push_back(std::make_unique<StoreRunner>(io_, std::move(plugin_type), std::move(plugin_version),
                                                  std::move(plugin), std::move(context), sync_interval,
                                                  options_.store));
}

void NodeRuntime::start() {
  if (started_) return;
  started_ = true;
  std::vector<std::string> names;
  for (const auto& s : stores_) names.push_back(s->name());
  history_ = std::make_unique<SampleHistory>(options_.history_interval, names);
  loop_thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        break;
      } catch (const std::exception& e) {
        // A handler (possibly a plugin's) threw: report it and keep the loop alive.
        log_error("tandemd", std::string("event loop handler threw: ") + e.what());
      }
    }
    loop_done_.set_value();
  });
  auto v = state_.get();
  log_info("tandemd", "node " + services_.node.name + " (" + services_.node.address + ") role " +
                          std::string(sdk::to_string(v.role)) + ", epoch " + std::to_string(v.epoch) +
                          (v.fenced ? ", FENCED: " + v.fenced_reason : ""));
  if (auto m = maintenance_.get(); m.paused)
    log_warn("tandemd", "PAUSED (maintenance mode since " + m.since + (m.reason.empty() ? "" : ": " + m.reason) +
                            "): promote and switchover are refused until `tandemctl resume`");
  if (options_.test_instance)
    log_info("tandemd", "test instance: no peer, failover commands refused");
  else if (v.role == sdk::Role::primary && !v.fenced)
    check_peer_before_serving();
  for (auto& s : stores_) s->start();
  if (!options_.test_instance) peer_monitor_->start();
  boost::asio::post(io_, [this] { arm_health_refresh(); });
}

void NodeRuntime::arm_health_refresh() {
  health_timer_->expires_after(options_.health_refresh);
  health_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    for (auto& s : stores_) s->refresh_health();
    history_->maybe_record(std::chrono::steady_clock::now(), std::chrono::system_clock::now(), state_.get(),
                           options_.test_instance, snapshots());
    fire_health_hooks();
    check_fencing();
    arm_health_refresh();
  });
}

void NodeRuntime::fire_health_hooks() {
  for (const auto& s : stores_) {
    auto snap = s->snapshot();
    auto [it, first] = last_health_.try_emplace(snap.name, snap.health.status);
    if (first || it->second == snap.health.status) continue;
    auto v = state_.get();
    std::string role = v.fenced ? "fenced" : std::string(sdk::to_string(v.role));
    (void)hooks_->fire(HookEvent{"on_store_health_change",
                                 role,
                                 {{"TANDEM_STORE", snap.name},
                                  {"TANDEM_OLD_STATUS", std::string(sdk::to_string(it->second))},
                                  {"TANDEM_NEW_STATUS", std::string(sdk::to_string(snap.health.status))},
                                  {"TANDEM_SUMMARY", snap.health.summary},
                                  {"TANDEM_EPOCH", std::to_string(v.epoch)}},
                                 ""});
    it->second = snap.health.status;
  }
}

void NodeRuntime::check_peer_before_serving() {
  // A primary coming back from a crash or a reboot must not open its stores
  // for writes before it knows whether the peer was promoted meanwhile: the
  // peer monitor's first answer would arrive only after the stores started.
  PeerView peer = failover_peer_->status();
  if (!peer.reachable) {
    log_warn("tandemd", "starting as primary without word from peer " + services_.peer.name + " (" + peer.error +
                            "); it fences this node later if it was promoted meanwhile");
    return;
  }
  mark_fenced_if_behind(peer.epoch);
}

bool NodeRuntime::mark_fenced_if_behind(std::uint64_t peer_epoch) {
  auto v = state_.get();
  if (peer_epoch <= v.epoch || v.role != sdk::Role::primary || v.fenced) return false;
  return mark_fenced("peer " + services_.peer.name + " is at epoch " + std::to_string(peer_epoch) + ", this node at " +
                         std::to_string(v.epoch) + ": it was promoted; run `tandemctl rejoin` on this node",
                     peer_epoch);
}

void NodeRuntime::fence(const std::string& reason) {
  if (!mark_fenced(reason)) return;
  notify_stores_of_fencing();
}

void NodeRuntime::enable_auto_failover(std::unique_ptr<dcs::AutoFailoverNode> node,
                                       std::unique_ptr<dcs::AutoFailover> driver) {
  auto_failover_node_ = std::move(node);
  auto_failover_ = std::move(driver);
  // A promote or switchover moves the leader key with the epoch (the driver
  // outlives every failover step: it is stopped, not destroyed, before the
  // failover thread ends).
  orchestrator_->set_leader_key_move(
      [af = auto_failover_.get()](std::uint64_t new_epoch) { return af->take_key(new_epoch); },
      [af = auto_failover_.get()](std::uint64_t new_epoch) { return af->key_could_move(new_epoch); });
}

bool NodeRuntime::mark_fenced(const std::string& reason, std::optional<std::uint64_t> peer_epoch) {
  auto v = state_.get();
  if (v.role != sdk::Role::primary || v.fenced) return false;
  v.fenced = true;
  v.fenced_reason = reason;
  try {
    state_.set(v);
  } catch (const std::exception& e) {
    log_error("tandemd", std::string("cannot persist fencing: ") + e.what());
  }
  log_error("tandemd", "FENCED: " + v.fenced_reason);
  std::map<std::string, std::string> env = {{"TANDEM_REASON", v.fenced_reason},
                                            {"TANDEM_EPOCH", std::to_string(v.epoch)}};
  if (peer_epoch) env["TANDEM_PEER_EPOCH"] = std::to_string(*peer_epoch);
  (void)hooks_->fire(HookEvent{"on_fenced", "fenced", env, ""});
  env["TANDEM_OLD_ROLE"] = "primary";
  env["TANDEM_NEW_ROLE"] = "fenced";
  (void)hooks_->fire(HookEvent{"on_role_change", "fenced", env, ""});
  return true;
}

void NodeRuntime::check_fencing() {
  auto peer = peer_monitor_->status();
  if (!peer.reachable || !peer.epoch || !mark_fenced_if_behind(*peer.epoch)) return;
  notify_stores_of_fencing();
}

void NodeRuntime::notify_stores_of_fencing() {
  auto v = state_.get();
  // Each store re-reads host.fenced() and stops acting as primary.
  for (auto& s : stores_) {
    try {
      s->call([v](sdk::Plugin& p) { p.on_role_change(v.role, v.epoch); });
    } catch (const std::exception&) {
      // shutting down: nothing left to fence
    }
  }
}

bool NodeRuntime::shutdown() {
  std::lock_guard l(shutdown_mu_);
  if (shut_down_) return true;
  shut_down_ = true;
  bool clean = true;
  if (auto_failover_) auto_failover_->stop();  // no automatic action while the rest stops
  // First every store's call in progress (a failover step or a sync) is told
  // to return soon; then they are waited for, each within its grace.
  for (auto& store : stores_) store->interrupt();
  if (!failover_thread_.shutdown(options_.worker_grace)) {
    // The step's thread is detached and still uses the loop, the orchestrator and
    // the stores: the caller must end the process without destroying them.
    log_error("tandemd", "a failover step was still running at shutdown; run the same command again after restart");
    clean = false;
  }
  // A hook is bounded by its own timeout, which may be longer than the grace:
  // one still running then is left to the process exit, as a hung step is.
  if (!hooks_->shutdown(options_.worker_grace)) {
    log_error("tandemd", "a hook was still running at shutdown (it is killed at its timeout)");
    clean = false;
  }
  peer_monitor_->stop();
  if (started_) boost::asio::post(io_, [this] { health_timer_->cancel(); });
  for (auto it = stores_.rbegin(); it != stores_.rend(); ++it) clean = (*it)->stop() && clean;
  if (!workers_.shutdown(options_.worker_grace)) {
    log_error("tandemd", "blocking work posted by a plugin did not finish within " +
                             std::to_string(options_.worker_grace.count()) + " ms");
    clean = false;
  }
  work_.reset();
  if (started_) {
    // Let cancelled handlers finish on the loop; do not wait forever for a stray one.
    auto done = loop_done_.get_future();
    if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      log_warn("tandemd", "event loop still busy after shutdown: stopping it");
      io_.stop();
    }
    loop_thread_.join();
  }
  if (!clean) {
    // A hung plugin call still runs on a detached thread: keep its objects alive
    // (the process is about to exit) rather than free them under it.
    for (auto& s : stores_) (void)s.release();
    (void)hooks_.release();
  }
  stores_.clear();
  health_timer_.reset();
  return clean;
}

std::vector<StoreSnapshot> NodeRuntime::snapshots() const {
  std::vector<StoreSnapshot> out;
  out.reserve(stores_.size());
  for (const auto& s : stores_) out.push_back(s->snapshot());
  return out;
}

StoreRunner* NodeRuntime::find_store(std::string_view name) const {
  for (const auto& s : stores_)
    if (s->name() == name) return s.get();
  return nullptr;
}

}  // namespace tandem::core
