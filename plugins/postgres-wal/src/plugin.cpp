// Lifecycle, the periodic sync (measure, manage, publish) and health.
#include <sstream>

#include "postgres_wal_plugin.h"
#include "tandem/sdk/file_util.h"

namespace tandem::pgwal {

using sdk::HealthStatus;

namespace {

constexpr const char* kPeerWalStateKey = "peer_wal_report";

}  // namespace

sdk::PluginInfo PostgresWalPlugin::info() const {
  // Name, version and description: the TANDEM_PLUGIN line in export.cpp.
  return {.failover_order = sdk::kOrderDatabase, .default_sync_interval = "1s"};
}

sdk::Status PostgresWalPlugin::configure(const sdk::StoreConfig& config, sdk::HostContext& host) {
  TANDEM_TRY_ASSIGN(settings_, parse_settings(config));
  host_ = &host;
  tools_ = std::make_unique<PgTools>(settings_);
  sync_mode_ = settings_.synchronous ? SyncModeState::pending : SyncModeState::off;
  return {};
}

sdk::Status PostgresWalPlugin::start() {
  // The passfile is what PostgreSQL's programs (and the standby's WAL
  // receiver) authenticate with; write it before anything needs it.
  refresh_passfile();
  if (auto saved = host_->state().get(kPeerWalStateKey))
    if (auto report = from_state_text(*saved)) peer_wal_.set(*report);
  (void)peer_wal_.take_unsaved();
  host_->metrics().describe("postgres_wal_lag_bytes", "Replay lag of the standby in bytes (primary: per standby)");
  host_->metrics().describe("postgres_wal_streaming", "1 when WAL streaming between the pair is running");
  host_->log().info("postgres-wal started for data_dir " + settings_.data_dir.string() + ", port " +
                    std::to_string(settings_.port));
  return {};
}

void PostgresWalPlugin::stop() { drop_local(); }

ConnectParams PostgresWalPlugin::local_params() const {
  ConnectParams p;
  p.host = settings_.host;
  p.port = settings_.port;
  p.user = settings_.user;
  p.database = settings_.database;
  if (!settings_.password_file.empty()) p.password = sdk::read_secret_file(settings_.password_file);
  p.connect_timeout = settings_.connect_timeout;
  p.statement_timeout = settings_.statement_timeout;
  return p;
}

ConnectParams PostgresWalPlugin::peer_params(bool replication) const {
  ConnectParams p = local_params();
  const UpstreamServer up = upstream();
  p.host = up.host;
  p.port = up.port;
  p.replication = replication;
  p.sslmode = settings_.peer_sslmode;
  p.sslrootcert = settings_.peer_sslrootcert.string();
  if (replication) {
    p.user = settings_.replication_user;
    p.password = settings_.replication_password_file.empty()
                     ? std::string()
                     : sdk::read_secret_file(settings_.replication_password_file);
  }
  return p;
}

UpstreamServer PostgresWalPlugin::upstream() const {
  return {settings_.peer_host.empty() ? host_->peer().address : settings_.peer_host, settings_.peer_port};
}

PgConnection& PostgresWalPlugin::local() {
  if (conn_ && !conn_->ok()) conn_.reset();
  if (!conn_) conn_ = std::make_unique<PgConnection>(local_params());
  return *conn_;
}

void PostgresWalPlugin::refresh_passfile() {
  std::vector<PassfileEntry> entries;
  if (!settings_.replication_password_file.empty())
    entries.push_back({settings_.replication_user, sdk::read_secret_file(settings_.replication_password_file)});
  if (!settings_.password_file.empty())
    entries.push_back({settings_.user, sdk::read_secret_file(settings_.password_file)});
  tools_->write_passfile(entries);
}

HealthInputs PostgresWalPlugin::health_inputs() const {
  HealthInputs in;
  in.settings = &settings_;
  in.role = host_->role();
  in.fenced = host_->fenced();
  in.own_address = host_->node().address;
  in.peer_address = host_->peer().address;
  in.lag_increasing = lag_history_.increasing();
  in.lag_slope_bytes_per_second = lag_history_.slope_bytes_per_second();
  in.sync_mode = sync_mode_;
  return in;
}

void PostgresWalPlugin::publish(sdk::Health h) {
  std::lock_guard lock(health_mu_);
  health_ = std::move(h);
}

void PostgresWalPlugin::set_health_problem(HealthStatus status, const std::string& why) {
  sdk::Health h = health_unreachable(why, health_inputs());
  h.status = status;
  publish(std::move(h));
}

sdk::Health PostgresWalPlugin::health() const {
  std::lock_guard lock(health_mu_);
  return health_;
}

void PostgresWalPlugin::record_metrics(const ServerView& view) {
  auto& m = host_->metrics();
  if (view.primary) {
    // The standby learns how far this primary's WAL is, each sync: if this
    // node dies with the stream already broken, its prepare can say how much
    // WAL is lost at least, not only "unknown".
    // With it, whether this standby is the synchronous one: automatic
    // failover's gate refuses a standby that was not (health_model.h).
    const StandbyStatus* s = main_standby(*view.primary);
    host_->notify_peer(wal_position_message(view.primary->current_lsn, view.primary->timeline,
                                            s && s->state == "streaming" ? s->sync_state : "none"));
    save_peer_wal_report();  // a report cleared on promotion leaves the state too
    m.set_gauge("postgres_wal_streaming", s ? 1 : 0);
    for (const auto& st : view.primary->standbys)
      if (st.replay_gap)
        m.set_gauge("postgres_wal_lag_bytes", static_cast<double>(*st.replay_gap), {{"standby", st.address}});
  } else if (view.standby) {
    m.set_gauge("postgres_wal_streaming", view.standby->receiver_status == "streaming" ? 1 : 0);
    if (view.standby->replay_gap)
      m.set_gauge("postgres_wal_lag_bytes", static_cast<double>(*view.standby->replay_gap), {{"standby", "self"}});
  }
}

sdk::Result<sdk::SyncReport> PostgresWalPlugin::sync() {
  if (host_->role() == sdk::Role::secondary || host_->fenced()) {
    try {
      return sync_as_standby();
    } catch (const std::exception& e) {
      drop_local();
      lag_history_.clear();
      set_health_problem(HealthStatus::failed, std::string("standby: ") + e.what());
      return sdk::Result<sdk::SyncReport>::failure(e.what());
    }
  }
  ServerView view;
  try {
    view = observe_server(local());
    if (view.primary) {
      sync_mode_ = manage_synchronous(*view.primary);
      if (settings_.synchronous) view.primary->synchronous_standby_names = synchronous_names_for(sync_mode_);
    }
  } catch (const std::exception& e) {
    drop_local();
    lag_history_.clear();
    const bool running = tools_->has_cluster() && tools_->server_running();
    set_health_problem(running ? HealthStatus::failed : HealthStatus::stopped,
                       std::string(running ? "cannot query PostgreSQL: " : "PostgreSQL is not running: ") + e.what());
    return sdk::Result<sdk::SyncReport>::failure(e.what());
  }
  if (view.primary) {
    const StandbyStatus* s = main_standby(*view.primary);
    if (s && s->replay_gap)
      lag_history_.add(*s->replay_gap);
    else
      lag_history_.clear();
  }
  record_metrics(view);
  sdk::Health h = health_from_view(view, health_inputs());
  sdk::SyncReport report{h.summary, h.details};
  publish(std::move(h));
  return report;
}

void PostgresWalPlugin::on_peer_event(const nlohmann::json& event) {
  if (auto report = parse_wal_position(event, unix_now_ms())) peer_wal_.set(*report);
}

void PostgresWalPlugin::save_peer_wal_report() {
  if (!peer_wal_.take_unsaved()) return;
  auto report = peer_wal_.latest();
  if (report)
    host_->state().put(kPeerWalStateKey, to_state_text(*report));
  else
    host_->state().erase(kPeerWalStateKey);
}

void PostgresWalPlugin::on_role_change(sdk::Role role, std::uint64_t epoch) {
  host_->log().info("role is now " + std::string(sdk::to_string(role)) + " at epoch " + std::to_string(epoch));
  // A report describes the peer as primary; once this node is, it is void.
  if (role == sdk::Role::primary) peer_wal_.clear();
  lag_history_.clear();
  standby_missing_since_.reset();
  standby_problem_.clear();
  host_->request_sync();
}

}  // namespace tandem::pgwal
