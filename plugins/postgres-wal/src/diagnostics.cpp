// Checks for `tandemctl diag`: they need only configure() (the daemon may be
// down), so each opens its own connections and closes them.
#include <sstream>

#include "postgres_wal_plugin.h"

namespace tandem::pgwal {
namespace {

using sdk::DiagnosticResult;

std::string line_of(const Row& r, std::size_t i) { return i < r.size() && r[i] ? *r[i] : "NULL"; }

// The prerequisites of streaming replication and pg_rewind, checked on one server.
DiagnosticResult check_settings(PgConnection& conn, const std::string& label) {
  DiagnosticResult out;
  std::ostringstream text;
  auto setting = [&](const std::string& name) { return conn.scalar("SELECT current_setting($1)", {name}); };
  auto check = [&](bool ok, const std::string& what, const std::string& fix) {
    text << (ok ? "ok    " : "FAIL  ") << label << ": " << what << (ok ? "" : "  -> " + fix) << "\n";
    if (!ok) out.passed = false;
    out.details[what] = ok;
  };
  const std::string wal_level = setting("wal_level");
  check(wal_level == "replica" || wal_level == "logical", "wal_level = " + wal_level,
        "set wal_level = replica and restart");
  check(std::stoi(setting("max_wal_senders")) >= 2, "max_wal_senders = " + setting("max_wal_senders"),
        "set max_wal_senders >= 2 (one for streaming, one for pg_basebackup) and restart");
  check(std::stoi(setting("max_replication_slots")) >= 1, "max_replication_slots = " + setting("max_replication_slots"),
        "set max_replication_slots >= 1 and restart");
  check(setting("hot_standby") == "on", "hot_standby = " + setting("hot_standby"),
        "set hot_standby = on (the plugin monitors the standby over SQL)");
  const bool hints = setting("wal_log_hints") == "on", checksums = setting("data_checksums") == "on";
  check(hints || checksums,
        "wal_log_hints = " + setting("wal_log_hints") + ", data_checksums = " + setting("data_checksums"),
        "set wal_log_hints = on and restart: without it (or checksums) pg_rewind cannot rejoin a failed primary");
  const std::string hba = conn.scalar(
      "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database) OR 'all' = ANY(database)");
  check(hba != "0", "pg_hba.conf has a replication entry", "add 'host replication <role> <peer>/32 scram-sha-256'");
  text << "info  " << label << ": synchronous_standby_names = '" << setting("synchronous_standby_names")
       << "', listen_addresses = '" << setting("listen_addresses") << "'\n";
  out.output = text.str();
  return out;
}

}  // namespace

// The rows `tandemctl diag` lists and runs, each one check.
std::vector<sdk::Diagnostic> PostgresWalPlugin::diagnostics() {
  return {
      {"conninfo", "Can this node reach the peer's PostgreSQL as the replication role (and as `user` for pg_rewind)",
       [this](const auto&) { return diagnose_conninfo(); }},
      {"slots", "Replication slots on the primary: existence, active, WAL retained (warn past slot_warn_bytes)",
       [this](const auto&) { return diagnose_slots(); }},
      {"timeline", "Timelines and system identifiers of both servers (same cluster? diverged?)",
       [this](const auto&) { return diagnose_timeline(); }},
      {"settings",
       "Prerequisites: wal_level, max_wal_senders, max_replication_slots, hot_standby, "
       "wal_log_hints or checksums, a pg_hba replication entry",
       [this](const auto&) { return diagnose_settings(); }},
      {"lag", "Replication lag as measured now (primary: per standby; standby: received vs replayed)",
       [this](const auto&) { return diagnose_lag(); }}};
}

DiagnosticResult PostgresWalPlugin::diagnose_conninfo() {
  DiagnosticResult out;
  std::ostringstream text;
  const auto peer = peer_params(true);
  try {
    PgConnection conn(peer);
    auto row = conn.query("IDENTIFY_SYSTEM").at(0);
    text << "ok    replication connection " << peer.describe() << ": system " << line_of(row, 0) << ", timeline "
         << line_of(row, 1) << ", WAL at " << line_of(row, 2) << "\n";
    out.details["replication"] = {{"ok", true}, {"system_identifier", line_of(row, 0)}};
  } catch (const std::exception& e) {
    out.passed = false;
    text << "FAIL  replication connection " << peer.describe() << ": " << e.what()
         << "\n      -> check the role has REPLICATION, the password file, and the peer's pg_hba.conf\n";
    out.details["replication"] = {{"ok", false}, {"error", e.what()}};
  }
  const auto admin = peer_params(false);
  try {
    PgConnection conn(admin);
    text << "ok    SQL connection " << admin.describe()
         << " (pg_rewind's source): superuser = " << conn.scalar("SELECT current_setting('is_superuser')") << "\n";
    out.details["sql"] = {{"ok", true}};
  } catch (const std::exception& e) {
    out.passed = false;
    text << "FAIL  SQL connection " << admin.describe() << ": " << e.what() << "\n";
    out.details["sql"] = {{"ok", false}, {"error", e.what()}};
  }
  out.output = text.str();
  return out;
}

DiagnosticResult PostgresWalPlugin::diagnose_slots() {
  DiagnosticResult out;
  std::ostringstream text;
  // Slots live on the primary: this node if it is one, else the peer.
  std::unique_ptr<PgConnection> conn = std::make_unique<PgConnection>(local_params());
  std::string where = "this node";
  if (conn->scalar("SELECT pg_is_in_recovery()") == "t") {
    conn = std::make_unique<PgConnection>(peer_params(false));
    where = "the peer";
  }
  auto rows = conn->query(
      "SELECT slot_name, slot_type, active::text, coalesce(restart_lsn::text, ''), "
      "coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
      "ELSE pg_current_wal_lsn() END, restart_lsn), 0)::bigint, coalesce(wal_status, '') "
      "FROM pg_replication_slots ORDER BY slot_name");
  bool found = false;
  out.details["slots"] = nlohmann::json::array();
  for (const auto& r : rows) {
    const std::uint64_t retained = std::stoull(line_of(r, 4));
    const bool too_much = retained > settings_.slot_warn_bytes;
    if (line_of(r, 0) == settings_.slot_name) found = true;
    if (too_much) out.passed = false;
    text << (too_much ? "WARN  " : "ok    ") << "slot " << line_of(r, 0) << " (" << line_of(r, 1) << ") on " << where
         << ": active " << line_of(r, 2) << ", restart_lsn " << line_of(r, 3) << ", retains " << retained
         << " bytes of WAL, wal_status " << line_of(r, 5)
         << (too_much ? "  -> above slot_warn_bytes: is the standby down? drop the slot if it is gone for good" : "")
         << "\n";
    out.details["slots"].push_back({{"name", line_of(r, 0)},
                                    {"active", line_of(r, 2) == "true"},
                                    {"retained_bytes", retained},
                                    {"warning", too_much}});
  }
  if (!found) {
    out.passed = false;
    text << "FAIL  slot " << settings_.slot_name << " does not exist on " << where
         << "  -> the plugin creates it on promote, rejoin and standby set-up\n";
  }
  out.output = text.str();
  return out;
}

DiagnosticResult PostgresWalPlugin::diagnose_timeline() {
  DiagnosticResult out;
  std::ostringstream text;
  PgConnection conn(local_params());
  auto local_row = conn.query(
                           "SELECT (SELECT system_identifier::text FROM pg_control_system()), "
                           "pg_is_in_recovery()::text, "
                           "CASE WHEN pg_is_in_recovery() THEN coalesce((SELECT received_tli FROM "
                           "pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint())) "
                           "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END")
                       .at(0);
  text << "info  this node: system " << line_of(local_row, 0) << ", in recovery " << line_of(local_row, 1)
       << ", timeline " << line_of(local_row, 2) << "\n";
  out.details["local"] = {{"system_identifier", line_of(local_row, 0)}, {"timeline", line_of(local_row, 2)}};
  try {
    PrimaryIdentity peer = identify_primary();
    text << "info  peer: system " << peer.system_id << ", timeline " << peer.timeline << ", WAL at " << peer.wal_lsn
         << "\n";
    out.details["peer"] = {{"system_identifier", peer.system_id}, {"timeline", peer.timeline}};
    if (peer.system_id != line_of(local_row, 0)) {
      out.passed = false;
      text << "FAIL  the two servers are different clusters  -> rebuild the standby (action basebackup)\n";
    } else if (std::to_string(peer.timeline) != line_of(local_row, 2)) {
      out.passed = false;
      text << "WARN  timelines differ  -> if this node is a former primary, run rejoin (pg_rewind)\n";
    }
  } catch (const std::exception& e) {
    out.passed = false;
    text << "FAIL  peer unreachable: " << e.what() << "\n";
  }
  out.output = text.str();
  return out;
}

DiagnosticResult PostgresWalPlugin::diagnose_settings() {
  PgConnection conn(local_params());
  return check_settings(conn, "this node");
}

DiagnosticResult PostgresWalPlugin::diagnose_lag() {
  DiagnosticResult out;
  std::ostringstream text;
  PgConnection conn(local_params());
  ServerView view = observe_server(conn);
  sdk::Health h = health_from_view(view, health_inputs());
  text << h.summary << "\n";
  for (const auto& e : h.replication) text << e.address << " " << e.field << " = " << e.value << "\n";
  out.details = h.details;
  out.passed = h.status == sdk::HealthStatus::ok;
  out.output = text.str();
  return out;
}

}  // namespace tandem::pgwal
