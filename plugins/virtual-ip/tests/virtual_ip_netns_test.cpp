// The floating address between two hosts of a NetnsWorld (alpha, beta), as
// the client namespace sees it: a probe there (arping) lists the MACs that
// answer for the address, which must be exactly the primary's, never two.
// Each node's plugin runs in this process with a TestHost; every call is made
// from inside that node's namespace, as its tandemd would run it.
#include <gtest/gtest.h>

#include "support/netns_scope.h"
#include "support/netns_world.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/test_host.h"
#include "virtual_ip_plugin.h"

namespace tandem::virtual_ip {
namespace {

using testsupport::NetnsScope;
using testsupport::NetnsWorld;
constexpr const char* kVip = "10.77.0.50";

sdk::Result<sdk::ProcessResult> run(std::vector<std::string> argv) {
  sdk::ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.timeout = std::chrono::seconds(10);
  return sdk::run_process(spec);
}

struct Node {
  Node(NetnsWorld& net, const std::string& name, const std::string& peer, sdk::Role role)
      : net(net), name(name), host([&] {
          sdk::testing::TestHostOptions o;
          o.node_name = name;
          o.node_address = net.address(name);
          o.peer = {peer, net.address(peer), "http://" + net.address(peer) + ":7480"};
          o.role = role;
          return o;
        }()) {
    NetnsScope in(net.netns(name));
    auto st = plugin.configure(
        sdk::StoreConfig::from_json("vip", sdk::store_schema(plugin),
                                    {{"address", std::string(kVip) + "/24"}, {"interface", net.interface(name)}}),
        host);
    if (!st.ok()) throw std::runtime_error(st.message());
    target.interface = net.interface(name);
    target.address = kVip;
    mac = own_mac(target);
  }
  template <class F>
  auto in(F f) {
    NetnsScope scope(net.netns(name));
    return f(plugin);
  }
  bool holds_now() {
    NetnsScope scope(net.netns(name));
    auto h = holds(target);
    return h && *h;
  }
  NetnsWorld& net;
  std::string name;
  sdk::testing::TestHost host;
  VirtualIpPlugin plugin;
  VipTarget target;
  std::string mac;
};

// The MACs answering ARP for the address, seen from the client namespace.
std::vector<std::string> answering(NetnsWorld& net) {
  NetnsScope in(net.netns(NetnsWorld::kClient));
  VipTarget probe;
  probe.interface = net.interface(NetnsWorld::kClient);
  probe.address = kVip;
  probe.probe_timeout = std::chrono::seconds(2);
  auto r = other_holders(probe);
  if (!r) throw std::runtime_error("client probe: " + r.message());
  return *r;
}

class VirtualIpNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = NetnsWorld::unavailable_reason()) GTEST_SKIP() << "NETWORK NAMESPACES UNAVAILABLE: " << *why;
    if (!run({"arping", "-V"}).ok()) GTEST_SKIP() << "arping (iputils-arping) not installed";
    net = std::make_unique<NetnsWorld>(std::vector<std::string>{"alpha", "beta"});
    alpha = std::make_unique<Node>(*net, "alpha", "beta", sdk::Role::primary);
    beta = std::make_unique<Node>(*net, "beta", "alpha", sdk::Role::secondary);
  }
  std::unique_ptr<NetnsWorld> net;
  std::unique_ptr<Node> alpha, beta;
};

