#include "kv_plugin.h"

#include <sstream>
#include <thread>

#include "fence.h"
#include "plugin_util.h"
#include "redis_sync_client.h"
#include "tandem/sdk/file_util.h"

namespace tandem::kv {

KvStorePlugin::~KvStorePlugin() { stop(); }

sdk::PluginInfo KvStorePlugin::info() const {
  // Name, version and description: the TANDEM_PLUGIN line in export.cpp.
  return {.failover_order = sdk::kOrderKeyValue, .default_sync_interval = "1s"};
}

sdk::Status KvStorePlugin::configure(const sdk::StoreConfig& config, sdk::HostContext& host) {
  TANDEM_TRY_ASSIGN(settings_, parse_settings(config, host));
  host_ = &host;
  return {};
}

std::filesystem::path KvStorePlugin::journal_dir() const {
  return settings_.journal_dir.empty() ? host_->store_dir() / "journal" : settings_.journal_dir;
}

PeerMode KvStorePlugin::stored_mode() const {
  auto v = host_->state().get("peer_mode");
  return v && *v == "detached" ? PeerMode::detached : PeerMode::dual;
}

void KvStorePlugin::store_mode(PeerMode mode) { host_->state().put("peer_mode", std::string(to_string(mode))); }

bool KvStorePlugin::should_serve() const {
  // demoted_drained: a switchover demoted this store; the node's role turns
  // secondary only once every store is demoted, and sync() must not reopen
  // the endpoint meanwhile (two nodes would take writes).
  std::uint64_t superseded_by;
  {
    std::lock_guard l(observed_mu_);
    superseded_by = observed_.superseded_by;
  }
  return host_->role() == sdk::Role::primary && !host_->fenced() && superseded_by <= serving_epoch() &&
         host_->state().get("demoted_drained").value_or("") != "1";
}

std::uint64_t KvStorePlugin::serving_epoch() const {
  std::uint64_t promoted = 0;
  if (auto v = host_->state().get("fence_epoch")) promoted = parse_epoch_marker(*v);
  return std::max(host_->epoch(), promoted);
}

void KvStorePlugin::raise_fence(RedisSyncClient& redis, const char* which) {
  if (!host_->state().get("fence_epoch")) return;  // never promoted: the first primary needs no marker
  auto epoch = serving_epoch();
  auto before = raise_epoch_marker(redis, epoch, writer_name(*host_), writer_suffix(*host_));
  if (before < epoch)
    host_->log().info(std::string("epoch marker on the ") + which + " raised from " + std::to_string(before) + " to " +
                      std::to_string(epoch) + "; other writers' connections there were closed");
}

void KvStorePlugin::note_superseded(const EndpointStats& s) {
  {
    std::lock_guard l(observed_mu_);
    observed_.superseded_by = s.superseded_by;
    observed_.superseded_reason = s.superseded_reason;
    observed_.discarded = s.discarded;
    observed_.discarded_file = s.discarded_file;
  }
  host_->metrics().add_counter("kvstore_superseded_writes_discarded_total", static_cast<double>(s.discarded));
  host_->log().warn("stopping the RESP endpoint: " + s.superseded_reason + " (" + std::to_string(s.discarded) +
                    " writes of this node's timeline discarded" +
                    (s.discarded_file.empty() ? std::string() : ", journal kept in " + s.discarded_file) + ")");
  stop_endpoint();
}

std::shared_ptr<Endpoint> KvStorePlugin::endpoint() const {
  std::lock_guard l(endpoint_mu_);
  return endpoint_;
}

void KvStorePlugin::start_endpoint() {
  if (endpoint()) return;
  auto ep = std::make_shared<Endpoint>(settings_, secrets_, *host_, journal_dir(), stored_mode(), serving_epoch());
  {
    std::lock_guard l(endpoint_mu_);
    endpoint_ = ep;
  }
  host_->log().info("RESP endpoint listening on " + settings_.listen_address + ":" +
                    std::to_string(settings_.listen_port) + " (writes: peer " + settings_.peer.describe() +
                    " first, then local " + settings_.local.describe() + "; peer mode " +
                    std::string(to_string(stored_mode())) + ")");
  std::lock_guard l(observed_mu_);
  observed_.endpoint_error.clear();
}

void KvStorePlugin::stop_endpoint() {
  std::shared_ptr<Endpoint> ep;
  {
    std::lock_guard l(endpoint_mu_);
    ep.swap(endpoint_);
  }
  if (ep) {
    ep->stop();
    host_->log().info("RESP endpoint stopped");
  }
}

sdk::Status KvStorePlugin::start() {
  if (!host_) return sdk::Status::failure("start() before configure()");
  try {
    secrets_.local_password = read_password(settings_.local);
    secrets_.peer_password = read_password(settings_.peer);
    secrets_.client_password =
        settings_.client_password_file.empty() ? std::string() : sdk::read_secret_file(settings_.client_password_file);
  } catch (const std::exception& e) {
    return sdk::Status::failure(std::string("cannot read a password file: ") + e.what());
  }
  load_peer_report();
  if (should_serve()) {
    try {
      start_endpoint();
    } catch (const ReconcileError& e) {
      // Not a configuration problem: the local Redis is down. sync() retries.
      host_->log().error(e.what());
      std::lock_guard l(observed_mu_);
      observed_.endpoint_error = e.what();
    } catch (const std::exception& e) {
      return sdk::Status::failure(std::string("cannot start the RESP endpoint: ") + e.what());
    }
  }
  started_ = true;
  return {};
}

void KvStorePlugin::stop() {
  stop_endpoint();
  started_ = false;
}

sdk::Result<sdk::SyncReport> KvStorePlugin::sync() {
  if (!started_) return sdk::SyncReport{"not started", nlohmann::json::object()};
  auto ep = endpoint();
  if (ep) {
    // A link found a newer epoch marker (fence.h): this node was superseded.
    auto s = ep->stats();
    if (s.superseded_by > 0) {
      note_superseded(s);
      ep.reset();
    }
  }
  if (ep && host_->fenced()) {
    host_->log().warn("peer holds a higher epoch: this node is fenced; stopping the RESP endpoint");
    stop_endpoint();
    ep.reset();
  } else if (!ep && should_serve()) {
    try {
      start_endpoint();
      ep = endpoint();
    } catch (const std::exception& e) {
      std::lock_guard l(observed_mu_);
      observed_.endpoint_error = e.what();
    }
  }

  // Local Redis reachability and role.
  {
    Observed probe;
    try {
      RedisSyncClient local(settings_.local, settings_.db, settings_.connect_timeout);
      auto info = local.info("replication");
      probe.local_reachable = true;
      probe.local_role = field(info, "role");
      // Again every round: a FLUSHDB through the endpoint removes the marker.
      if (ep && probe.local_role == "master") {
        try {
          raise_fence(local, "local Redis");
        } catch (const std::exception& e) {
          host_->log().warn(std::string("cannot raise the epoch marker on the local Redis: ") + e.what());
        }
      }
    } catch (const std::exception& e) {
      probe.local_error = e.what();
    }
    std::lock_guard l(observed_mu_);
    observed_.local_reachable = probe.local_reachable;
    observed_.local_error = probe.local_error;
    observed_.local_role = probe.local_role;
    observed_.at = std::chrono::system_clock::now();
  }

  save_peer_report();
  nlohmann::json details = nlohmann::json::object();
  std::string summary = "standby";
  if (ep) {
    auto stats = ep->stats();
    // In dual mode too: a rejoin rerun after a timed-out one may have made the
    // peer's Redis our replica again, which would refuse every dual write.
    auto peer = probe_peer();
    try_rejoin_cutover(*ep, peer);
    stats = ep->stats();
    if (stats.mode == PeerMode::dual && stats.peer_up && !stats.journaling && settings_.sample_rate > 0) {
      if (peer.client) {
        sample_divergence(*ep, *peer.client);
      } else {
        // The endpoint's link may not have noticed a silent peer yet; the
        // probe did, and a second wait for it here would double the round.
        std::lock_guard l(observed_mu_);
        observed_.sampler_error = "round skipped: " + peer.error;
      }
    }
    publish_metrics(stats);
    notify_peer_status(stats);
    summary =
        "primary: journal depth " + std::to_string(stats.journal_depth) + ", peer " + (stats.peer_up ? "up" : "down");
    details["journal_depth"] = stats.journal_depth;
  }
  return sdk::SyncReport{summary, details};
}

KvStorePlugin::PeerProbe KvStorePlugin::probe_peer() const {
  PeerProbe p;
  try {
    p.client = std::make_unique<RedisSyncClient>(settings_.peer, settings_.db, settings_.connect_timeout);
    p.replication = p.client->info("replication");
  } catch (const std::exception& e) {
    p.client.reset();
    p.error = e.what();
  }
  return p;
}

void KvStorePlugin::sample_divergence(Endpoint& ep, RedisSyncClient& peer) {
  auto budget = static_cast<std::uint64_t>(settings_.sample_rate) *
                static_cast<std::uint64_t>(std::max<std::int64_t>(1, settings_.sync_interval.count())) / 1000;
  if (budget == 0) budget = 1;
  try {
    RedisSyncClient local(settings_.local, settings_.db, settings_.connect_timeout);
    // The digests are read through the endpoint's ordered links, so a key
    // under continuous writes is read after the same writes on both sides.
    auto round = sampler_.sample(local, peer, budget, [&](const std::vector<std::string>& keys) {
      return ep.probe_keys(keys, settings_.command_timeout * 2);
    });
    host_->metrics().add_counter("kvstore_keys_compared_total", static_cast<double>(round.compared));
    host_->metrics().set_gauge("kvstore_keys_differing", static_cast<double>(sampler_.differing().size()));
    for (auto& d : round.differing)
      host_->log().warn("key '" + d.key + "' differs: local " + d.local + " / peer " + d.peer);
    std::lock_guard l(observed_mu_);
    observed_.keys_compared_total += round.compared;
    observed_.keys_differing = sampler_.differing().size();
    observed_.sampler_error.clear();
  } catch (const std::exception& e) {
    std::lock_guard l(observed_mu_);
    observed_.sampler_error = e.what();
  }
}

void KvStorePlugin::publish_metrics(const EndpointStats& s) {
  auto& m = host_->metrics();
  m.set_gauge("kvstore_journal_depth", static_cast<double>(s.journal_depth));
  m.set_gauge("kvstore_journal_bytes", static_cast<double>(s.journal_bytes));
  m.set_gauge("kvstore_journal_age_seconds",
              s.journal_oldest_ms ? static_cast<double>(unix_ms() - *s.journal_oldest_ms) / 1000.0 : 0.0);
  m.set_gauge("kvstore_peer_up", s.peer_up ? 1 : 0);
  m.set_gauge("kvstore_local_up", s.local_up ? 1 : 0);
  m.set_gauge("kvstore_clients", static_cast<double>(s.clients));
  m.add_counter("kvstore_writes_total", static_cast<double>(s.writes - std::min(s.writes, last_stats_.writes)));
  m.add_counter("kvstore_reads_total", static_cast<double>(s.reads - std::min(s.reads, last_stats_.reads)));
  m.add_counter("kvstore_writes_refused_total",
                static_cast<double>(s.refused - std::min(s.refused, last_stats_.refused)));
  m.add_counter("kvstore_journal_replayed_total",
                static_cast<double>(s.replayed - std::min(s.replayed, last_stats_.replayed)));
  last_stats_ = s;
}

void KvStorePlugin::notify_peer_status(const EndpointStats& s) {
  nlohmann::json msg{{"event", "kv_status"},
                     {"journal_depth", s.journal_depth},
                     {"journal_bytes", s.journal_bytes},
                     {"at_ms", unix_ms()}};
  if (s.journal_oldest_ms) msg["journal_oldest_ms"] = *s.journal_oldest_ms;
  host_->notify_peer(msg);
}

sdk::Health KvStorePlugin::health() const {
  if (!started_) return sdk::Health::make(sdk::HealthStatus::stopped, "not started");
  Observed o;
  {
    std::lock_guard l(observed_mu_);
    o = observed_;
  }
  auto ep = endpoint();
  sdk::Health h;
  h.observed_at = o.at.time_since_epoch().count() ? o.at : std::chrono::system_clock::now();
  const std::string& peer_addr = host_->peer().address;
  h.details["local_redis"] = settings_.local.describe();
  h.details["peer_redis"] = settings_.peer.describe();
  h.details["local_reachable"] = o.local_reachable;
  h.details["keys_compared_total"] = o.keys_compared_total;
  h.details["keys_differing"] = o.keys_differing;
  if (!o.sampler_error.empty()) h.details["sampler_error"] = o.sampler_error;
  if (o.superseded_by > 0) {
    h.details["superseded_by_epoch"] = o.superseded_by;
    h.details["superseded_writes_discarded"] = o.discarded;
    if (!o.discarded_file.empty()) h.details["discarded_journal"] = o.discarded_file;
  }
  if (!ep) {
    h.details["endpoint"] = "not listening (this node is not the active primary)";
    if (o.superseded_by > 0 && !host_->fenced() && host_->role() == sdk::Role::primary) {
      h.status = sdk::HealthStatus::degraded;
      h.summary = "superseded: " + o.superseded_reason + "; " + std::to_string(o.discarded) +
                  " writes of this node's timeline discarded" +
                  (o.discarded_file.empty() ? std::string() : " (journal kept in " + o.discarded_file + ")") +
                  "; run rejoin on this node";
    } else if (host_->role() == sdk::Role::primary && !o.endpoint_error.empty()) {
      h.status = sdk::HealthStatus::failed;
      h.summary = "RESP endpoint cannot start: " + o.endpoint_error;
    } else if (!o.local_reachable && o.at.time_since_epoch().count()) {
      h.status = sdk::HealthStatus::failed;
      h.summary = "local Redis unreachable: " + o.local_error;
    } else if (o.local_role == "slave") {
      h.status = sdk::HealthStatus::degraded;
      h.summary =
          "rejoining: local Redis copies the new primary's data; the primary resumes dual writes once it caught up";
    } else {
      h.status = o.at.time_since_epoch().count() ? sdk::HealthStatus::ok : sdk::HealthStatus::unknown;
      h.summary = host_->fenced() ? "fenced standby: local Redis receives nothing until rejoin"
                                  : "standby: local Redis receives the primary's dual writes";
    }
    h.replication.push_back({host_->node().address, "kvstore_role", "standby"});
    if (host_->role() == sdk::Role::secondary && o.peer_report_ms) {
      // Writes the primary journaled, not in this node's Redis, as it last
      // said: what automatic failover's gate weighs (maximum_lag_on_failover).
      h.lag_bytes = o.peer_journal_bytes;
      h.details["peer_journal_depth"] = o.peer_journal_depth.value_or(0);
      if (o.peer_journal_bytes) h.details["peer_journal_bytes"] = *o.peer_journal_bytes;
      h.details["peer_report_age_seconds"] = static_cast<double>(unix_ms() - o.peer_report_ms) / 1000.0;
      if (o.peer_journal_depth.value_or(0) > 0)
        h.summary += "; the primary last reported " + std::to_string(*o.peer_journal_depth) +
                     " writes journaled that are not in this node's Redis";
    }
    return h;
  }
  auto s = ep->stats();
  double age = s.journal_oldest_ms ? static_cast<double>(unix_ms() - *s.journal_oldest_ms) / 1000.0 : 0.0;
  h.lag_bytes = s.journal_bytes;
  h.lag_seconds = age;
  h.details["endpoint"] = settings_.listen_address + ":" + std::to_string(settings_.listen_port);
  h.details["peer_mode"] = std::string(to_string(s.mode));
  h.details["peer_up"] = s.peer_up;
  h.details["local_up"] = s.local_up;
  h.details["journaling"] = s.journaling;
  h.details["journal_depth"] = s.journal_depth;
  h.details["journal_bytes"] = s.journal_bytes;
  h.details["journal_age_seconds"] = age;
  h.details["peer_down_policy"] = std::string(to_string(settings_.peer_down));
  h.details["clients"] = s.clients;
  h.details["writes"] = s.writes;
  h.details["reads"] = s.reads;
  h.details["bulk_reads"] = s.bulk_reads;
  h.details["script_tap"] = s.script_tap;
  h.details["replies_moved"] = s.replies_moved;
  h.details["clients_paced"] = s.clients_paced;
  h.details["shared_large_replies"] = s.shared_large_replies;
  h.details["bytes_freed_off_io_thread"] = s.bytes_freed_off_io_thread;
  h.details["prepared_rooms_used"] = s.prepared_rooms_used;
  h.details["writes_refused"] = s.refused;
  h.details["replay_errors"] = s.replay_errors;
  if (!o.cutover_error.empty()) h.details["cutover_error"] = o.cutover_error;
  std::string link = s.mode == PeerMode::detached ? "awaiting rejoin"
                     : s.peer_up                  ? (s.journaling ? "replaying" : "up")
                                                  : "down";
  h.replication.push_back({peer_addr, "kvstore_peer_link", link});
  h.replication.push_back({peer_addr, "kvstore_journal_depth", std::to_string(s.journal_depth)});
  h.replication.push_back({peer_addr, "kvstore_keys_differing", std::to_string(o.keys_differing)});

  if (!s.local_up) {
    h.status = sdk::HealthStatus::failed;
    h.summary =
        "local Redis " + settings_.local.describe() + " unreachable (" + s.local_error + "): every request fails";
  } else if (!s.journal_error.empty()) {
    h.status = sdk::HealthStatus::failed;
    h.summary = "write journal failed (" + s.journal_error + "): writes refused; fix the disk and restart the store";
  } else if (s.mode == PeerMode::detached) {
    h.status = sdk::HealthStatus::degraded;
    h.summary =
        "peer's Redis awaits rejoin after a failover: writes go to this node only; run rejoin on the former primary";
  } else if (s.journaling && !s.peer_up && settings_.peer_down == PeerDownPolicy::refuse) {
    h.status = sdk::HealthStatus::failed;
    h.summary = "peer Redis " + settings_.peer.describe() + " unreachable (" + s.peer_error +
                "): writes refused (peer_down=refuse)";
  } else if (s.journaling) {
    h.status = sdk::HealthStatus::degraded;
    std::ostringstream os;
    os << (s.peer_up ? "replaying journal to the peer: "
                     : "peer Redis " + settings_.peer.describe() + " unreachable (" + s.peer_error + "): ")
       << s.journal_depth << " writes journaled, oldest " << static_cast<long long>(age) << "s"
       << (s.journal_full ? "; journal FULL, writes refused" : "");
    h.summary = os.str();
  } else if (o.keys_differing > 0) {
    h.status = sdk::HealthStatus::degraded;
    h.summary = std::to_string(o.keys_differing) + " keys differ between the two Redis servers (see diag compare)";
  } else {
    h.status = sdk::HealthStatus::ok;
    h.summary = "dual writes to peer " + settings_.peer.describe() + " and local " + settings_.local.describe() + "; " +
                std::to_string(s.clients) + " clients";
  }
  return h;
}

void KvStorePlugin::on_role_change(sdk::Role role, std::uint64_t) {
  if (!started_) return;
  // Fencing arrives here too (the role stays primary): stop at once rather
  // than at the next sync, which may be seconds away behind a silent peer.
  if (role == sdk::Role::secondary || host_->fenced())
    stop_endpoint();
  else if (should_serve()) {
    try {
      start_endpoint();
    } catch (const std::exception& e) {
      std::lock_guard l(observed_mu_);
      observed_.endpoint_error = e.what();
    }
  }
}

void KvStorePlugin::on_peer_event(const nlohmann::json& event) {
  auto kind = event.value("event", "");
  if (kind == "kv_status") {
    std::lock_guard l(observed_mu_);
    observed_.peer_journal_depth = event.value("journal_depth", 0ull);
    if (event.contains("journal_bytes"))
      observed_.peer_journal_bytes = event.value("journal_bytes", 0ull);
    else
      observed_.peer_journal_bytes.reset();
    if (event.contains("journal_oldest_ms"))
      observed_.peer_journal_oldest_ms = event.value("journal_oldest_ms", 0ll);
    else
      observed_.peer_journal_oldest_ms.reset();
    observed_.peer_report_ms = unix_ms();
  } else if (kind == "kv_rejoin_ready") {
    host_->request_sync();
  }
}

std::vector<sdk::Diagnostic> KvStorePlugin::diagnostics() {
  return {{"connectivity", "PING both Redis servers and show their replication roles",
           [this](const auto&) { return diagnose_connectivity(); }},
          {"compare",
           "compare every key on both Redis servers and list the ones that differ (arg: max keys listed, default 100)",
           [this](const std::vector<std::string>& args) { return diagnose_compare(args); }}};
}

sdk::DiagnosticResult KvStorePlugin::diagnose_connectivity() {
  sdk::DiagnosticResult r;
  std::ostringstream out;
  for (auto* addr : {&settings_.local, &settings_.peer}) {
    std::string label = addr == &settings_.local ? "local" : "peer";
    try {
      RedisSyncClient c(*addr, settings_.db, settings_.connect_timeout);
      auto info = c.info("replication");
      out << label << " Redis " << addr->describe() << ": reachable, role " << field(info, "role") << "\n";
      r.details[label] = {{"reachable", true}, {"role", field(info, "role")}};
    } catch (const std::exception& e) {
      r.passed = false;
      out << label << " Redis " << addr->describe() << ": " << e.what() << "\n";
      r.details[label] = {{"reachable", false}, {"error", e.what()}};
    }
  }
  r.output = out.str();
  return r;
}

sdk::Result<sdk::DiagnosticResult> KvStorePlugin::diagnose_compare(const std::vector<std::string>& args) {
  sdk::DiagnosticResult r;
  std::size_t limit = 100;
  if (!args.empty()) {
    try {
      limit = std::stoul(args[0]);
    } catch (...) {
      return sdk::Result<sdk::DiagnosticResult>::error(
          sdk::ErrorCode::invalid_argument,
          "compare: the argument is the number of keys to list, got '" + args[0] + "'");
    }
  }
  RedisSyncClient local(settings_.local, settings_.db, settings_.connect_timeout);
  RedisSyncClient peer(settings_.peer, settings_.db, settings_.connect_timeout);
  auto cmp = compare_all(local, peer, limit);
  std::ostringstream out;
  out << "local " << settings_.local.describe() << ": " << cmp.local_keys << " keys; peer " << settings_.peer.describe()
      << ": " << cmp.peer_keys << " keys; " << cmp.differing << " differ\n";
  nlohmann::json listed = nlohmann::json::array();
  for (auto& d : cmp.listed) {
    out << "  " << d.key << ": local " << d.local << " | peer " << d.peer << "\n";
    listed.push_back({{"key", d.key}, {"local", d.local}, {"peer", d.peer}});
  }
  if (cmp.differing > cmp.listed.size()) out << "  ... " << (cmp.differing - cmp.listed.size()) << " more\n";
  r.passed = cmp.differing == 0;
  r.output = out.str();
  r.details = {
      {"local_keys", cmp.local_keys}, {"peer_keys", cmp.peer_keys}, {"differing", cmp.differing}, {"keys", listed}};
  return r;
}

}  // namespace tandem::kv
