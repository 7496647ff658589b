#include "pair_fixture.h"

#include <pwd.h>
#include <unistd.h>

#include <fstream>

#include "tandem/sdk/file_util.h"

namespace tandem::pgwal::testing {

using sdk::testing::eventually;
using testsupport::PostgresOptions;
using testsupport::PostgresServer;

sdk::SyncReport Node::sync() {
  auto r = plugin->sync();
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
  return r.ok() ? r.value() : sdk::SyncReport{};
}

std::string Node::page_value(const std::string& address) const {
  for (const auto& e : plugin->health().replication)
    if (e.address == address && e.field == "postgres_lag_bytes") return e.value;
  return "";
}

SequenceWriter::SequenceWriter(ConnectParams target, std::size_t payload_bytes)
    : payload_bytes_(payload_bytes), thread_([this, target] { run(target); }) {}

SequenceWriter::~SequenceWriter() { stop(); }

void SequenceWriter::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void SequenceWriter::run(ConnectParams target) {
  try {
    target.statement_timeout = std::chrono::milliseconds(0);
    PgConnection conn(target);
    const std::string payload(payload_bytes_, 'x');
    for (long n = 1; !stop_; ++n) {
      conn.query("INSERT INTO seq(n, payload) VALUES ($1::bigint, $2)", {std::to_string(n), payload});
      std::lock_guard lock(mu_);
      acked_.push_back(n);  // only after COMMIT returned
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    error_ = e.what();
  }
}

std::vector<long> SequenceWriter::acknowledged() const {
  std::lock_guard lock(mu_);
  return acked_;
}

std::size_t SequenceWriter::count() const {
  std::lock_guard lock(mu_);
  return acked_.size();
}

std::string SequenceWriter::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

ConnectParams PgPairTest::params_for(const PostgresServer& server) {
  ConnectParams p;
  p.host = "127.0.0.1";
  p.port = server.port();
  p.user = "postgres";
  p.database = "postgres";
  return p;
}

sdk::StoreConfig PgPairTest::config_for(const PostgresServer& self, const PostgresServer& peer,
                                        const PairOptions& options) const {
  nlohmann::json values = {
      {"data_dir", self.data_dir().string()},
      {"bin_dir", PostgresServer::bin_dir().string()},
      {"port", self.port()},
      {"peer_host", "127.0.0.1"},
      {"peer_port", peer.port()},
      {"replication_user", "replicator"},
      {"replication_password_file", (secrets_->path() / "replication.pw").string()},
      {"slot_name", "tandem_standby"},
      {"synchronous", options.synchronous},
      {"promote_timeout", "60s"},
      {"postgres_options", "-k " + self.root_dir().string()},
  };
  if (!options.peer_sslmode.empty()) values["peer_sslmode"] = options.peer_sslmode;
  if (!options.peer_sslrootcert.empty())
    values["peer_sslrootcert"] = (ssl_dir_->path() / (options.peer_sslrootcert + ".pem")).string();
  if (options.synchronous) {
    values["on_standby_loss"] = options.on_standby_loss;
    values["standby_loss_timeout"] = options.standby_loss_timeout;
  }
  return sdk::StoreConfig::from_json("pg", schema(), values);
}

void PgPairTest::SetUpPair(const PairOptions& options) {
  secrets_ = std::make_unique<sdk::testing::TempDir>("tandem-pg-secrets");
  sdk::atomic_write_file(secrets_->path() / "replication.pw", std::string(kReplicationPassword) + "\n", 0600);

  PostgresOptions primary_options;
  primary_options.wal_log_hints = options.wal_log_hints;
  // The replication role must authenticate with its password (from the file),
  // so the passfile path is exercised rather than trust.
  primary_options.hba_prepend = {"host replication replicator 127.0.0.1/32 scram-sha-256"};
  if (options.primary_ssl || !options.peer_sslrootcert.empty()) {
    // The certificates' own dir is root's (0700): PostgreSQL (server and the
    // standby's walreceiver) reads copies owned by os_user.
    certs_ = std::make_unique<testsupport::TestCerts>();
    ssl_dir_ = std::make_unique<sdk::testing::TempDir>("tandem-pg-ssl");
    const passwd* pg = ::getpwnam("postgres");
    if (!pg) throw std::runtime_error("no OS user postgres");
    auto own = [&](const std::filesystem::path& p) {
      if (::chown(p.c_str(), pg->pw_uid, pg->pw_gid) != 0) throw std::runtime_error("cannot chown " + p.string());
    };
    std::filesystem::permissions(ssl_dir_->path(), std::filesystem::perms(0755));
    own(ssl_dir_->path());
    for (const std::string name : {"ca.pem", "other-ca.pem", "alpha.pem", "alpha.key"}) {
      std::filesystem::copy_file(certs_->dir() / name, ssl_dir_->path() / name);
      own(ssl_dir_->path() / name);
    }
  }
  if (options.primary_ssl) {
    primary_options.extra_conf = {"ssl = on", "ssl_cert_file = '" + (ssl_dir_->path() / "alpha.pem").string() + "'",
                                  "ssl_key_file = '" + (ssl_dir_->path() / "alpha.key").string() + "'"};
    primary_options.hba_prepend = {"hostnossl replication replicator 127.0.0.1/32 reject",
                                   "hostssl replication replicator 127.0.0.1/32 scram-sha-256"};
  }
  alpha_.server = std::make_unique<PostgresServer>(primary_options);
  alpha_.server->psql("CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '" + std::string(kReplicationPassword) +
                      "'; CREATE TABLE seq(n bigint PRIMARY KEY, payload text)");
  PostgresOptions standby_options;
  standby_options.init = false;
  beta_.server = std::make_unique<PostgresServer>(standby_options);

  sdk::testing::TestHostOptions a;
  a.store_name = "pg";
  a.node_name = "alpha";
  a.role = sdk::Role::primary;
  a.peer = {"beta", "127.0.0.1", "http://127.0.0.1:1"};
  alpha_.host = std::make_unique<sdk::testing::TestHost>(a);
  sdk::testing::TestHostOptions b = a;
  b.node_name = "beta";
  b.role = sdk::Role::secondary;
  b.peer = {"alpha", "127.0.0.1", "http://127.0.0.1:1"};
  beta_.host = std::make_unique<sdk::testing::TestHost>(b);

  for (auto* node : {&alpha_, &beta_}) {
    node->plugin = std::make_unique<PostgresWalPlugin>();
    const Node& other = node == &alpha_ ? beta_ : alpha_;
    auto st = node->plugin->configure(config_for(*node->server, *other.server, options), *node->host);
    ASSERT_TRUE(st.ok()) << st.message();
    auto started = node->plugin->start();
    ASSERT_TRUE(started.ok()) << started.message();
  }
  alpha_.host->connect_peer(beta_.plugin.get());
  beta_.host->connect_peer(alpha_.plugin.get());
}

void PgPairTest::TearDown() {
  for (auto* node : {&alpha_, &beta_})
    if (node->plugin) node->plugin->stop();
  if (HasFailure()) {
    for (auto* node : {&alpha_, &beta_})
      if (node->server) std::cerr << "---- " << node->host->node().name << " server log:\n" << node->server->log_tail();
  }
}

void PgPairTest::build_standby() {
  auto report = beta_.plugin->sync();
  ASSERT_TRUE(report.ok()) << report.message();
  ASSERT_TRUE(eventually(
      [&] {
        (void)beta_.plugin->sync();
        return beta_.health()
                   .details.value("standby", nlohmann::json::object())
                   .value("wal_receiver_status", nlohmann::json()) == "streaming";
      },
      std::chrono::seconds(60)))
      << beta_.health().summary;
}

std::vector<long> PgPairTest::sequence_rows(const PostgresServer& server) {
  std::vector<long> rows;
  std::istringstream in(server.psql("SELECT n FROM seq ORDER BY n"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(std::stol(line));
  return rows;
}

}  // namespace tandem::pgwal::testing