TEST_F(VirtualIpNetns, TheAddressAnswersFromThePrimaryOnlyAcrossSwitchoverAndAKilledHost) {
  ASSERT_TRUE(alpha->in([](auto& p) { return p.start(); }).ok());
  ASSERT_TRUE(beta->in([](auto& p) { return p.start(); }).ok());
  EXPECT_EQ(answering(*net), std::vector<std::string>{alpha->mac}) << "alpha, the primary, holds it";
  EXPECT_EQ(alpha->plugin.health().status, sdk::HealthStatus::ok) << alpha->plugin.health().summary;
  ASSERT_TRUE(beta->in([](auto& p) { return p.sync(); }).ok());
  auto bh = beta->plugin.health();
  EXPECT_EQ(bh.status, sdk::HealthStatus::ok) << bh.summary;
  EXPECT_EQ(bh.details["other_holders"], nlohmann::json::array({alpha->mac})) << bh.details.dump();

  // Planned switchover: alpha drops it (demote first), then beta takes it (promote last).
  sdk::FailoverRequest sw{sdk::FailoverKind::switchover, 2, false, false, nlohmann::json::object()};
  ASSERT_TRUE(beta->in([&](auto& p) { return p.prepare(sw); })->ready);
  ASSERT_TRUE(alpha->in([&](auto& p) { return p.demote(sw); }).ok());
  EXPECT_TRUE(answering(*net).empty());
  auto promoted = beta->in([&](auto& p) { return p.promote(sw); });
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  alpha->host.set_role(sdk::Role::secondary);
  beta->host.set_role(sdk::Role::primary);
  EXPECT_EQ(answering(*net), std::vector<std::string>{beta->mac}) << "after the switchover";

  // beta's host dies (link down: its kernel still has the address, nobody
  // reaches it); alpha's unplanned promote sees nobody answering and takes it.
  net->link_down("beta");
  sdk::FailoverRequest fo{sdk::FailoverKind::failover, 3, false, false, nlohmann::json::object()};
  auto ready = alpha->in([&](auto& p) { return p.prepare(fo); });
  ASSERT_TRUE(ready.ok() && ready->ready) << (ready.ok() ? ready->refusal : ready.message());
  ASSERT_TRUE(alpha->in([&](auto& p) { return p.promote(fo); }).ok());
  alpha->host.set_role(sdk::Role::primary);
  EXPECT_EQ(answering(*net), std::vector<std::string>{alpha->mac}) << "after kill + promote";

  // beta comes back fenced: its tandemd starts and drops the address at once.
  beta->host.set_fenced(true);
  ASSERT_TRUE(beta->in([](auto& p) { return p.start(); }).ok());
  net->link_up("beta");
  EXPECT_FALSE(beta->holds_now()) << "a fenced node holds the address";
  EXPECT_EQ(answering(*net), std::vector<std::string>{alpha->mac}) << "after the fenced node came back";
}

TEST_F(VirtualIpNetns, AConflictIsFailedHealthAndPromoteNeverTakesAnAddressSomeoneAnswersFor) {
  ASSERT_TRUE(alpha->in([](auto& p) { return p.start(); }).ok());
  // Someone puts the address on beta too, by hand.
  {
    NetnsScope in(net->netns("beta"));
    auto r = run({"ip", "addr", "add", std::string(kVip) + "/24", "dev", net->interface("beta")});
    ASSERT_TRUE(r.ok() && r->succeeded());
  }
  ASSERT_TRUE(alpha->in([](auto& p) { return p.sync(); }).ok());
  auto h = alpha->plugin.health();
  EXPECT_EQ(h.status, sdk::HealthStatus::failed) << h.summary;
  EXPECT_NE(h.summary.find("CONFLICT"), std::string::npos) << h.summary;
  EXPECT_EQ(h.details["other_holders"], nlohmann::json::array({beta->mac})) << h.details.dump();
  // beta is a secondary: its own sync drops the copy (never on a non-primary).
  ASSERT_TRUE(beta->in([](auto& p) { return p.sync(); }).ok());
  EXPECT_FALSE(beta->holds_now());
  EXPECT_EQ(answering(*net), std::vector<std::string>{alpha->mac});

  // A forced promote of beta while alpha still answers: refused by the step.
  sdk::FailoverRequest forced{sdk::FailoverKind::failover, 2, true, false, nlohmann::json::object()};
  auto r = beta->in([&](auto& p) { return p.promote(forced); });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("still answered by " + alpha->mac), std::string::npos) << r.message();
  EXPECT_FALSE(beta->holds_now());
  auto prep = beta->in([&](auto& p) { return p.prepare(sdk::FailoverRequest{}); });
  ASSERT_TRUE(prep.ok());
  EXPECT_FALSE(prep->ready);
  EXPECT_NE(prep->refusal.find("the old primary still holds it"), std::string::npos) << prep->refusal;
}

TEST_F(VirtualIpNetns, AnAddressOnAnotherInterfaceOfThisHostIsRefusedAtConfigure) {
  NetnsScope in(net->netns("alpha"));
  sdk::testing::TestHost host;
  VirtualIpPlugin plugin;
  std::string why;
  try {
    auto st =
        plugin.configure(sdk::StoreConfig::from_json("vip", sdk::store_schema(plugin),
                                                     {{"address", net->address("alpha") + "/24"}, {"interface", "lo"}}),
                         host);
    why = st.ok() ? "" : st.message();
  } catch (const sdk::ConfigError& e) {
    why = e.what();
  }
  EXPECT_NE(why.find("is already in use on this host's interface " + net->interface("alpha")), std::string::npos)
      << why;
}

}  // namespace
}  // namespace tandem::virtual_ip
