// virtual-ip through the real binaries on two hosts of a NetnsWorld: tandemd
// with a virtual-ip store on alpha and beta, tandemctl as an operator runs it,
// and a probe in the client namespace that lists the MACs answering ARP for
// the floating address, sampled all along: after a switchover and after
// beta's host dies (kill -9 of everything on it, link down) and alpha is
// promoted, the address answers from the new primary's MAC only, and no
// sample ever sees two. Beta reboots (its address is gone, as after a real
// reboot), comes back fenced and rejoins without taking it.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include "support/background_process.h"
#include "support/netns_scope.h"
#include "support/netns_world.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "vip_commands.h"

namespace tandem::virtual_ip {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sdk::testing::eventually;
using testsupport::NetnsWorld;
constexpr const char* kVip = "10.77.0.50";

class DaemonPair {
 public:
  DaemonPair() {
    for (const std::string node : {"alpha", "beta"}) {
      sdk::atomic_write_file(home(node) / "api-token", node + "-token\n", 0600);
    }
    for (const std::string node : {"alpha", "beta"}) {
      sdk::atomic_write_file(home(node) / "peer-token", peer(node) + "-token\n", 0600);
      std::string a = net_.address(node), p = net_.address(peer(node));
      sdk::atomic_write_file(home(node) / "tandem.toml",
                             "[node]\nname = \"" + node + "\"\naddress = \"" + a + "\"\nrole = \"" +
                                 (node == "alpha" ? "primary" : "secondary") +
                                 "\"\ndata_dir = \"data\"\n\n"
                                 "[peer]\nname = \"" +
                                 peer(node) + "\"\naddress = \"" + p + "\"\napi_url = \"http://" + p +
                                 ":7480\"\ntoken_file = \"peer-token\"\n"
                                 // Plain HTTP only between the test's own namespaces.
                                 "allow_insecure_peer = true\n\n"
                                 "[api]\nlisten = \"" +
                                 a +
                                 ":7480\"\ntoken_file = \"api-token\"\n\n"
                                 "[plugins]\nsearch_dirs = [\"" TANDEM_PLUGIN_DIR
                                 "\"]\n\n"
                                 "[stores.vip]\nplugin = \"virtual-ip\"\naddress = \"" +
                                 std::string(kVip) + "/24\"\ninterface = \"" + net_.interface(node) +
                                 "\"\nsync_interval = \"1s\"\n",
                             0644);
      macs_[node] = mac_of(node);
    }
  }
  ~DaemonPair() {
    stop_sampling();
    for (auto& [node, d] : tandemd_) d.stop();
  }
  static std::string peer(const std::string& n) { return n == "alpha" ? "beta" : "alpha"; }
  fs::path home(const std::string& n) const { return root_.path() / n; }
  NetnsWorld& net() { return net_; }
  const std::string& mac(const std::string& n) { return macs_[n]; }

  sdk::ProcessResult run_in(const std::string& node, std::vector<std::string> argv,
                            std::chrono::milliseconds t = 120s) {
    sdk::ProcessSpec spec;
    spec.argv = net_.exec_prefix(node);
    spec.argv.insert(spec.argv.end(), argv.begin(), argv.end());
    spec.timeout = t;
    auto r = sdk::run_process(spec);
    if (!r) throw std::runtime_error(r.message());
    return *r;
  }
  sdk::ProcessResult ctl(const std::string& node, std::vector<std::string> args) {
    args.insert(args.begin(), {TANDEMCTL_BINARY, "--config", (home(node) / "tandem.toml").string()});
    return run_in(node, args);
  }
  void start(const std::string& node) {
    sdk::ChildSpec spec;
    spec.argv = net_.exec_prefix(node);
    spec.argv.insert(spec.argv.end(), {TANDEMD_BINARY, "--config", (home(node) / "tandem.toml").string()});
    spec.env = {{"TANDEM_PLUGIN_PATH", ""}};
    spec.log_file = home(node) / "tandemd.log";
    tandemd_[node] = testsupport::start_background(spec);
    if (!eventually([&] { return ctl(node, {"status"}).exit_code == 0; }, 60s))
      throw std::runtime_error(node + "'s tandemd did not answer: " + tandemd_[node].log_tail());
  }
  std::string log(const std::string& node) { return tandemd_[node].log_tail(3000); }

