// config-rsync's two transports end to end between two hosts: real tandemd
// on each node of a NetnsWorld (tests/support/netns_world.h), with
//  - ssh: a real sshd per node started here, with its own host key, an
//    authorized key, and a known_hosts file the client checks the host key
//    against (no host-key checking is turned off);
//  - rsync daemon: a real rsync daemon per node with `auth users` and a
//    secrets file; the client's password comes from password_file (0600).
// Each passes the sync test (a change on the primary reaches the secondary)
// and the promote tests (after a switchover the other way round; after the
// primary dies, a promote, and the old primary's fenced restart and rejoin,
// the new primary's change reaches it). A wrong rsync secret gives an error
// naming the password file.
//
// The capture test: with the peer channel over HTTPS and config-rsync over
// ssh, tcpdump inside alpha's namespace records everything between the nodes,
// and neither API token nor a marker from the config content is in it; the
// same run with plain HTTP (allow_insecure_peer) and the rsync daemon shows
// both in clear (the control: the test can fail).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "support/background_process.h"
#include "support/netns_world.h"
#include "support/rsync_daemon.h"
#include "support/test_certs.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::config_rsync::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sdk::testing::eventually;
using testsupport::NetnsWorld;

void write_file(const fs::path& p, const std::string& text,
                fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
  fs::permissions(p, perms);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

enum class Transport { ssh, rsync_daemon };

// Distinct enough never to occur in a capture by chance.
const std::string kAlphaToken = "alpha-token-5d1c8e0a93";
const std::string kBetaToken = "beta-token-27f4b6c1e8";

class NetnsPair {
 public:
  // tls: the API and the peer channel over HTTPS (certificates from
  // scripts/make-test-certs.sh naming each node's address); otherwise plain
  // HTTP with allow_insecure_peer.
  explicit NetnsPair(Transport transport, std::string rsync_secret_on_beta = "the-rsync-secret", bool tls = false)
      : transport_(transport), beta_secret_(std::move(rsync_secret_on_beta)) {
    if (tls)
      certs_.emplace(std::vector<std::pair<std::string, std::string>>{{"alpha", world_.address("alpha")},
                                                                      {"beta", world_.address("beta")}});
    for (const std::string node : {"alpha", "beta"}) fs::create_directories(tree(node));
    if (transport_ == Transport::ssh) {
      // One client key for both nodes, each node's own host key.
      keygen(root_.path() / "id_ed25519");
      fs::copy_file(root_.path() / "id_ed25519.pub", root_.path() / "authorized_keys");
      for (const std::string node : {"alpha", "beta"}) keygen(home(node) / "ssh_host_ed25519_key");
      for (const std::string node : {"alpha", "beta"}) {
        // What this node trusts: exactly the peer's host key at the peer's address.
        std::string pub = read_file(home(peer(node)) / "ssh_host_ed25519_key.pub");
        write_file(home(node) / "known_hosts", world_.address(peer(node)) + " " + pub);
        start_sshd(node);
      }
    } else {
      for (const std::string node : {"alpha", "beta"}) {
        testsupport::RsyncDaemonOptions o;
        o.modules["myapp"] = tree(node);
        o.auth_user = "tandem";
        o.auth_password = "the-rsync-secret";
        o.port = 8730;
        o.exec_prefix = world_.exec_prefix(node);
        o.address = world_.address(node);
        o.hosts_allow = world_.subnet();
        rsyncd_.emplace(node, std::make_unique<testsupport::RsyncDaemon>(o));
        write_file(home(node) / "rsync.password", (node == "beta" ? beta_secret_ : "the-rsync-secret") + "\n");
      }
    }
    write_file(home("alpha") / "api-token", kAlphaToken + "\n");
    write_file(home("beta") / "api-token", kBetaToken + "\n");
    fs::copy_file(home("beta") / "api-token", home("alpha") / "peer-token");
    fs::copy_file(home("alpha") / "api-token", home("beta") / "peer-token");
    write_config("alpha", "primary");
    write_config("beta", "secondary");
  }

  ~NetnsPair() {
    for (auto& [node, d] : tandemd_) d.stop();
  }

  fs::path home(const std::string& node) const { return root_.path() / node; }
  fs::path tree(const std::string& node) const { return home(node) / "etc" / "myapp"; }
  static std::string peer(const std::string& node) { return node == "alpha" ? "beta" : "alpha"; }
  fs::path config(const std::string& node) const { return home(node) / "tandem.toml"; }
  NetnsWorld& world() { return world_; }

  sdk::ProcessResult run_in(const std::string& node, std::vector<std::string> argv,
                            std::chrono::milliseconds timeout = 60s) {
    sdk::ProcessSpec spec;
    spec.argv = world_.exec_prefix(node);
    spec.argv.insert(spec.argv.end(), argv.begin(), argv.end());
    spec.timeout = timeout;
    auto r = sdk::run_process(spec);
    if (!r) throw std::runtime_error(r.message());
    return *r;
  }

  void start_tandemd(const std::string& node) {
    sdk::ChildSpec spec;
    spec.argv = world_.exec_prefix(node);
    spec.argv.insert(spec.argv.end(), {TANDEMD_BINARY, "--config", config(node).string()});
    spec.env = {{"TANDEM_PLUGIN_PATH", ""}};
    spec.log_file = home(node) / "tandemd.log";
    tandemd_[node] = testsupport::start_background(spec);
    bool up = eventually([&] { return status(node).exit_code == 0; }, 60s);
    if (!up) throw std::runtime_error(node + "'s tandemd did not answer: " + log_tail(node));
  }

  sdk::ProcessResult status(const std::string& node) {
    return run_in(node, {TANDEMCTL_BINARY, "--config", config(node).string(), "status"}, 20s);
  }
  std::string store_json(const std::string& node) {
    if (certs_)
      return run_in(node,
                    {"curl", "-s", "--cacert", certs_->ca().string(), "--cert", certs_->cert(node).string(), "--key",
                     certs_->key(node).string(), "https://" + world_.address(node) + ":7480/v1/stores/config"},
                    20s)
          .stdout_text;
    return run_in(node, {"curl", "-s", "http://" + world_.address(node) + ":7480/v1/stores/config"}, 20s).stdout_text;
  }
  std::string log_tail(const std::string& node) { return tandemd_[node].log_tail(); }
  void kill_tandemd(const std::string& node) { tandemd_[node].kill(); }
  // The node's known_hosts names another key for the peer's address (a host
  // that is not who it claims to be).
  void distrust_peer_host_key(const std::string& node) {
    keygen(root_.path() / "impostor_key");
    write_file(home(node) / "known_hosts",
               world_.address(peer(node)) + " " + read_file(root_.path() / "impostor_key.pub"));
  }

 private:
  void keygen(const fs::path& key) {
    sdk::ProcessSpec spec;
    spec.argv = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tandem-test", "-f", key.string()};
    auto r = sdk::run_process(spec);
    if (!r || !r->succeeded()) throw std::runtime_error("ssh-keygen failed for " + key.string());
  }

  void start_sshd(const std::string& node) {
    // sshd's privilege-separation directory, made by the openssh-server
    // package's service unit: an empty, root-owned /run/sshd.
    fs::create_directories("/run/sshd");
    const fs::path cfg = home(node) / "sshd_config";
    write_file(cfg, "Port 22\nListenAddress " + world_.address(node) + "\nHostKey " +
                        (home(node) / "ssh_host_ed25519_key").string() + "\nPidFile " +
                        (home(node) / "sshd.pid").string() + "\nAuthorizedKeysFile " +
                        (root_.path() / "authorized_keys").string() +
                        "\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                        "PermitRootLogin prohibit-password\nUsePAM no\n"
                        // The keys live under /tmp, whose mode sshd's ownership checks reject;
                        // this is about the server's own files, not host-key checking.
                        "StrictModes no\n");
    sdk::ChildSpec spec;
    spec.argv = world_.exec_prefix(node);
    spec.argv.insert(spec.argv.end(), {"/usr/sbin/sshd", "-D", "-e", "-f", cfg.string()});
    spec.log_file = home(node) / "sshd.log";
    sshd_[node] = testsupport::start_background(spec);
    bool up = eventually(
        [&] { return read_file(home(node) / "sshd.log").find("Server listening on") != std::string::npos; }, 10s);
    if (!up) throw std::runtime_error("sshd on " + node + " did not start: " + read_file(home(node) / "sshd.log"));
  }

  void write_config(const std::string& node, const std::string& role) {
    const std::string other = peer(node);
    std::string store;
    if (transport_ == Transport::ssh) {
      const std::string rsh = "ssh -i " + (root_.path() / "id_ed25519").string() +
                              " -o UserKnownHostsFile=" + (home(node) / "known_hosts").string() +
                              " -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes";
      store = "remote = \"root@{peer}:\"\nrsh = \"" + rsh + "\"\n";
    } else {
      store = "remote = \"rsync://tandem@{peer}:8730\"\npassword_file = \"" + (home(node) / "rsync.password").string() +
              "\"\n";
    }
    std::string remote_path =
        transport_ == Transport::ssh ? "remote_path = \"" + tree(other).string() + "\"\n" : "remote_path = \"myapp\"\n";
    std::string scheme = certs_ ? "https" : "http";
    // Plain HTTP only between the test's own namespaces.
    std::string peer_tls = certs_ ? "ca_file = \"" + certs_->ca().string() + "\"\ntls_cert_file = \"" +
                                        certs_->cert(node).string() + "\"\ntls_key_file = \"" +
                                        certs_->key(node).string() + "\"\n"
                                  : "allow_insecure_peer = true\n";
    std::string api_tls = certs_ ? "tls_cert_file = \"" + certs_->cert(node).string() + "\"\ntls_key_file = \"" +
                                       certs_->key(node).string() + "\"\ntls_client_ca_file = \"" +
                                       certs_->ca().string() + "\"\n"
                                 : "";
    write_file(config(node),
               "[node]\nname = \"" + node + "\"\naddress = \"" + world_.address(node) + "\"\nrole = \"" + role +
                   "\"\ndata_dir = \"" + (home(node) / "data").string() + "\"\n\n[peer]\nname = \"" + other +
                   "\"\naddress = \"" + world_.address(other) + "\"\napi_url = \"" + scheme + "://" +
                   world_.address(other) + ":7480\"\ntoken_file = \"" + (home(node) / "peer-token").string() + "\"\n" +
                   peer_tls + "\n[api]\nlisten = \"" + world_.address(node) + ":7480\"\ntoken_file = \"" +
                   (home(node) / "api-token").string() + "\"\n" + api_tls +
                   "\n[plugins]\nsearch_dirs = [\"" TANDEM_PLUGIN_DIR
                   "\"]\n\n[stores.config]\nplugin = "
                   "\"config-rsync\"\n" +
                   store + "serve_port = 0\nallowed_root = \"" + root_.path().string() +
                   "\"\ndelete = true\nsync_interval = \"2s\"\ntimeout = \"5s\"\n\n[[stores.config.paths]]\nname = "
                   "\"myapp\"\npath = \"" +
                   tree(node).string() + "\"\n" + remote_path,
               fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  }

  Transport transport_;
  std::string beta_secret_;
  NetnsWorld world_;
  std::optional<testsupport::TestCerts> certs_;
  sdk::testing::TempDir root_{"tandem-config-rsync-netns"};
  std::map<std::string, sdk::ChildProcess> sshd_;
  std::map<std::string, std::unique_ptr<testsupport::RsyncDaemon>> rsyncd_;
  std::map<std::string, sdk::ChildProcess> tandemd_;
};

bool namespaces_usable() {
  if (auto why = NetnsWorld::unavailable_reason()) {
    std::cout << "no network namespaces: " << *why << "\n";
    return false;
  }
  return true;
}

// The sync test, then the promote test: a change on the primary reaches the
// secondary; after a switchover, a change on the new primary reaches the old.
void sync_and_promote(Transport transport) {
  NetnsPair pair(transport);
  pair.start_tandemd("alpha");
  pair.start_tandemd("beta");

  write_file(pair.tree("alpha") / "app.conf", "workers = 4\n", fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(eventually([&] { return read_file(pair.tree("beta") / "app.conf") == "workers = 4\n"; }, 60s))
      << pair.store_json("beta") << pair.log_tail("beta");

  auto sw = pair.run_in("beta", {TANDEMCTL_BINARY, "--config", pair.config("beta").string(), "switchover"}, 120s);
  ASSERT_EQ(sw.exit_code, 0) << sw.stdout_text << sw.stderr_text << pair.log_tail("beta");
  EXPECT_TRUE(
      eventually([&] { return pair.status("alpha").stdout_text.find("role secondary") != std::string::npos; }, 30s))
      << pair.status("alpha").stdout_text;

  write_file(pair.tree("beta") / "app.conf", "workers = 8\n", fs::perms::owner_read | fs::perms::owner_write);
  write_file(pair.tree("beta") / "conf.d" / "new.conf", "x\n", fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(eventually(
      [&] {
        return read_file(pair.tree("alpha") / "app.conf") == "workers = 8\n" &&
               read_file(pair.tree("alpha") / "conf.d" / "new.conf") == "x\n";
      },
      60s))
      << pair.store_json("alpha") << pair.log_tail("alpha");
  auto st = pair.status("alpha");
  EXPECT_NE(st.stdout_text.find("in sync"), std::string::npos) << st.stdout_text;

  // Unplanned: the primary (beta) dies; alpha is promoted; beta comes back
  // fenced and rejoins, pulling what alpha changed meanwhile.
  pair.kill_tandemd("beta");
  auto promote = pair.run_in("alpha", {TANDEMCTL_BINARY, "--config", pair.config("alpha").string(), "promote"}, 120s);
  ASSERT_EQ(promote.exit_code, 0) << promote.stdout_text << promote.stderr_text << pair.log_tail("alpha");
  write_file(pair.tree("alpha") / "app.conf", "workers = 16\n", fs::perms::owner_read | fs::perms::owner_write);
  pair.start_tandemd("beta");
  EXPECT_TRUE(eventually([&] { return pair.status("beta").stdout_text.find("FENCED") != std::string::npos; }, 30s))
      << pair.status("beta").stdout_text;
  auto rejoin = pair.run_in("beta", {TANDEMCTL_BINARY, "--config", pair.config("beta").string(), "rejoin"}, 120s);
  ASSERT_EQ(rejoin.exit_code, 0) << rejoin.stdout_text << rejoin.stderr_text << pair.log_tail("beta");
  EXPECT_TRUE(eventually([&] { return read_file(pair.tree("beta") / "app.conf") == "workers = 16\n"; }, 60s))
      << pair.store_json("beta") << pair.log_tail("beta");
  auto beta = pair.status("beta").stdout_text;
  EXPECT_NE(beta.find("role secondary  epoch 3"), std::string::npos) << beta;  // 1, switchover 2, promote 3
}

TEST(ConfigRsyncNetns, SshTransportSyncsAndFollowsSwitchoverAndPromote) {
  if (!namespaces_usable()) GTEST_SKIP() << "needs network namespaces";
  sync_and_promote(Transport::ssh);
}

TEST(ConfigRsyncNetns, RsyncDaemonWithAuthUsersSyncsAndFollowsSwitchoverAndPromote) {
  if (!namespaces_usable()) GTEST_SKIP() << "needs network namespaces";
  sync_and_promote(Transport::rsync_daemon);
}

// The host key is checked: against a known_hosts entry with another key,
// the pull fails and says so.
TEST(ConfigRsyncNetns, SshRefusesAPeerWhoseHostKeyDoesNotMatchKnownHosts) {
  if (!namespaces_usable()) GTEST_SKIP() << "needs network namespaces";
  NetnsPair pair(Transport::ssh);
  pair.distrust_peer_host_key("beta");
  write_file(pair.tree("alpha") / "app.conf", "workers = 4\n", fs::perms::owner_read | fs::perms::owner_write);
  pair.start_tandemd("alpha");
  pair.start_tandemd("beta");
  std::string detail;
  EXPECT_TRUE(eventually(
      [&] {
        detail = pair.store_json("beta");
        return detail.find("remote shell failed") != std::string::npos;
      },
      60s))
      << detail;
  EXPECT_NE(detail.find("(ssh could not connect or authenticate)): Host key verification failed"), std::string::npos)
      << detail;
  EXPECT_FALSE(fs::exists(pair.tree("beta") / "app.conf")) << "pulled from a host with the wrong key";
}

TEST(ConfigRsyncNetns, AWrongRsyncSecretIsAClearErrorNamingThePasswordFile) {
  if (!namespaces_usable()) GTEST_SKIP() << "needs network namespaces";
  NetnsPair pair(Transport::rsync_daemon, "not-the-secret");
  pair.start_tandemd("alpha");
  pair.start_tandemd("beta");
  const std::string file = (pair.home("beta") / "rsync.password").string();
  std::string detail;
  EXPECT_TRUE(eventually(
      [&] {
        detail = pair.store_json("beta");
        return detail.find("the daemon refused the password in password_file " + file) != std::string::npos;
      },
      60s))
      << detail;
  EXPECT_NE(detail.find("auth failed"), std::string::npos) << detail;
  EXPECT_EQ(detail.find("not-the-secret"), std::string::npos) << "the secret reached the status";
  EXPECT_EQ(pair.log_tail("beta").find("not-the-secret"), std::string::npos) << "the secret reached the log";
}

// tcpdump inside a node's namespace, recording every packet to or from
// `peer_address` (both directions of the network between the two nodes).
class Capture {
 public:
  Capture(NetnsPair& pair, const std::string& node, const std::string& peer_address)
      : file_(dir_.path() / "capture.pcap") {
    sdk::ChildSpec spec;
    spec.argv = pair.world().exec_prefix(node);
    spec.argv.insert(spec.argv.end(),
                     {"tcpdump", "-i", "any", "-U", "-s", "0", "-n", "-w", file_.string(), "host", peer_address});
    spec.log_file = dir_.path() / "tcpdump.log";
    tcpdump_ = testsupport::start_background(spec);
    bool up = eventually(
        [&] { return read_file(dir_.path() / "tcpdump.log").find("listening on") != std::string::npos; }, 10s);
    if (!up) throw std::runtime_error("tcpdump did not start: " + read_file(dir_.path() / "tcpdump.log"));
  }
  // Stops the capture; the raw bytes of every packet recorded.
  std::string finish() {
    tcpdump_.stop();
    return read_file(file_);
  }

 private:
  sdk::testing::TempDir dir_{"tandem-capture"};
  fs::path file_;
  sdk::ChildProcess tcpdump_;
};

bool tcpdump_available() {
  sdk::ProcessSpec spec;
  spec.argv = {"tcpdump", "--version"};
  if (auto r = sdk::run_process(spec); r && r->succeeded()) return true;
  std::cout << "tcpdump is not installed (scripts/install-deps.sh installs it)\n";
  return false;
}

// One capture of the pair at work: both daemons up, a config change with
// `marker` carried to the secondary, and several of the peer's status polls
// (each carrying its token). Returns what crossed the network.
std::string capture_pair_traffic(Transport transport, bool tls, const std::string& marker) {
  NetnsPair pair(transport, "the-rsync-secret", tls);
  Capture capture(pair, "alpha", pair.world().address("beta"));
  pair.start_tandemd("alpha");
  pair.start_tandemd("beta");
  write_file(pair.tree("alpha") / "app.conf", "db_password = " + marker + "\n",
             fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(
      eventually([&] { return read_file(pair.tree("beta") / "app.conf").find(marker) != std::string::npos; }, 60s))
      << pair.store_json("beta") << pair.log_tail("beta");
  // Both see the other reachable: the polls crossed (over TLS, the handshake verified).
  for (const std::string node : {"alpha", "beta"})
    EXPECT_TRUE(
        eventually([&] { return pair.status(node).stdout_text.find("reachable, role") != std::string::npos; }, 30s))
        << pair.status(node).stdout_text << pair.log_tail(node);
  // The peer monitor polls every 3 s: a few more polls each way.
  std::this_thread::sleep_for(7s);
  return capture.finish();
}

TEST(ConfigRsyncNetnsCapture, WithTlsAndSshNoTokenOrConfigContentCrossesInClear) {
  if (!namespaces_usable() || !tcpdump_available()) GTEST_SKIP() << "needs network namespaces and tcpdump";
  const std::string marker = "MARKER-c0nf1g-s3cret-tls";
  std::string seen = capture_pair_traffic(Transport::ssh, /*tls=*/true, marker);
  ASSERT_GT(seen.size(), 20000u) << "the capture recorded almost nothing";
  EXPECT_NE(seen.find("SSH-2.0-"), std::string::npos) << "no ssh session in the capture";
  EXPECT_EQ(seen.find(kAlphaToken), std::string::npos) << "alpha's API token crossed in clear";
  EXPECT_EQ(seen.find(kBetaToken), std::string::npos) << "beta's API token crossed in clear";
  EXPECT_EQ(seen.find(marker), std::string::npos) << "the config content crossed in clear";
  EXPECT_EQ(seen.find("Authorization"), std::string::npos) << "an HTTP header crossed in clear";
}

TEST(ConfigRsyncNetnsCapture, ControlWithoutTlsTheTokensAndTheContentAreInTheCapture) {
  if (!namespaces_usable() || !tcpdump_available()) GTEST_SKIP() << "needs network namespaces and tcpdump";
  const std::string marker = "MARKER-c0nf1g-s3cret-clear";
  std::string seen = capture_pair_traffic(Transport::rsync_daemon, /*tls=*/false, marker);
  EXPECT_NE(seen.find("Bearer " + kAlphaToken), std::string::npos) << "beta's polls to alpha were not captured";
  EXPECT_NE(seen.find("Bearer " + kBetaToken), std::string::npos) << "alpha's polls to beta were not captured";
  EXPECT_NE(seen.find(marker), std::string::npos) << "the rsync daemon transfer was not captured";
}

}  // namespace
}  // namespace tandem::config_rsync::testing
