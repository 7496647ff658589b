// prepare / promote / demote / rejoin, and the fresh base backup action.
// Each step is idempotent: it first looks at what is already true.
#include <algorithm>
#include <iomanip>
#include <sstream>
#include <thread>

#include "postgres_wal_plugin.h"

namespace tandem::pgwal {
namespace fs = std::filesystem;

namespace {

std::string last_lines(const std::string& text, std::size_t n) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  std::string out;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
    out += (out.empty() ? "" : "\n") + lines[i];
  return out;
}

}  // namespace

sdk::Result<sdk::PrepareReport> PostgresWalPlugin::prepare(const sdk::FailoverRequest& request) {
  sdk::PrepareReport report;
  ServerView view;
  try {
    view = observe_server(local());
  } catch (const std::exception& e) {
    drop_local();
    report.ready = false;
    report.refusal = std::string("this node's PostgreSQL cannot be reached: ") + e.what() +
                     "; start it (a standby is started by the plugin's sync) before promoting";
    return report;
  }
  if (!view.in_recovery) {
    report.loss_summary = "nothing (already a primary)";
    report.loss = {{"bytes_not_replayed", 0}, {"timeline", view.primary->timeline}};
    report.plan = "nothing: PostgreSQL here is already a primary";
    return report;
  }
  const StandbyView& s = *view.standby;
  nlohmann::json loss = {{"timeline", s.timeline}, {"replay_lsn", s.replay_lsn ? *s.replay_lsn : ""}};
  std::optional<std::uint64_t> not_replayed = s.replay_gap;
  bool primary_alive = false;
  try {
    // Bounded by the host's probe timeout: a silent old primary must not
    // hold a takeover for this store's own connect_timeout.
    ConnectParams probe = peer_params(false);
    probe.connect_timeout = std::min(probe.connect_timeout, request.peer_timeout);
    PgConnection peer(probe);
    auto rows = peer.query(
        "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL "
        "ELSE pg_current_wal_lsn()::text END");
    primary_alive = rows.at(0).at(0).value_or("t") == "f";
    if (primary_alive && rows[0][1]) {
      not_replayed = std::stoull(local().scalar(
          "SELECT greatest(0, pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()))::bigint", {*rows[0][1]}));
      loss["primary_lsn"] = *rows[0][1];
    }
  } catch (const std::exception& e) {
    loss["primary_unreachable"] = e.what();
  }
  loss["bytes_not_replayed"] = not_replayed ? nlohmann::json(*not_replayed) : nlohmann::json("unknown");
  loss["primary_alive"] = primary_alive;
  loss["wal_receiver_status"] = s.receiver_status;
  if (!not_replayed)
    report.loss_summary = "unknown: no WAL position known for the primary";
  else if (*not_replayed == 0)
    report.loss_summary = "nothing: the standby has replayed all WAL it knows of";
  else
    report.loss_summary = std::to_string(*not_replayed) + " bytes of WAL not yet replayed here" +
                          std::string(primary_alive ? " (the primary is up: switchover loses nothing)" : "");
  // An unreachable primary may still be committing, whatever the WAL
  // receiver says: a cut without a reset leaves it "streaming" until
  // wal_receiver_timeout, while the primary, finding this standby silent,
  // degrades (on_standby_loss = degrade) and acknowledges commits it never
  // sends here. What it wrote after what this standby received is unknown.
  const bool unreachable = loss.contains("primary_unreachable");
  if (!primary_alive && (unreachable || s.receiver_status != "streaming")) {
    if (unreachable && not_replayed)
      report.loss_summary = "unknown: the primary cannot be reached and may still be committing; " +
                            (*not_replayed == 0 ? std::string("this standby has replayed all WAL it received")
                                                : std::to_string(*not_replayed) +
                                                      " bytes it received are not replayed yet (promote "
                                                      "replays them)");
    // The primary's last report (peer_wal_report.h) bounds the loss from
    // below: WAL it had written by then and this standby never received.
    // A report of another timeline describes an earlier primary: not used.
    std::optional<PeerWalReport> reported = peer_wal_.latest();
    if (reported && reported->timeline != s.timeline) reported.reset();
    std::optional<std::uint64_t> known_lost;
    if (reported) {
      known_lost = std::stoull(local().scalar(
          "SELECT greatest(0, pg_wal_lsn_diff($1::pg_lsn, greatest(coalesce(pg_last_wal_receive_lsn(), '0/0'), "
          "coalesce(pg_last_wal_replay_lsn(), '0/0'))))::bigint",
          {reported->lsn}));
      const double age = (unix_now_ms() - reported->received_unix_ms) / 1000.0;
      loss["primary_reported_lsn"] = reported->lsn;
      loss["primary_report_age_seconds"] = age;
      loss["bytes_lost_at_least"] = *known_lost;
      std::ostringstream age_text;
      age_text << std::fixed << std::setprecision(1) << age;
      if (*known_lost > 0)  // then not "nothing": the bound leads
        report.loss_summary = "at least " + std::to_string(*known_lost) +
                              " bytes of WAL the primary had written by its last report (" + age_text.str() +
                              " s ago, up to " + reported->lsn +
                              ") never reached this standby and would be lost, and WAL it wrote after that report is "
                              "unknown; " +
                              (not_replayed ? std::to_string(*not_replayed) : std::string("unknown")) +
                              " bytes of what it received are not replayed yet (promote replays them)";
      else
        report.loss_summary += "; this standby has all WAL the primary had written by its last report (" +
                               age_text.str() + " s ago, up to " + reported->lsn +
                               "); WAL it wrote after that report is unknown and would be lost";
    } else {
      report.loss_summary += "; WAL the primary wrote after what this standby received is unknown and would be lost";
    }
    // With synchronous replication that WAL holds no acknowledged commit,
    // unless the primary had already degraded to async (on_standby_loss).
    if (settings_.synchronous)
      report.loss_summary += settings_.on_standby_loss == StandbyLossPolicy::block
                                 ? " (synchronous, on_standby_loss = block: no acknowledged commit is among it)"
                                 : " (synchronous: no acknowledged commit is among it unless the primary had degraded "
                                   "to async, on_standby_loss = degrade, for lack of this standby)";
  }
  report.loss = loss;
  if (primary_alive && request.kind == sdk::FailoverKind::failover && !request.force) {
    report.ready = false;
    report.refusal = "the primary at " + upstream().host + ":" + std::to_string(upstream().port) +
                     " is still up and a primary: use switchover (zero loss), or force to promote anyway "
                     "(two primaries: writes on the old one would be lost)";
  }
  report.plan = std::string(request.handoff.contains("final_lsn") ? "wait until replay reaches the old primary's "
                                                                    "final checkpoint; "
                                                                  : "") +
                "pg_promote(wait => true); verify pg_is_in_recovery() = false; CHECKPOINT; create slot " +
                settings_.slot_name + " for the old primary" +
                (settings_.synchronous ? "; synchronous_standby_names per on_standby_loss" : "");
  return report;
}

