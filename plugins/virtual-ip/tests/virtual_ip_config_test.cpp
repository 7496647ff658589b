// virtual-ip's configure(): what --check refuses, each with the key and what to do.
#include <gtest/gtest.h>

#include "tandem/sdk/testing/test_host.h"
#include "virtual_ip_plugin.h"

namespace tandem::virtual_ip {
namespace {

std::string refusal(const nlohmann::json& values) {
  VirtualIpPlugin plugin;
  sdk::testing::TestHostOptions o;
  o.node_address = "10.9.0.1";
  o.peer = {"beta", "10.9.0.2", "http://10.9.0.2:7480"};
  sdk::testing::TestHost host(o);
  try {
    auto st = plugin.configure(sdk::StoreConfig::from_json("vip", sdk::store_schema(plugin), values), host);
    return st.ok() ? "" : st.message();
  } catch (const sdk::ConfigError& e) {
    return e.what();
  }
}

TEST(VirtualIpConfig, AGoodTableIsAccepted) {
  EXPECT_EQ(refusal({{"address", "10.9.0.50/24"}, {"interface", "lo"}}), "");
}

TEST(VirtualIpConfig, AnInterfaceThatDoesNotExistIsRefused) {
  auto why = refusal({{"address", "10.9.0.50/24"}, {"interface", "no-such-if0"}});
  EXPECT_NE(why.find("interface"), std::string::npos) << why;
  EXPECT_NE(why.find("no interface named 'no-such-if0' on this host"), std::string::npos) << why;
}

TEST(VirtualIpConfig, AnAddressThatIsNotIpv4WithAPrefixIsRefused) {
  for (std::string bad : {"10.9.0.500/24", "fe80::1/64", "10.9.0.50/33", "vip"}) {
    auto why = refusal({{"address", bad}, {"interface", "lo"}});
    EXPECT_NE(why.find("address"), std::string::npos) << bad << ": " << why;
    EXPECT_FALSE(why.empty()) << bad << " was accepted";
  }
}

TEST(VirtualIpConfig, AnAddressAlreadyInUseIsRefused) {
  auto own = refusal({{"address", "10.9.0.1/24"}, {"interface", "lo"}});
  EXPECT_NE(own.find("already in use: it is this node's own address"), std::string::npos) << own;
  auto peer = refusal({{"address", "10.9.0.2/24"}, {"interface", "lo"}});
  EXPECT_NE(peer.find("the peer's own address"), std::string::npos) << peer;
}

}  // namespace
}  // namespace tandem::virtual_ip
