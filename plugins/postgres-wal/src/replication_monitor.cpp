#include "replication_monitor.h"

namespace tandem::pgwal {
namespace {

std::optional<std::uint64_t> as_bytes(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  const long long n = std::stoll(*v);
  return n < 0 ? 0 : static_cast<std::uint64_t>(n);
}

std::optional<double> as_double(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  return std::stod(*v);
}

std::string or_empty(const std::optional<std::string>& v) { return v ? *v : std::string(); }

template <class T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

ServerView observe_server(PgConnection& conn) {
  ServerView view;
  auto head = conn.query(
      "SELECT pg_is_in_recovery(), current_setting('server_version'), "
      "(SELECT timeline_id FROM pg_control_checkpoint()), current_setting('synchronous_standby_names')");
  view.in_recovery = head.at(0).at(0).value_or("f") == "t";
  view.version = or_empty(head[0][1]);
  const int checkpoint_tli = std::stoi(head[0][2].value_or("0"));
  if (!view.in_recovery) {
    PrimaryView p;
    // The control file's timeline lags a promotion until its checkpoint; the
    // current WAL file's name carries the timeline in use right now.
    auto pos = conn.query(
        "SELECT pg_current_wal_lsn()::text, ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, "
        "8))::bit(32)::int");
    p.current_lsn = or_empty(pos.at(0)[0]);
    p.timeline = pos[0][1] ? std::stoi(*pos[0][1]) : checkpoint_tli;
    p.synchronous_standby_names = or_empty(head[0][3]);
    auto rows = conn.query(
        "SELECT coalesce(host(client_addr), 'local'), application_name, state, sync_state, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn)::bigint, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, "
        "extract(epoch FROM replay_lag)::float8, extract(epoch FROM now() - reply_time)::float8 "
        "FROM pg_stat_replication WHERE state <> 'backup' ORDER BY client_addr, application_name");
    for (const auto& r : rows) {
      StandbyStatus s;
      s.address = or_empty(r[0]);
      s.application_name = or_empty(r[1]);
      s.state = or_empty(r[2]);
      s.sync_state = or_empty(r[3]);
      s.sent_gap = as_bytes(r[4]);
      s.write_gap = as_bytes(r[5]);
      s.flush_gap = as_bytes(r[6]);
      s.replay_gap = as_bytes(r[7]);
      s.replay_lag_seconds = as_double(r[8]);
      s.reply_age_seconds = as_double(r[9]);
      p.standbys.push_back(std::move(s));
    }
    view.primary = std::move(p);
    return view;
  }
  StandbyView s;
  auto rows = conn.query(
      "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
      "greatest(0, coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), "
      "  coalesce((SELECT pg_wal_lsn_diff(latest_end_lsn, pg_last_wal_replay_lsn()) FROM pg_stat_wal_receiver), 0)"
      ")::bigint, "
      "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, "
      "(SELECT status FROM pg_stat_wal_receiver), (SELECT sender_host FROM pg_stat_wal_receiver), "
      "(SELECT sender_port FROM pg_stat_wal_receiver), (SELECT received_tli FROM pg_stat_wal_receiver)");
  const auto& r = rows.at(0);
  s.receive_lsn = r[0];
  s.replay_lsn = r[1];
  s.replay_gap = as_bytes(r[2]);
  s.last_replay_age_seconds = as_double(r[3]);
  s.receiver_status = or_empty(r[4]);
  s.sender_host = or_empty(r[5]);
  if (r[6]) s.sender_port = std::stoi(*r[6]);
  s.timeline = r[7] ? std::stoi(*r[7]) : checkpoint_tli;
  view.standby = std::move(s);
  return view;
}

nlohmann::json to_json(const StandbyStatus& s) {
  return {{"address", s.address},
          {"application_name", s.application_name},
          {"state", s.state},
          {"sync_state", s.sync_state},
          {"sent_gap_bytes", opt(s.sent_gap)},
          {"write_gap_bytes", opt(s.write_gap)},
          {"flush_gap_bytes", opt(s.flush_gap)},
          {"replay_gap_bytes", opt(s.replay_gap)},
          {"replay_lag_seconds", opt(s.replay_lag_seconds)},
          {"reply_age_seconds", opt(s.reply_age_seconds)}};
}

nlohmann::json to_json(const StandbyView& s) {
  return {
      {"receive_lsn", opt(s.receive_lsn)},
      {"replay_lsn", opt(s.replay_lsn)},
      {"replay_gap_bytes", opt(s.replay_gap)},
      {"last_replay_age_seconds", opt(s.last_replay_age_seconds)},
      {"wal_receiver_status", s.receiver_status.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.receiver_status)},
      {"sender_host", s.sender_host},
      {"sender_port", opt(s.sender_port)},
      {"timeline", s.timeline}};
}

}  // namespace tandem::pgwal