  // The MACs answering for the address, from the client namespace.
  std::vector<std::string> answering() {
    testsupport::NetnsScope in(net_.netns(NetnsWorld::kClient));
    VipTarget probe;
    probe.interface = net_.interface(NetnsWorld::kClient);
    probe.address = kVip;
    auto r = other_holders(probe);
    return r ? *r : std::vector<std::string>{"probe failed: " + r.message()};
  }
  bool answers_only(const std::string& node) {
    return eventually([&] { return answering() == std::vector<std::string>{mac(node)}; }, 30s);
  }
  // A probe running all the time; most MACs any one sample saw.
  void start_sampling() {
    sampler_ = std::thread([this] {
      while (!stop_) {
        auto seen = answering();
        std::lock_guard l(mu_);
        if (!seen.empty() && seen[0].rfind("probe failed", 0) == 0) {
          ++failed_samples_;
          continue;
        }
        if (seen.size() > worst_.size()) worst_ = seen;
        ++samples_;
      }
    });
  }
  void stop_sampling() {
    stop_ = true;
    if (sampler_.joinable()) sampler_.join();
  }
  std::vector<std::string> worst() {
    std::lock_guard l(mu_);
    return worst_;
  }
  int samples() {
    std::lock_guard l(mu_);
    return samples_;
  }
  int failed_samples() {
    std::lock_guard l(mu_);
    return failed_samples_;
  }

 private:
  std::string mac_of(const std::string& node) {
    auto r = run_in(node, {"ip", "-o", "link", "show", "dev", net_.interface(node)}, 10s);
    std::smatch m;
    if (!std::regex_search(r.stdout_text, m, std::regex("link/ether ([0-9a-f:]{17})"))) return "?";
    return m[1];
  }
  NetnsWorld net_;
  sdk::testing::TempDir root_{"tandem-vip"};
  std::map<std::string, std::string> macs_;
  std::map<std::string, sdk::ChildProcess> tandemd_;
  std::thread sampler_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> worst_;
  int samples_ = 0;
  int failed_samples_ = 0;
};

TEST(VirtualIpDaemon, TheAddressFollowsSwitchoverAndKillNinePromoteAndNeverAnswersFromTwoNodes) {
  if (auto why = NetnsWorld::unavailable_reason()) GTEST_SKIP() << "NETWORK NAMESPACES UNAVAILABLE: " << *why;
  DaemonPair pair;
  pair.start("alpha");
  pair.start("beta");
  ASSERT_TRUE(pair.answers_only("alpha")) << pair.log("alpha");
  pair.start_sampling();

  auto sw = pair.ctl("beta", {"switchover"});
  ASSERT_EQ(sw.exit_code, 0) << sw.stdout_text << sw.stderr_text << pair.log("beta");
  EXPECT_TRUE(pair.answers_only("beta")) << "after the switchover: " << pair.log("beta");

  // beta's host dies: every process on it killed, its link down.
  pair.net().kill_all("beta");
  pair.net().link_down("beta");
  auto promote = pair.ctl("alpha", {"promote"});
  ASSERT_EQ(promote.exit_code, 0) << promote.stdout_text << promote.stderr_text << pair.log("alpha");
  EXPECT_NE(promote.stdout_text.find("promote:vip"), std::string::npos) << promote.stdout_text;
  EXPECT_TRUE(pair.answers_only("alpha")) << "after kill -9 + promote: " << pair.log("alpha");

  // beta reboots (its ip addr add is gone with the reboot), comes back fenced, rejoins.
  pair.run_in("beta", {"ip", "addr", "flush", "dev", pair.net().interface("beta"), "to", std::string(kVip) + "/32"});
  pair.net().link_up("beta");
  pair.start("beta");
  EXPECT_TRUE(
      eventually([&] { return pair.ctl("beta", {"status"}).stdout_text.find("FENCED") != std::string::npos; }, 30s));
  auto rejoin = pair.ctl("beta", {"rejoin"});
  EXPECT_EQ(rejoin.exit_code, 0) << rejoin.stdout_text << rejoin.stderr_text << pair.log("beta");
  EXPECT_TRUE(pair.answers_only("alpha")) << "after the rejoin";
  pair.stop_sampling();
  EXPECT_LE(pair.worst().size(), 1u) << "two nodes answered for the address at once: " << pair.worst()[0] << ", "
                                     << pair.worst()[1];
  EXPECT_GT(pair.samples(), 3);
  EXPECT_EQ(pair.failed_samples(), 0) << "client probes that could not run";
  std::cout << pair.samples() << " client probes, never more than one MAC answering" << std::endl;
}

}  // namespace
}  // namespace tandem::virtual_ip
