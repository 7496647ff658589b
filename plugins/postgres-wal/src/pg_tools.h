// PostgreSQL's own programs (pg_ctl, pg_basebackup, pg_rewind,
// pg_controldata), run as the configured OS user, and the files the plugin
// writes into a data directory (standby.signal, primary_conninfo, passfile).
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "settings.h"
#include "tandem/sdk/process.h"

namespace tandem::pgwal {

// One line of a libpq password file, valid for any host, port and database:
// the same roles exist on both nodes, and the upstream changes with failovers.
struct PassfileEntry {
  std::string user;
  std::string password;
};

// Where a standby streams from.
struct UpstreamServer {
  std::string host;
  int port = 0;
};

class PgTools {
 public:
  explicit PgTools(const Settings& settings) : settings_(settings) {}

  // Resolves bin_dir (setting, else `pg_config --bindir`); throws when neither works.
  std::filesystem::path bin_dir();
  // Runs a program from bin_dir as os_user with LC_ALL=C and PGPASSFILE set.
  sdk::ProcessResult run(std::vector<std::string> argv, std::chrono::milliseconds timeout);
  // As run(), but throws std::runtime_error "<what> failed: <exit, stderr>" on failure.
  sdk::ProcessResult run_checked(const std::string& what, std::vector<std::string> argv,
                                 std::chrono::milliseconds timeout);

  // Data directory states.
  bool has_cluster() const;        // PG_VERSION present
  bool data_dir_is_empty() const;  // missing or an empty directory
  bool standby_signal_present() const;

  // pg_ctl status: the postmaster for data_dir is running (a zombie is not).
  bool server_running();
  // Waits while postmaster.pid names a dead, not yet reaped postmaster, which
  // PostgreSQL's programs would take for a running one; throws past timeout.
  void wait_until_postmaster_reaped(std::chrono::milliseconds timeout);
  // pg_ctl start -w with "-p port <postgres_options>"; no-op if running.
  void start_server();
  // pg_ctl stop -m MODE -w; no-op if not running.
  void stop_server(const std::string& mode = "fast");
  // pg_controldata as key -> value ("Latest checkpoint location" -> "0/3000028").
  std::map<std::string, std::string> controldata();

  // Makes data_dir a standby of `upstream`: standby.signal, primary_conninfo
  // (passfile, never a password) and primary_slot_name in postgresql.auto.conf;
  // drops synchronous_standby_names there (it names this node's own peer, which
  // is meaningless on a standby and would block it once promoted). The server
  // must be stopped.
  void write_standby_config(const UpstreamServer& upstream, const std::string& application_name);
  // Makes data_dir an independent primary-to-be, cut from the pair (a test
  // instance, clone_test.cpp): no standby.signal; recovery.signal with a
  // restore_command that finds nothing, so recovery replays the backup's own
  // WAL and ends on a new timeline; no primary_conninfo, slot, synchronous
  // standby or WAL archiving (the pair's archive is not the clone's). The
  // server must be stopped.
  void write_clone_config(const std::string& cluster_name);
  // Creates `dir` (mode 0700) owned by os_user.
  void make_owned_dir(const std::filesystem::path& dir) const;
  // Writes the libpq password file (mode 0600, owned by os_user) the programs use.
  void write_passfile(const std::vector<PassfileEntry>& entries);

  const Settings& settings() const { return settings_; }

 private:
  void chown_to_os_user(const std::filesystem::path& path) const;
  // postgresql.auto.conf without the lines setting `replaced` (and earlier
  // tandem comments), then `appended`; mode 0600, owned by os_user.
  void rewrite_auto_conf(const std::vector<std::string>& replaced, const std::string& appended);

  const Settings& settings_;
  std::filesystem::path resolved_bin_dir_;
};

// A value for a libpq passfile field (':' and '\' escaped).
std::string passfile_escape(const std::string& value);

}  // namespace tandem::pgwal
