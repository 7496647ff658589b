#include <gtest/gtest.h>

#include "config/listen_address.h"

namespace tandem::core {
namespace {

TEST(ListenAddress, AcceptsIpv4Ipv6AndLocalhost) {
  auto v4 = parse_listen_address("127.0.0.1:7480");
  ASSERT_TRUE(v4.ok()) << v4.message();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 7480);
  auto v6 = parse_listen_address("[::1]:8080");
  ASSERT_TRUE(v6.ok()) << v6.message();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8080);
  auto local = parse_listen_address("localhost:1");
  ASSERT_TRUE(local.ok()) << local.message();
  EXPECT_EQ(local->host, "127.0.0.1");
}

TEST(ListenAddress, RefusesMalformedAddressesSayingWhy) {
  EXPECT_NE(parse_listen_address("127.0.0.1").message().find("missing ':PORT'"), std::string::npos);
  EXPECT_NE(parse_listen_address("127.0.0.1:0").message().find("1 to 65535"), std::string::npos);
  EXPECT_NE(parse_listen_address("127.0.0.1:70000").message().find("1 to 65535"), std::string::npos);
  EXPECT_NE(parse_listen_address("127.0.0.1:80x").message().find("1 to 65535"), std::string::npos);
  EXPECT_NE(parse_listen_address("::1:7480").message().find("brackets"), std::string::npos);
  EXPECT_NE(parse_listen_address("[::1:7480").message().find("']'"), std::string::npos);
  EXPECT_NE(parse_listen_address("example.com:80").message().find("not an IPv4 address"), std::string::npos);
  EXPECT_NE(parse_listen_address("[1.2.3.4]:80").message().find("not an IPv6 address"), std::string::npos);
}

}  // namespace
}  // namespace tandem::core
