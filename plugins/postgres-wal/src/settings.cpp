#include "settings.h"

#include <pwd.h>

#include <cctype>

namespace tandem::pgwal {
namespace {

using sdk::ConfigKey;
using sdk::ValueType;

// Names PostgreSQL accepts unquoted as a role, database or slot, which also
// keeps them safe inside conninfo strings and postgresql.auto.conf lines.
bool is_plain_identifier(const std::string& s, bool allow_dash) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    bool ok = std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
              (allow_dash && c == '-');
    if (!ok) return false;
  }
  return true;
}

bool has_space_or_quote(const std::string& s) {
  for (char c : s)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '\'' || c == '"' || c == '\\') return true;
  return false;
}

int port_value(const sdk::StoreConfig& config, const char* key) {
  auto v = config.integer(key);
  if (v < 1 || v > 65535) config.fail(key, "must be a TCP port between 1 and 65535, got " + std::to_string(v));
  return static_cast<int>(v);
}

}  // namespace

const char* to_string(StandbyLossPolicy p) { return p == StandbyLossPolicy::block ? "block" : "degrade"; }

sdk::ConfigSchema schema() {
  return {
      {"data_dir", ValueType::path, "", true, "PostgreSQL data directory on this node (absolute path)", {}},
      {"bin_dir",
       ValueType::path,
       "",
       false,
       "Directory of PostgreSQL's programs (pg_ctl, pg_basebackup, pg_rewind, pg_controldata); default: `pg_config "
       "--bindir`",
       {}},
      {"os_user", ValueType::string, "postgres", false, "OS user PostgreSQL's programs run as", {}},
      {"host",
       ValueType::string,
       "127.0.0.1",
       false,
       "Host or socket directory where this node's PostgreSQL listens",
       {}},
      {"port", ValueType::integer, "5432", false, "Port of this node's PostgreSQL", {}},
      {"peer_host",
       ValueType::string,
       "",
       false,
       "Host of the peer's PostgreSQL (the primary a standby follows); default: the [peer] address",
       {}},
      {"peer_port", ValueType::integer, "5432", false, "Port of the peer's PostgreSQL", {}},
      {"database", ValueType::string, "postgres", false, "Database the plugin connects to for monitoring", {}},
      {"user",
       ValueType::string,
       "postgres",
       false,
       "Superuser role for monitoring, promote and as pg_rewind's source connection",
       {}},
      {"password_file",
       ValueType::path,
       "",
       false,
       "File holding the password of `user` (omit for trust/peer auth)",
       {}},
      {"replication_user", ValueType::string, "replicator", false, "Role with REPLICATION the standby streams as", {}},
      {"replication_password_file",
       ValueType::path,
       "",
       false,
       "File holding the password of `replication_user` (omit for trust auth)",
       {}},
      {"slot_name",
       ValueType::string,
       "tandem_standby",
       false,
       "Physical replication slot the standby streams through (created on the primary when missing)",
       {}},
      {"synchronous",
       ValueType::boolean,
       "false",
       false,
       "Synchronous replication: a commit is acknowledged only once the standby has flushed it",
       {}},
      {"on_standby_loss",
       ValueType::string,
       "degrade",
       false,
       "With synchronous = true, when the standby is gone: \"block\" (commits wait) or \"degrade\" (switch to async)",
       {}},
      {"standby_loss_timeout",
       ValueType::duration,
       "10s",
       false,
       "How long the standby may be disconnected before on_standby_loss = \"degrade\" switches to async",
       {}},
      {"connect_timeout", ValueType::duration, "5s", false, "Timeout for each connection to PostgreSQL", {}},
      {"statement_timeout", ValueType::duration, "10s", false, "Timeout for each monitoring statement", {}},
      {"sync_interval", ValueType::duration, "1s", false, "How often lag is measured and the standby checked", {}},
      {"promote_timeout",
       ValueType::duration,
       "60s",
       false,
       "How long promote waits for replay to reach the handoff position and for pg_promote",
       {}},
      {"lag_warn_bytes", ValueType::size, "16MiB", false, "Replay lag above which health is degraded", {}},
      {"slot_warn_bytes", ValueType::size, "1GiB", false, "WAL retained by a slot above which diagnostics warn", {}},
      {"postgres_options",
       ValueType::string,
       "",
       false,
       "Extra options passed with `pg_ctl -o` when the plugin starts PostgreSQL (the port is always passed)",
       {}},
      {"server_log",
       ValueType::path,
       "",
       false,
       "Server log for `pg_ctl -l` when the plugin starts PostgreSQL; default: <data_dir>/../postgresql-tandem.log",
       {}},
      {"passfile",
       ValueType::path,
       "",
       false,
       "Password file (libpq format) the plugin writes for PostgreSQL's programs; default: "
       "<data_dir>/../.tandem.pgpass",
       {}},
  };
}

