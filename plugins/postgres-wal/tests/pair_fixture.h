// Two real PostgreSQL 15 clusters on loopback and one postgres-wal plugin per
// node, each with its own TestHost: "alpha" starts as primary, "beta" as the
// secondary whose data directory starts empty. Each test builds its own pair
// (gtest_discover_tests runs every test in its own process).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pg_connection.h"
#include "postgres_wal_plugin.h"
#include "support/postgres_server.h"
#include "support/test_certs.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::pgwal::testing {

inline constexpr const char* kReplicationPassword = "s3cret-repl-pw";

struct PairOptions {
  bool wal_log_hints = true;
  bool synchronous = false;
  std::string on_standby_loss = "degrade";
  std::string standby_loss_timeout = "1s";
  // alpha serves TLS (a certificate from scripts/make-test-certs.sh naming
  // 127.0.0.1) and its pg_hba.conf rejects replication without it.
  bool primary_ssl = false;
  std::string peer_sslmode;  // both nodes' peer_sslmode ("": not set)
  // peer_sslrootcert: "ca" (the CA that signed alpha's certificate), "other-ca"
  // (one that did not), "" (not set).
  std::string peer_sslrootcert;
};

struct Node {
  std::unique_ptr<testsupport::PostgresServer> server;
  std::unique_ptr<sdk::testing::TestHost> host;
  std::unique_ptr<PostgresWalPlugin> plugin;

  sdk::SyncReport sync();  // asserts success
  sdk::Health health() const { return plugin->health(); }
  // The /monitor/replication value for `address`, or "" when absent.
  std::string page_value(const std::string& address = "127.0.0.1") const;
};

// Inserts 1, 2, 3, ... into seq(n), one autocommit transaction each, and
// records every number whose COMMIT was acknowledged. Stops on the first
// error (the server went away) or when stopped.
class SequenceWriter {
 public:
  explicit SequenceWriter(ConnectParams target, std::size_t payload_bytes = 100);
  ~SequenceWriter();
  void stop();
  std::vector<long> acknowledged() const;
  std::size_t count() const;
  std::string error() const;

 private:
  void run(ConnectParams target);
  std::size_t payload_bytes_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<long> acked_;
  std::string error_;
  std::thread thread_;
};

class PgPairTest : public ::testing::Test {
 protected:
  void SetUp() override { SetUpPair(PairOptions{}); }
  void SetUpPair(const PairOptions& options);
  void TearDown() override;

  // beta's sync until its standby streams (builds it on the first run).
  void build_standby();
  // Rows of seq on a server.
  static std::vector<long> sequence_rows(const testsupport::PostgresServer& server);
  static ConnectParams params_for(const testsupport::PostgresServer& server);
  sdk::StoreConfig config_for(const testsupport::PostgresServer& self, const testsupport::PostgresServer& peer,
                              const PairOptions& options) const;

  std::unique_ptr<sdk::testing::TempDir> secrets_;
  std::unique_ptr<testsupport::TestCerts> certs_;
  std::unique_ptr<sdk::testing::TempDir> ssl_dir_;  // copies PostgreSQL's processes (os_user) can read
  Node alpha_, beta_;
};

}  // namespace tandem::pgwal::testing
