// Reading `ip` and `arping` output: the lines iproute2 and iputils print.
#include "vip_output.h"

#include <gtest/gtest.h>

namespace tandem::virtual_ip {
namespace {

TEST(VipOutput, AnAddressOnTheInterfaceIsFound) {
  const std::string out =
      "2: eth0    inet 10.0.0.7/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever\n"
      "2: eth0    inet 10.0.0.50/24 scope global secondary eth0\\       valid_lft forever\n";
  EXPECT_TRUE(lists_inet_address(out, "10.0.0.50"));
  EXPECT_TRUE(lists_inet_address(out, "10.0.0.7"));
}

TEST(VipOutput, AnAddressThatOnlySharesAPrefixIsNotFound) {
  const std::string out = "2: eth0    inet 10.0.0.50/24 scope global eth0\n";
  EXPECT_FALSE(lists_inet_address(out, "10.0.0.5"));
  EXPECT_FALSE(lists_inet_address(out, "0.0.0.50"));
  EXPECT_FALSE(lists_inet_address("", "10.0.0.50"));
  // Not a word of its own: part of another token.
  EXPECT_FALSE(lists_inet_address("2: eth0 xinet 10.0.0.50/24\n", "10.0.0.50"));
}

TEST(VipOutput, ArpRepliesGiveEachMacOnceInLowerCase) {
  const std::string out =
      "ARPING 10.0.0.50 from 0.0.0.0 eth0\n"
      "Unicast reply from 10.0.0.50 [02:AB:CD:EF:01:23]  0.612ms\n"
      "Unicast reply from 10.0.0.50 [02:ab:cd:ef:01:23]  0.500ms\n"
      "Unicast reply from 10.0.0.50 [0A:00:00:00:00:09]  0.700ms\n"
      "Sent 2 probes (2 broadcast(s))\n"
      "Received 3 response(s)\n";
  EXPECT_EQ(arp_reply_macs(out), (std::vector<std::string>{"02:ab:cd:ef:01:23", "0a:00:00:00:00:09"}));
}

TEST(VipOutput, NoReplyOrAMalformedOneGivesNoMac) {
  EXPECT_TRUE(arp_reply_macs("ARPING 10.0.0.50 from 0.0.0.0 eth0\nSent 2 probes\nReceived 0 response(s)\n").empty());
  EXPECT_TRUE(arp_reply_macs("Unicast reply from 10.0.0.50 [02:AB:CD:EF:01]  0.6ms\n").empty());
  EXPECT_TRUE(arp_reply_macs("Unicast reply from 10.0.0.50 [02:AB:CD:EF:01:2G]  0.6ms\n").empty());
  // A bracket on the next line is not this reply's MAC.
  EXPECT_TRUE(arp_reply_macs("Unicast reply from 10.0.0.50\n [02:ab:cd:ef:01:23]\n").empty());
  EXPECT_TRUE(arp_reply_macs("Unicast reply from 10.0.0.50 [02:ab:cd:ef:01:2").empty());
}

TEST(VipOutput, TheLinkMacIsRead) {
  EXPECT_EQ(link_ether_mac("2: eth0: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state UP\\    link/ether "
                           "02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff\n"),
            "02:42:ac:11:00:02");
  EXPECT_EQ(
      link_ether_mac("1: lo: <LOOPBACK,UP> mtu 65536\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"),
      "");
  EXPECT_EQ(link_ether_mac("2: eth0: ...    link/ether 02:42:ac"), "");
}

}  // namespace
}  // namespace tandem::virtual_ip
