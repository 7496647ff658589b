// Streaming replication over TLS (peer_sslmode, peer_sslrootcert) between two
// real PostgreSQL 15 clusters: alpha serves TLS with a certificate from
// scripts/make-test-certs.sh and its pg_hba.conf rejects replication without
// TLS, so a standby that streams proves the setting reached libpq, and
// pg_stat_ssl on the primary shows the walsender's connection encrypted.
#include "pair_fixture.h"

namespace tandem::pgwal::testing {
namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class PgSslTest : public PgPairTest {
 protected:
  void SetUp() override {}  // each test sets up its own pair
  // alpha serving TLS; both nodes with these peer_sslmode / peer_sslrootcert.
  void set_up(const std::string& sslmode, const std::string& rootcert = "") {
    PairOptions o;
    o.primary_ssl = true;
    o.peer_sslmode = sslmode;
    o.peer_sslrootcert = rootcert;
    SetUpPair(o);
  }
  // Whether every walsender on alpha (base backup and streaming) uses TLS, as pg_stat_ssl reports.
  std::string walsender_ssl() {
    return alpha_.server->psql(
        "SELECT coalesce(string_agg(s.ssl::text || '/' || s.version, ','), 'none') FROM pg_stat_replication r "
        "JOIN pg_stat_ssl s USING (pid)");
  }
};

TEST_F(PgSslTest, VerifyFullStreamsOverTls) {
  set_up("verify-full", "ca");
  build_standby();
  const std::string ssl = walsender_ssl();
  EXPECT_TRUE(has(ssl, "true/TLSv1.3")) << ssl;
  EXPECT_FALSE(has(ssl, "false")) << ssl;
  const std::string conninfo = beta_.server->psql("SELECT setting FROM pg_settings WHERE name = 'primary_conninfo'");
  EXPECT_TRUE(has(conninfo, "sslmode=verify-full sslrootcert=")) << conninfo;
  // A row written on the primary arrives through the encrypted stream.
  alpha_.server->psql("INSERT INTO seq VALUES (1, 'over tls')");
  EXPECT_TRUE(sdk::testing::eventually([&] { return sequence_rows(*beta_.server) == std::vector<long>{1}; },
                                       std::chrono::seconds(30)));
}

TEST_F(PgSslTest, ACertificateFromAnotherCaIsRefused) {
  set_up("verify-full", "other-ca");
  auto report = beta_.plugin->sync();
  ASSERT_FALSE(report.ok()) << "built a standby from a server whose certificate the CA did not sign";
  EXPECT_TRUE(has(report.message(), "certificate verify failed")) << report.message();
}

// The control: without TLS the primary's pg_hba.conf refuses the standby, so
// the test above could fail if sslmode never reached the connection.
TEST_F(PgSslTest, ControlWithoutTlsThePrimaryRefusesTheStandby) {
  set_up("disable");
  auto report = beta_.plugin->sync();
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(has(report.message(), "no encryption")) << report.message();
}

}  // namespace
}  // namespace tandem::pgwal::testing
