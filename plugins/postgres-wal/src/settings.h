// The postgres-wal store's configuration: the schema (as data) and the
// validated, typed settings configure() derives from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "tandem/sdk/config.h"

namespace tandem::pgwal {

enum class StandbyLossPolicy { block, degrade };

struct Settings {
  std::filesystem::path data_dir;
  std::filesystem::path bin_dir;  // empty until resolved (pg_config --bindir)
  std::string os_user = "postgres";
  std::string host = "127.0.0.1";  // where this node's PostgreSQL listens (for the plugin's own connections)
  int port = 5432;
  std::string peer_host;  // the peer's PostgreSQL host; empty: the peer node's address
  int peer_port = 5432;
  std::string database = "postgres";
  std::string user = "postgres";        // superuser for monitoring, promote, pg_rewind's source connection
  std::filesystem::path password_file;  // optional
  std::string replication_user = "replicator";
  std::filesystem::path replication_password_file;  // optional
  std::string slot_name = "tandem_standby";
  bool synchronous = false;
  StandbyLossPolicy on_standby_loss = StandbyLossPolicy::degrade;
  std::chrono::milliseconds standby_loss_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds statement_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds promote_timeout{std::chrono::seconds(60)};
  std::uint64_t lag_warn_bytes = 16ull << 20;
  std::uint64_t slot_warn_bytes = 1ull << 30;
  std::string postgres_options;      // extra `pg_ctl -o` options when the plugin starts PostgreSQL
  std::filesystem::path server_log;  // pg_ctl -l; empty: <data_dir>/../postgresql-tandem.log
  std::filesystem::path passfile;    // written for PostgreSQL's tools; empty: <data_dir>/../.tandem.pgpass
  // TLS to the peer's PostgreSQL (streaming, pg_basebackup, pg_rewind, the
  // plugin's own peer connections): libpq's sslmode and CA file; "" = libpq's default.
  std::string peer_sslmode;
  std::filesystem::path peer_sslrootcert;

  // " sslmode=... sslrootcert=..." for a conninfo string ("" when neither is set).
  std::string peer_ssl_conninfo() const;
};

sdk::ConfigSchema schema();

// Validates and converts; an invalid_config error names the key and its place.
// Touches nothing outside the process.
sdk::Result<Settings> parse_settings(const sdk::StoreConfig& config);

const char* to_string(StandbyLossPolicy p);

}  // namespace tandem::pgwal
