// A real PostgreSQL cluster for tests and benchmarks: initdb'd into its own
// temp dir (owned by the OS user 'postgres', since PostgreSQL refuses root),
// listening on 127.0.0.1 on a free port, stopped when the object is destroyed.
//
// Configured for replication tests: wal_level=replica, wal senders and slots,
// hot_standby=on, pg_hba trust for 127.0.0.1 including replication. fsync stays
// on (durability tests depend on it).
//
// Optionally on a host of tests/support/netns_world.h: every tool and the
// postmaster run inside that network namespace, the server also listens on
// the host's address, and `trusted_network` is trusted like loopback.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testsupport {

struct PostgresOptions {
  int port = 0;  // 0: a free port
  bool wal_log_hints = true;
  bool data_checksums = false;
  std::vector<std::string> extra_conf;   // lines appended to postgresql.conf
  std::vector<std::string> hba_prepend;  // pg_hba.conf lines placed before the defaults (first match wins)
  bool start = true;                     // start after initdb
  bool init = true;                      // false: empty data dir (for a standby to be built into)
  std::string netns;                     // run inside this network namespace ("": where the caller is)
  std::string address = "127.0.0.1";     // also listens here (loopback always); conninfo() names it
                                         // (with a netns: listens on '*', the namespace's addresses)
  std::string trusted_network;           // e.g. "10.77.0.0/24": trust (all and replication) after the defaults
};

class PostgresServer {
 public:
  // /usr/lib/postgresql/15/bin, else what `pg_config --bindir` prints.
  static std::filesystem::path bin_dir();

  // initdb (unless options.init is false) and start (unless options.start is
  // false). Throws std::runtime_error with the tool's output on failure.
  explicit PostgresServer(PostgresOptions options = {});
  ~PostgresServer();  // immediate shutdown, then the temp dir is removed
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  // The directory holding the unix socket and the server log (the temp dir).
  const std::filesystem::path& root_dir() const { return root_->path(); }
  std::filesystem::path log_file() const { return root_->path() / "postgres.log"; }
  // The address it listens on besides loopback (127.0.0.1 by default).
  const std::string& address() const { return options_.address; }
  // host=<address> port=.. user=postgres dbname=..
  std::string conninfo(const std::string& db = "postgres") const;

  // pg_ctl start -w (port and socket dir passed on the command line, so a
  // standby cloned from another cluster still uses this object's port).
  void start();
  // Into this object's empty data dir (init=false): pg_basebackup -X stream -R
  // from `primary`, then start: a streaming hot standby of it, no slot.
  void become_standby_of(const PostgresServer& primary);
  // pg_ctl stop -m MODE -w; a no-op when not running.
  void stop(const std::string& mode = "fast");
  // kill -9 of the postmaster and every backend it had (a crash: no shutdown
  // checkpoint, nothing flushed that was not already). Waits until all are gone.
  void kill9();
  // The postmaster named in postmaster.pid is alive.
  bool running() const;
  // The postmaster's pid, from postmaster.pid, or -1 (SIGSTOP of it alone
  // makes new connections hang while open sessions and the walsender go on).
  int postmaster_pid() const;

  // psql -XAt -v ON_ERROR_STOP=1 as 'postgres' over TCP to 127.0.0.1 on the
  // server's host; returns stdout.
  // Throws std::runtime_error with stderr on failure.
  std::string psql(const std::string& sql, const std::string& db = "postgres") const;
  // Last bytes of the server log (for failure messages).
  std::string log_tail(std::size_t bytes = 3000) const;

 private:
  PostgresOptions options_;
  std::unique_ptr<sdk::testing::TempDir> root_;
  std::filesystem::path data_dir_;
  int port_ = 0;
};

}  // namespace tandem::testsupport
