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

}  // namespace

const char* to_string(StandbyLossPolicy p) { return p == StandbyLossPolicy::block ? "block" : "degrade"; }

sdk::ConfigSchema schema() {
  return {
      {.name = "data_dir",
       .type = ValueType::path,
       .required = true,
       .description = "PostgreSQL data directory on this node (absolute path)",
       .path_rule = sdk::PathRule::absolute},
      {.name = "bin_dir",
       .type = ValueType::path,
       .description =
           "Directory of PostgreSQL's programs (pg_ctl, pg_basebackup, pg_rewind, pg_controldata); default: `pg_config "
           "--bindir`",
       .path_rule = sdk::PathRule::absolute},
      {.name = "os_user",
       .type = ValueType::string,
       .default_value = "postgres",
       .description = "OS user PostgreSQL's programs run as"},
      {.name = "host",
       .type = ValueType::string,
       .default_value = "127.0.0.1",
       .description = "Host or socket directory where this node's PostgreSQL listens"},
      {.name = "port",
       .type = ValueType::port,
       .default_value = "5432",
       .description = "Port of this node's PostgreSQL"},
      {.name = "peer_host",
       .type = ValueType::string,
       .description = "Host of the peer's PostgreSQL (the primary a standby follows); default: the [peer] address"},
      {.name = "peer_port",
       .type = ValueType::port,
       .default_value = "5432",
       .description = "Port of the peer's PostgreSQL"},
      {.name = "database",
       .type = ValueType::string,
       .default_value = "postgres",
       .description = "Database the plugin connects to for monitoring"},
      {.name = "user",
       .type = ValueType::string,
       .default_value = "postgres",
       .description = "Superuser role for monitoring, promote and as pg_rewind's source connection"},
      {.name = "password_file",
       .type = ValueType::path,
       .description = "File holding the password of `user` (omit for trust/peer auth)",
       .path_rule = sdk::PathRule::absolute,
       .secret = true},
      {.name = "replication_user",
       .type = ValueType::string,
       .default_value = "replicator",
       .description = "Role with REPLICATION the standby streams as"},
      {.name = "replication_password_file",
       .type = ValueType::path,
       .description = "File holding the password of `replication_user` (omit for trust auth)",
       .path_rule = sdk::PathRule::absolute,
       .secret = true},
      {.name = "slot_name",
       .type = ValueType::string,
       .default_value = "tandem_standby",
       .description = "Physical replication slot the standby streams through (created on the primary when missing)"},
      {.name = "synchronous",
       .type = ValueType::boolean,
       .default_value = "false",
       .description = "Synchronous replication: a commit is acknowledged only once the standby has flushed it"},
      {.name = "on_standby_loss",
       .type = ValueType::string,
       .default_value = "degrade",
       .description = "With synchronous = true, when the standby is gone: \"block\" (commits wait) or \"degrade\" "
                      "(switch to async)",
       .choices = {"block", "degrade"}},
      {.name = "standby_loss_timeout",
       .type = ValueType::duration,
       .default_value = "10s",
       .description = "How long the standby may be disconnected, or silent about WAL it was sent (then at least 1s), "
                      "before on_standby_loss = \"degrade\" switches to async",
       .min = "0s",
       .max = "1d"},
      {.name = "connect_timeout",
       .type = ValueType::duration,
       .default_value = "5s",
       .description = "Timeout for each connection to PostgreSQL",
       .min = "1s",
       .max = "1h"},
      {.name = "statement_timeout",
       .type = ValueType::duration,
       .default_value = "10s",
       .description = "Timeout for each monitoring statement",
       .min = "100ms",
       .max = "1d"},
      {.name = "promote_timeout",
       .type = ValueType::duration,
       .default_value = "60s",
       .description = "How long promote waits for replay to reach the handoff position and for pg_promote",
       .min = "1s",
       .max = "1d"},
      {.name = "lag_warn_bytes",
       .type = ValueType::size,
       .default_value = "16MiB",
       .description = "Replay lag above which health is degraded",
       .max = "16TiB"},
      {.name = "slot_warn_bytes",
       .type = ValueType::size,
       .default_value = "1GiB",
       .description = "WAL retained by a slot above which diagnostics warn",
       .max = "16TiB"},
      {.name = "postgres_options",
       .type = ValueType::string,
       .description =
           "Extra options passed with `pg_ctl -o` when the plugin starts PostgreSQL (the port is always passed)"},
      {.name = "server_log",
       .type = ValueType::path,
       .description =
           "Server log for `pg_ctl -l` when the plugin starts PostgreSQL; default: <data_dir>/../postgresql-tandem.log",
       .path_rule = sdk::PathRule::absolute},
      {.name = "peer_sslmode",
       .type = ValueType::string,
       .description = "TLS to the peer's PostgreSQL (streaming replication, pg_basebackup, pg_rewind, monitoring): "
                      "libpq's sslmode; \"require\" encrypts, \"verify-full\" also checks the server's certificate "
                      "against peer_sslrootcert and its name against the peer host; default: libpq's (\"prefer\")",
       .choices = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
      {.name = "peer_sslrootcert",
       .type = ValueType::path,
       .description = "CA certificate (PEM) the peer's PostgreSQL certificate must chain to; required with "
                      "peer_sslmode verify-ca or verify-full; readable by os_user",
       .path_rule = sdk::PathRule::absolute},
      {.name = "passfile",
       .type = ValueType::path,
       .description = "Password file (libpq format) the plugin writes for PostgreSQL's programs; default: "
                      "<data_dir>/../.tandem.pgpass",
       .path_rule = sdk::PathRule::absolute},
  };
}

sdk::Result<Settings> parse_settings(const sdk::StoreConfig& config) {
  Settings s;
  s.data_dir = config.string("data_dir");
  if (!s.data_dir.is_absolute())
    return config.error("data_dir", "must be an absolute path, got '" + s.data_dir.string() + "'");
  s.data_dir = s.data_dir.lexically_normal();
  if (!s.data_dir.has_filename()) s.data_dir = s.data_dir.parent_path();  // "/x/data/" -> "/x/data"
  if (has_space_or_quote(s.data_dir.string()))
    return config.error("data_dir",
                        "must not contain spaces, quotes or backslashes (it is written into PostgreSQL's config)");
  s.bin_dir = config.path("bin_dir");
  s.os_user = config.string("os_user");
  if (::getpwnam(s.os_user.c_str()) == nullptr)
    return config.error("os_user",
                        "no OS user named '" + s.os_user + "' on this machine (PostgreSQL's programs run as it)");
  s.host = config.string("host");
  if (s.host.empty() || has_space_or_quote(s.host))
    return config.error("host", "must be a host name, address or socket dir");
  s.port = config.port("port");
  s.peer_host = config.string("peer_host");
  if (has_space_or_quote(s.peer_host)) return config.error("peer_host", "must be a host name or address");
  s.peer_port = config.port("peer_port");
  s.database = config.string("database");
  s.user = config.string("user");
  s.replication_user = config.string("replication_user");
  s.slot_name = config.string("slot_name");
  for (const char* key : {"database", "user", "replication_user"})
    if (!is_plain_identifier(config.string(key), true))
      return config.error(key, "must be a plain name: lower-case letters, digits, '_' or '-', at most 63 characters");
  if (!is_plain_identifier(s.slot_name, false))
    return config.error("slot_name",
                        "must be lower-case letters, digits and '_' only (PostgreSQL's rule for slot names)");
  s.password_file = config.path("password_file");
  s.replication_password_file = config.path("replication_password_file");
  s.synchronous = config.boolean("synchronous");
  s.on_standby_loss = config.choice<StandbyLossPolicy>(
      "on_standby_loss", {{"block", StandbyLossPolicy::block}, {"degrade", StandbyLossPolicy::degrade}});
  if (config.has("on_standby_loss") && !s.synchronous)
    return config.error("on_standby_loss", "only applies with synchronous = true; remove it or set synchronous = true");
  s.standby_loss_timeout = config.duration("standby_loss_timeout");
  s.connect_timeout = config.duration("connect_timeout");
  s.statement_timeout = config.duration("statement_timeout");
  s.promote_timeout = config.duration("promote_timeout");
  s.lag_warn_bytes = config.size("lag_warn_bytes");
  s.slot_warn_bytes = config.size("slot_warn_bytes");
  s.postgres_options = config.string("postgres_options");
  s.server_log = config.path("server_log");
  s.passfile = config.path("passfile");
  if (s.server_log.empty()) s.server_log = s.data_dir.parent_path() / "postgresql-tandem.log";
  if (s.passfile.empty()) s.passfile = s.data_dir.parent_path() / ".tandem.pgpass";
  if (has_space_or_quote(s.passfile.string()))
    return config.error("passfile",
                        "must not contain spaces, quotes or backslashes (it is written into primary_conninfo)");
  s.peer_sslmode = config.string("peer_sslmode");
  s.peer_sslrootcert = config.path("peer_sslrootcert");
  const bool verifies = s.peer_sslmode == "verify-ca" || s.peer_sslmode == "verify-full";
  if (verifies && s.peer_sslrootcert.empty())
    return config.error("peer_sslmode",
                        "\"" + s.peer_sslmode +
                            "\" checks the peer's certificate against a CA: set peer_sslrootcert to the "
                            "CA file (PEM) that signed the peer PostgreSQL's certificate");
  if (!s.peer_sslrootcert.empty()) {
    if (has_space_or_quote(s.peer_sslrootcert.string()))
      return config.error("peer_sslrootcert",
                          "must not contain spaces, quotes or backslashes (it is written into primary_conninfo)");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(s.peer_sslrootcert, ec))
      return config.error(
          "peer_sslrootcert",
          s.peer_sslrootcert.string() + " does not exist or is not a file; put the CA certificate (PEM) there");
    if (!verifies)
      return config.error("peer_sslrootcert", "is only used with peer_sslmode = \"verify-ca\" or \"verify-full\"");
  }
  return s;
}

std::string Settings::peer_ssl_conninfo() const {
  std::string out;
  if (!peer_sslmode.empty()) out += " sslmode=" + peer_sslmode;
  if (!peer_sslrootcert.empty()) out += " sslrootcert=" + peer_sslrootcert.string();
  return out;
}

}  // namespace tandem::pgwal
