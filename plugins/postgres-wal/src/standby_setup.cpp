// The secondary side: build the standby from an empty data directory, keep it
// running, and check that an existing one can follow the primary (same
// cluster, reachable timeline) — reported, never silently rebuilt.
#include <pwd.h>
#include <unistd.h>

#include <thread>

#include "postgres_wal_plugin.h"

namespace tandem::pgwal {
namespace fs = std::filesystem;
using sdk::HealthStatus;

namespace {

void make_dir_for(const fs::path& dir, const std::string& os_user) {
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);
  struct passwd* pw = ::getpwnam(os_user.c_str());
  if (!pw || ::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    if (::geteuid() == 0) throw std::runtime_error("cannot chown " + dir.string() + " to " + os_user);
}

}  // namespace

PostgresWalPlugin::PrimaryIdentity PostgresWalPlugin::identify_primary() const {
  PgConnection conn(peer_params(true));
  auto rows = conn.query("IDENTIFY_SYSTEM");
  if (rows.empty() || rows[0].size() < 3) throw PgError("IDENTIFY_SYSTEM returned no row");
  return {rows[0][0].value_or(""), std::stoi(rows[0][1].value_or("0")), rows[0][2].value_or("")};
}

std::string PostgresWalPlugin::local_system_id() {
  return local().scalar("SELECT system_identifier::text FROM pg_control_system()");
}

bool PostgresWalPlugin::ensure_slot(PgConnection& conn, const std::string& slot) {
  if (conn.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", {slot}) != "0") return false;
  // immediately_reserve: WAL from now on is kept for the standby to come.
  conn.query("SELECT pg_create_physical_replication_slot($1, true)", {slot});
  return true;
}

bool PostgresWalPlugin::wait_until_streaming(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      auto rows = local().query("SELECT status FROM pg_stat_wal_receiver");
      if (!rows.empty() && rows[0][0] && *rows[0][0] == "streaming") return true;
    } catch (const PgError&) {
      drop_local();  // still starting up
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

nlohmann::json PostgresWalPlugin::build_standby_from_empty() {
  refresh_passfile();
  const UpstreamServer up = upstream();
  const auto started = std::chrono::steady_clock::now();
  host_->log().info("building the standby: base backup from " + up.host + ":" + std::to_string(up.port) +
                    " through slot " + settings_.slot_name + " into " + settings_.data_dir.string());
  make_dir_for(settings_.data_dir, settings_.os_user);
  std::vector<std::string> argv = {"pg_basebackup",
                                   "-h",
                                   up.host,
                                   "-p",
                                   std::to_string(up.port),
                                   "-U",
                                   settings_.replication_user,
                                   "-D",
                                   settings_.data_dir.string(),
                                   "-X",
                                   "stream",
                                   "-S",
                                   settings_.slot_name,
                                   "-c",
                                   "fast",
                                   "-w"};
  // -h/-p/-U above take precedence over the same keys in a -d conninfo.
  if (const std::string ssl = settings_.peer_ssl_conninfo(); !ssl.empty()) {
    argv.push_back("-d");
    argv.push_back(ssl.substr(1));
  }
  auto with_create = argv;
  with_create.push_back("-C");
  bool slot_created = true;
  auto result = tools_->run(with_create, std::chrono::hours(6));
  if (!result.succeeded() && result.stderr_text.find("already exists") != std::string::npos) {
    // The slot is left from an earlier standby of this pair: reuse it.
    slot_created = false;
    if (!tools_->data_dir_is_empty())
      throw std::runtime_error("pg_basebackup failed and left files in " + settings_.data_dir.string() +
                               "; empty it and retry: " + result.describe());
    result = tools_->run(argv, std::chrono::hours(6));
  }
  if (!result.succeeded())
    throw std::runtime_error("pg_basebackup from " + up.host + ":" + std::to_string(up.port) + " as " +
                             settings_.replication_user + " failed (" + result.describe() +
                             "); check the primary's pg_hba.conf has a replication entry for this host, "
                             "the role has REPLICATION and the password file is right (diag conninfo)");
  tools_->write_standby_config(up, host_->node().name);
  tools_->start_server();
  drop_local();
  const bool streaming = wait_until_streaming(settings_.promote_timeout);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  host_->log().info("standby built in " + std::to_string(static_cast<int>(seconds)) + " s, " +
                    (streaming ? "streaming" : "NOT streaming yet"));
  if (!streaming)
    throw std::runtime_error("the standby was built and started but does not stream from " + up.host + ":" +
                             std::to_string(up.port) + " within promote_timeout; see " + settings_.server_log.string());
  return {{"base_backup_seconds", seconds},
          {"slot_created", slot_created},
          {"upstream", up.host + ":" + std::to_string(up.port)}};
}

sdk::SyncReport PostgresWalPlugin::sync_as_standby() {
  nlohmann::json actions = nlohmann::json::array();
  if (!tools_->has_cluster()) {
    if (!tools_->data_dir_is_empty()) {
      const std::string why = "data_dir " + settings_.data_dir.string() +
                              " is not empty but holds no PostgreSQL cluster (no PG_VERSION); the plugin will not "
                              "overwrite it: empty or remove it to let the standby be built";
      set_health_problem(HealthStatus::failed, why);
      return {why, {}};
    }
    auto built = build_standby_from_empty();
    actions.push_back({{"built_standby", built}});
  }
  if (!tools_->server_running()) {
    if (!tools_->standby_signal_present()) {
      const std::string why =
          host_->fenced()
              ? "fenced: the peer has a higher epoch; this node's PostgreSQL (a former primary) stays shut down "
                "until `tandemctl rejoin` rewinds it and makes it follow the new primary"
              : "PostgreSQL is not running and data_dir has no standby.signal: this copy is not a standby (a former "
                "primary?); run rejoin to make it follow the primary";
      set_health_problem(HealthStatus::stopped, why);
      return {why, {}};
    }
    host_->log().warn("the standby's PostgreSQL was not running: starting it");
    tools_->start_server();
    drop_local();
    actions.push_back("started the standby");
  }

  ServerView view = observe_server(local());
  if (!view.in_recovery && host_->fenced()) {
    fence_local_primary();
    return {"fenced: shut down this node's PostgreSQL, which was still a primary", {}};
  }
  nlohmann::json primary_check;
  if (view.standby) {
    const bool streaming = view.standby->receiver_status == "streaming";
    if (streaming) {
      not_streaming_syncs_ = 0;
      standby_problem_.clear();
      if (view.standby->replay_gap) lag_history_.add(*view.standby->replay_gap);
    } else {
      ++not_streaming_syncs_;
      lag_history_.clear();
      // Find out why it does not stream: another cluster, or a timeline it cannot follow.
      try {
        const PrimaryIdentity primary = identify_primary();
        const std::string own = local_system_id();
        if (primary.system_id != own)
          standby_problem_ = "this standby belongs to another cluster (system identifier " + own +
                             ", the primary's is " + primary.system_id +
                             "); it cannot follow: run the 'basebackup' action to rebuild it";
        // A standby restarted a moment ago has not fetched the new timeline
        // yet: only a lasting difference means it cannot follow.
        else if (primary.timeline != view.standby->timeline && not_streaming_syncs_ >= 5)
          standby_problem_ = "this standby is on timeline " + std::to_string(view.standby->timeline) +
                             " and the primary on " + std::to_string(primary.timeline) +
                             "; it may have diverged: run rejoin (pg_rewind), or the 'basebackup' action";
        else
          standby_problem_.clear();
        primary_check = {{"reachable", true},
                         {"system_identifier", primary.system_id},
                         {"timeline", primary.timeline},
                         {"wal_lsn", primary.wal_lsn}};
      } catch (const std::exception& e) {
        standby_problem_.clear();
        primary_check = {{"reachable", false}, {"error", e.what()}};
      }
    }
  } else {
    lag_history_.clear();
  }
  record_metrics(view);
  sdk::Health h = health_from_view(view, health_inputs());
  if (!standby_problem_.empty() && view.standby) {
    h.status = HealthStatus::failed;
    h.summary = standby_problem_;
  }
  if (!actions.empty()) h.details["actions"] = actions;
  if (!primary_check.is_null()) h.details["primary_check"] = primary_check;
  save_peer_wal_report();
  if (auto r = peer_wal_.latest()) {
    h.details["primary_reported"] = {{"lsn", r->lsn},
                                     {"timeline", r->timeline},
                                     {"standby_sync_state", r->standby_sync_state},
                                     {"age_seconds", (unix_now_ms() - r->received_unix_ms) / 1000.0}};
    if (view.standby && host_->role() == sdk::Role::secondary)
      apply_primary_report(h, *view.standby, *r, settings_, unix_now_ms());
  }
  sdk::SyncReport report{h.summary, h.details};
  publish(std::move(h));
  return report;
}

void PostgresWalPlugin::fence_local_primary() {
  // The peer was promoted at a higher epoch: a second writable primary would
  // take writes that pg_rewind throws away at rejoin. A fast shutdown ends
  // every session (open transactions roll back, committed ones are kept) and
  // leaves a cleanly shut down cluster, which is what pg_rewind wants.
  host_->log().error(
      "fenced: this node's PostgreSQL is still a primary; shutting it down (pg_ctl stop -m fast) so "
      "it takes no writes until `tandemctl rejoin`");
  drop_local();
  lag_history_.clear();
  tools_->stop_server("fast");
  set_health_problem(HealthStatus::stopped,
                     "fenced: the peer has a higher epoch; this node's PostgreSQL was a primary and has been shut "
                     "down so it takes no writes; run `tandemctl rejoin` on this node");
}

}  // namespace tandem::pgwal
