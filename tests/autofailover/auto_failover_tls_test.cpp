// Automatic failover over TLS to etcd (issue 16): the pair's etcd cluster
// serves https:// and requires client certificates, every certificate made
// for the test (tests/support/test_certs.h); tandemd gets [dcs] ca_file,
// cert_file and key_file. A takeover works through it; a wrong CA is a
// clear error at start, a CA file that is no certificate one at --check.
#include <thread>

#include "auto_failover_pair.h"
#include "support/test_certs.h"

namespace {

using namespace std::chrono_literals;
using namespace tandem::autofailover_test;

class AutoFailoverTls : public AutoFailoverPair {
 protected:
  void SetUp() override {
    AutoFailoverPair::SetUp();
    auto tls = tandem::sdk::net::make_client_tls({certs_.ca(), certs_.cert("alpha"), certs_.key("alpha")});
    ASSERT_TRUE(tls) << tls.message();
    etcd_client_tls_ = *tls;
  }
  tandem::testsupport::EtcdClusterOptions etcd_options() override {
    tandem::testsupport::EtcdClusterOptions o;
    o.tls_cert_file = certs_.cert("etcd");
    o.tls_key_file = certs_.key("etcd");
    o.client_ca_file = certs_.ca();
    return o;
  }
  void use_ca(const std::filesystem::path& ca) {
    dcs_extra_ = "ca_file = \"" + ca.string() + "\"\ncert_file = \"" + certs_.cert("alpha").string() +
                 "\"\nkey_file = \"" + certs_.key("alpha").string() + "\"\n";
  }
  tandem::sdk::ProcessResult run_tandemd(const std::vector<std::string>& extra) {
    tandem::sdk::ProcessSpec spec;
    spec.argv = {TANDEMD_BIN, "--config", (nodes_[0].dir / "tandem.toml").string()};
    spec.argv.insert(spec.argv.end(), extra.begin(), extra.end());
    spec.timeout = 60s;
    auto r = tandem::sdk::run_process(spec);
    if (!r) throw std::runtime_error("tandemd did not run: " + r.message());
    return *r;
  }

  tandem::testsupport::TestCerts certs_{{{"etcd", "127.0.0.1"}, {"alpha", "127.0.0.1"}}};
};

TEST_F(AutoFailoverTls, KillNineOfThePrimaryTheSecondaryTakesOverThroughTlsEtcd) {
  ASSERT_EQ(endpoints_toml_.find("http://"), std::string::npos) << endpoints_toml_;
  use_ca(certs_.ca());
  start_pair();
  EXPECT_TRUE(status(0)["failover"]["dcs"].value("healthy", false)) << status(0).dump();
  std::this_thread::sleep_for(kTtl + 1s);  // past beta's start-up grace
  auto killed = Clock::now();
  nodes_[0].daemon.kill();
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return primary_check(1) == 200; }, kTtl + 3s))
      << status(1).dump() << logs();
  std::printf(
      "[ figure ] TLS etcd: kill -9 of the primary -> beta primary after %lld ms (ttl %lld s)\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count()),
      static_cast<long long>(kTtl.count()));
  auto view = etcd_view();
  ASSERT_TRUE(view.leader);
  EXPECT_EQ(view.leader->node, "beta");
  EXPECT_EQ(view.etcd_epoch, 2u);
}

TEST_F(AutoFailoverTls, AWrongCaIsAClearErrorAtStartAndANonCertificateAtCheck) {
  ttl_ = kTtl;
  use_ca(certs_.dir() / "other-ca.pem");
  write_config(0);
  // A real CA, just not the one that signed etcd's certificate: only a
  // connection can tell, so tandemd refuses at start (--check passes).
  auto r = run_tandemd({});
  EXPECT_FALSE(r.timed_out) << "tandemd kept running without a verified etcd";
  EXPECT_NE(r.exit_code, 0);
  const std::string out = r.stdout_text + r.stderr_text;
  EXPECT_NE(out.find("[dcs] etcd cannot be read at start (etcd unreachable: "), std::string::npos) << out;
  EXPECT_NE(out.find("the server's certificate is refused"), std::string::npos) << out;
  std::printf("[ figure ] wrong CA at start: %s\n", out.substr(out.find("[dcs]")).c_str());

  // A ca_file that is no certificate at all: --check says so, naming the key.
  use_ca(certs_.key("alpha"));
  write_config(0);
  auto check = run_tandemd({"--check"});
  EXPECT_NE(check.exit_code, 0) << check.stdout_text << check.stderr_text;
  const std::string said = check.stdout_text + check.stderr_text;
  EXPECT_NE(said.find("[dcs] ca_file"), std::string::npos) << said;

  // https:// endpoints and http:// ones in one list: refused at --check.
  use_ca(certs_.ca());
  endpoints_toml_ = "[\"" + etcd_->client_url(0) + "\", \"http://127.0.0.1:2379\"]";
  write_config(0);
  auto mixed = run_tandemd({"--check"});
  EXPECT_NE(mixed.exit_code, 0);
  EXPECT_NE((mixed.stdout_text + mixed.stderr_text).find("mix http:// and https://"), std::string::npos)
      << mixed.stdout_text << mixed.stderr_text;
}

}  // namespace