sdk::Result<sdk::StepReport> PostgresWalPlugin::promote(const sdk::FailoverRequest& request) {
  drop_local();  // a fresh connection: the step must not trip on a stale one
  PgConnection& conn = local();
  nlohmann::json details = nlohmann::json::object();
  bool changed = false;
  if (conn.scalar("SELECT pg_is_in_recovery()") == "t") {
    if (request.handoff.contains("final_lsn")) {
      const std::string final_lsn = request.handoff["final_lsn"].get<std::string>();
      const auto deadline = std::chrono::steady_clock::now() + settings_.promote_timeout;
      std::string replayed;
      bool reached = false;
      while (true) {
        auto rows = conn.query(
            "SELECT pg_last_wal_replay_lsn()::text, "
            "pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0",
            {final_lsn});
        replayed = rows.at(0)[0].value_or("none");
        reached = rows[0][1].value_or("f") == "t";
        if (reached || std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      details["waited_for_lsn"] = final_lsn;
      details["replayed_lsn"] = replayed;
      if (!reached && !request.force)
        return sdk::Result<sdk::StepReport>::failure(
            "not promoting: replay reached only " + replayed + ", the old primary's final checkpoint is at " +
            final_lsn + " (promoting now would lose the difference); check streaming, or force");
    }
    const auto wait_s =
        std::max<long long>(1, std::chrono::duration_cast<std::chrono::seconds>(settings_.promote_timeout).count());
    const std::string done = conn.scalar("SELECT pg_promote(true, $1::int)", {std::to_string(wait_s)});
    if (done != "t" || conn.scalar("SELECT pg_is_in_recovery()") != "f")
      return sdk::Result<sdk::StepReport>::failure("pg_promote did not finish within promote_timeout; see " +
                                                   settings_.server_log.string());
    changed = true;
  }
  // The control file takes the new timeline at the next checkpoint; pg_rewind
  // on the old primary reads it from there, so make it happen now.
  conn.query("CHECKPOINT");
  details["slot_created"] = ensure_slot(conn, settings_.slot_name);
  if (settings_.synchronous) {
    standby_missing_since_ = std::chrono::steady_clock::now();
    sync_mode_ =
        settings_.on_standby_loss == StandbyLossPolicy::block ? SyncModeState::blocking : SyncModeState::degraded;
    set_synchronous_names(conn, synchronous_names_for(sync_mode_));
    details["synchronous"] = to_string(sync_mode_);
  }
  auto pos = conn.query(
      "SELECT pg_current_wal_lsn()::text, "
      "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int");
  details["lsn"] = pos.at(0)[0].value_or("");
  details["timeline"] = std::stoi(pos[0][1].value_or("0"));
  lag_history_.clear();
  const std::string summary =
      changed ? "promoted: PostgreSQL left recovery on timeline " + std::to_string(details["timeline"].get<int>())
              : "already a primary (timeline " + std::to_string(details["timeline"].get<int>()) + ")";
  host_->log().info(summary);
  return sdk::StepReport{changed, summary, details};
}

sdk::Result<sdk::StepReport> PostgresWalPlugin::demote(const sdk::FailoverRequest& request) {
  if (!tools_->has_cluster())
    return sdk::Result<sdk::StepReport>::failure("no cluster in " + settings_.data_dir.string());
  bool changed = false;
  if (tools_->server_running()) {
    drop_local();
    PgConnection& conn = local();
    if (conn.scalar("SELECT pg_is_in_recovery()") == "t")
      return sdk::StepReport{false, "already a standby: nothing to demote", {}};
    ServerView view = observe_server(conn);
    if (!main_standby(*view.primary) && !request.force)
      return sdk::Result<sdk::StepReport>::failure(
          "no standby is streaming from this primary: a switchover now would lose what the standby lacks; "
          "bring the standby back first, or force");
    host_->log().info("demote: clean shutdown (pg_ctl stop -m fast) so every WAL record reaches the standby");
    drop_local();
    tools_->stop_server("fast");
    changed = true;
  }
  auto cd = tools_->controldata();
  const std::string state = cd["Database cluster state"];
  if (state != "shut down" && state != "shut down in recovery")
    return sdk::Result<sdk::StepReport>::failure(
        "PostgreSQL is not running and was not shut down cleanly (cluster state '" + state +
        "'): its final position is unknown, so this is no switchover; promote the standby as a failover, "
        "then rejoin this node (pg_rewind)");
  // From here on an accidental start brings it up as a standby of the peer,
  // never as a second primary.
  tools_->write_standby_config(upstream(), host_->node().name);
  nlohmann::json details = {{"final_lsn", cd["Latest checkpoint location"]},
                            {"timeline", cd["Latest checkpoint's TimeLineID"]},
                            {"cluster_state", state}};
  return sdk::StepReport{changed,
                         (changed ? "shut down cleanly; " : "already shut down; ") +
                             std::string("final checkpoint at ") + cd["Latest checkpoint location"] +
                             "; standby.signal written (follows the peer)",
                         details};
}

bool PostgresWalPlugin::rewind_possible(std::string& why) {
  auto cd = tools_->controldata();
  const bool hints = cd["wal_log_hints setting"] == "on";
  const bool checksums = cd["Data page checksum version"] != "0" && !cd["Data page checksum version"].empty();
  if (hints || checksums) return true;
  why =
      "pg_rewind is impossible here: the cluster has neither wal_log_hints = on nor data checksums. Run the "
      "'basebackup' action to rebuild this node from a fresh base backup, and set wal_log_hints = on for next time";
  return false;
}

sdk::Result<sdk::StepReport> PostgresWalPlugin::rejoin(const sdk::FailoverRequest& request) {
  (void)request;
  refresh_passfile();
  const UpstreamServer up = upstream();
  if (!tools_->has_cluster()) {
    if (!tools_->data_dir_is_empty())
      return sdk::Result<sdk::StepReport>::failure("data_dir holds files but no cluster; empty it to rebuild");
    auto built = build_standby_from_empty();
    return sdk::StepReport{true, "built a new standby from a base backup", built};
  }
  // The peer must be the primary we are to follow; check before touching anything.
  PgConnection peer(peer_params(false));
  if (peer.scalar("SELECT pg_is_in_recovery()") != "f")
    return sdk::Result<sdk::StepReport>::failure("the peer's PostgreSQL at " + up.host + ":" + std::to_string(up.port) +
                                                 " is not a primary: promote it first, then rejoin this node");
  const std::string peer_tli =
      peer.scalar("SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int::text");
  if (tools_->server_running()) {
    drop_local();
    ServerView view = observe_server(local());
    if (view.standby && view.standby->receiver_status == "streaming" &&
        std::to_string(view.standby->timeline) == peer_tli && tools_->standby_signal_present())
      return sdk::StepReport{false, "already a standby streaming from the primary on timeline " + peer_tli, {}};
    host_->log().info("rejoin: stopping this node's PostgreSQL to rewind it");
    drop_local();
    tools_->stop_server("fast");
  }
  std::string why;
  if (!rewind_possible(why)) return sdk::Result<sdk::StepReport>::failure(why);
  const bool slot_created = ensure_slot(peer, settings_.slot_name);
  const auto timeout_s =
      std::max<long long>(2, std::chrono::ceil<std::chrono::seconds>(settings_.connect_timeout).count());
  const std::string source = "host=" + conninfo_quote(up.host) + " port=" + std::to_string(up.port) +
                             " user=" + conninfo_quote(settings_.user) +
                             " dbname=" + conninfo_quote(settings_.database) +
                             " connect_timeout=" + std::to_string(timeout_s) + settings_.peer_ssl_conninfo();
  host_->log().info("rejoin: pg_rewind against " + up.host + ":" + std::to_string(up.port));
  // pg_rewind (PG 13+) first runs crash recovery in single-user mode if the
  // old primary was not shut down cleanly (kill -9, power loss).
  tools_->wait_until_postmaster_reaped(std::chrono::seconds(60));
  sdk::ProcessResult rewind;
  try {
    rewind =
        tools_->run_checked("pg_rewind", {"pg_rewind", "-D", settings_.data_dir.string(), "--source-server", source},
                            std::chrono::hours(6));
  } catch (const std::exception& e) {
    const std::string what = e.what();
    // pg_rewind reads this node's own WAL back from the fork to the last
    // checkpoint before it; a checkpoint since (the fence's shutdown one
    // included) may have recycled it. Nothing short of a base backup helps then.
    if (what.find("could not find previous WAL record") == std::string::npos &&
        what.find("could not open file") == std::string::npos)
      throw;
    throw std::runtime_error(
        what +
        "; rewind is impossible: this node no longer has the WAL from its last checkpoint before the fork (recycled "
        "by a later checkpoint). Run the 'basebackup' action (`tandemctl action " +
        host_->store_name() +
        " basebackup`) to rebuild this node from the primary, then rejoin; to keep rewinds possible set "
        "wal_keep_size (at least max_wal_size) on both nodes");
  }
  const std::string output = rewind.stdout_text + rewind.stderr_text;
  const bool rewound = output.find("no rewind required") == std::string::npos;
  tools_->write_standby_config(up, host_->node().name);
  tools_->start_server();
  drop_local();
  if (!wait_until_streaming(settings_.promote_timeout))
    return sdk::Result<sdk::StepReport>::failure("rewound and started as a standby of " + up.host + ":" +
                                                 std::to_string(up.port) + ", but it does not stream; see " +
                                                 settings_.server_log.string());
  lag_history_.clear();
  standby_problem_.clear();
  return sdk::StepReport{true,
                         std::string(rewound ? "rewound with pg_rewind, " : "no rewind needed, ") +
                             "now streaming from " + up.host + ":" + std::to_string(up.port),
                         {{"rewound", rewound}, {"slot_created", slot_created}, {"pg_rewind", last_lines(output, 5)}}};
}

sdk::StepReport PostgresWalPlugin::rebuild_standby(const nlohmann::json& args) {
  const bool force = args.is_object() && args.value("force", false);
  if (host_->role() == sdk::Role::primary && !host_->fenced() && !force)
    throw std::runtime_error(
        "refusing to rebuild: this node is the primary (pass {\"force\": true} only if it "
        "truly is not)");
  if (tools_->has_cluster() && tools_->server_running()) {
    drop_local();
    if (local().scalar("SELECT pg_is_in_recovery()") == "f" && !force)
      throw std::runtime_error("refusing to rebuild: this node's PostgreSQL is a primary; demote or rejoin first");
    drop_local();
    tools_->stop_server("fast");
  }
  std::string moved;
  if (fs::exists(settings_.data_dir) && !tools_->data_dir_is_empty()) {
    // Kept, not deleted: the operator removes it once the new standby is good.
    const auto stamp =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    fs::path aside = settings_.data_dir;
    aside += ".tandem-old-" + std::to_string(stamp);
    fs::rename(settings_.data_dir, aside);
    moved = aside.string();
  }
  auto built = build_standby_from_empty();
  built["old_data_dir"] = moved;
  lag_history_.clear();
  standby_problem_.clear();
  return {true, "rebuilt the standby from a fresh base backup" + (moved.empty() ? "" : "; old data kept in " + moved),
          built};
}

std::vector<sdk::Action> PostgresWalPlugin::actions() {
  return {{"basebackup",
           "Rebuild this (secondary) node from a fresh base backup of the primary; the old data directory is moved "
           "aside, not deleted. Args: {\"force\": true} to override the primary check",
           [this](const nlohmann::json& args) -> sdk::Result<nlohmann::json> {
             auto step = rebuild_standby(args);
             return nlohmann::json{{"changed", step.changed}, {"summary", step.summary}, {"details", step.details}};
           }},
          sdk::clone_test_action(
              "Copy this node's PostgreSQL into a test instance (tandemctl clone-test): a base backup of the local "
              "server opened on its own timeline, never connected to the pair. Args: {\"dir\", \"port\", \"refresh\", "
              "\"mask_sql\", \"mask_command\"}",
              [this](const sdk::CloneTestArgs& args) { return clone_test(args); })};
}

}  // namespace tandem::pgwal