Settings parse_settings(const sdk::StoreConfig& config) {
  Settings s;
  s.data_dir = config.string("data_dir");
  if (!s.data_dir.is_absolute()) config.fail("data_dir", "must be an absolute path, got '" + s.data_dir.string() + "'");
  s.data_dir = s.data_dir.lexically_normal();
  if (!s.data_dir.has_filename()) s.data_dir = s.data_dir.parent_path();  // "/x/data/" -> "/x/data"
  if (has_space_or_quote(s.data_dir.string()))
    config.fail("data_dir", "must not contain spaces, quotes or backslashes (it is written into PostgreSQL's config)");
  s.bin_dir = config.string("bin_dir");
  if (!s.bin_dir.empty() && !s.bin_dir.is_absolute()) config.fail("bin_dir", "must be an absolute path");
  s.os_user = config.string("os_user");
  if (::getpwnam(s.os_user.c_str()) == nullptr)
    config.fail("os_user", "no OS user named '" + s.os_user + "' on this machine (PostgreSQL's programs run as it)");
  s.host = config.string("host");
  if (s.host.empty() || has_space_or_quote(s.host)) config.fail("host", "must be a host name, address or socket dir");
  s.port = port_value(config, "port");
  s.peer_host = config.string("peer_host");
  if (has_space_or_quote(s.peer_host)) config.fail("peer_host", "must be a host name or address");
  s.peer_port = port_value(config, "peer_port");
  s.database = config.string("database");
  s.user = config.string("user");
  s.replication_user = config.string("replication_user");
  s.slot_name = config.string("slot_name");
  for (const char* key : {"database", "user", "replication_user"})
    if (!is_plain_identifier(config.string(key), true))
      config.fail(key, "must be a plain name: lower-case letters, digits, '_' or '-', at most 63 characters");
  if (!is_plain_identifier(s.slot_name, false))
    config.fail("slot_name", "must be lower-case letters, digits and '_' only (PostgreSQL's rule for slot names)");
  s.password_file = config.string("password_file");
  s.replication_password_file = config.string("replication_password_file");
  for (const char* key : {"password_file", "replication_password_file"}) {
    std::filesystem::path p = config.string(key);
    if (!p.empty() && !p.is_absolute()) config.fail(key, "must be an absolute path");
  }
  s.synchronous = config.boolean("synchronous");
  const std::string policy = config.string("on_standby_loss");
  if (policy == "block")
    s.on_standby_loss = StandbyLossPolicy::block;
  else if (policy == "degrade")
    s.on_standby_loss = StandbyLossPolicy::degrade;
  else
    config.fail("on_standby_loss", "must be \"block\" or \"degrade\", got \"" + policy + "\"");
  if (config.has("on_standby_loss") && !s.synchronous)
    config.fail("on_standby_loss", "only applies with synchronous = true; remove it or set synchronous = true");
  s.standby_loss_timeout = config.duration("standby_loss_timeout");
  s.connect_timeout = config.duration("connect_timeout");
  s.statement_timeout = config.duration("statement_timeout");
  s.sync_interval = config.duration("sync_interval");
  s.promote_timeout = config.duration("promote_timeout");
  if (s.connect_timeout < std::chrono::seconds(1))
    config.fail("connect_timeout", "must be at least 1s (libpq counts whole seconds)");
  if (s.statement_timeout < std::chrono::milliseconds(100)) config.fail("statement_timeout", "must be at least 100ms");
  if (s.sync_interval < std::chrono::milliseconds(100)) config.fail("sync_interval", "must be at least 100ms");
  if (s.promote_timeout < std::chrono::seconds(1)) config.fail("promote_timeout", "must be at least 1s");
  s.lag_warn_bytes = config.size("lag_warn_bytes");
  s.slot_warn_bytes = config.size("slot_warn_bytes");
  s.postgres_options = config.string("postgres_options");
  s.server_log = config.string("server_log");
  s.passfile = config.string("passfile");
  for (const char* key : {"server_log", "passfile"}) {
    std::filesystem::path p = config.string(key);
    if (!p.empty() && !p.is_absolute()) config.fail(key, "must be an absolute path");
  }
  if (s.server_log.empty()) s.server_log = s.data_dir.parent_path() / "postgresql-tandem.log";
  if (s.passfile.empty()) s.passfile = s.data_dir.parent_path() / ".tandem.pgpass";
  if (has_space_or_quote(s.passfile.string()))
    config.fail("passfile", "must not contain spaces, quotes or backslashes (it is written into primary_conninfo)");
  return s;
}

}  // namespace tandem::pgwal
