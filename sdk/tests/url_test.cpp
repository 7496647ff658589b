// net::parse_url: every scheme, IPv6 brackets, ports, credentials, garbage.
#include <gtest/gtest.h>

#include "tandem/sdk/net/http_client.h"
#include "tandem/sdk/net/url.h"

namespace tandem::sdk::net {
namespace {

Url parsed(std::string_view text, std::optional<std::uint16_t> default_port = std::nullopt) {
  auto url = parse_url(text, default_port);
  EXPECT_TRUE(url.ok()) << text << ": " << (url.ok() ? "" : url.message());
  return url.ok() ? *url : Url{};
}

// The refusal's message, checked to be invalid_argument and to quote no secret.
std::string refusal(std::string_view text) {
  auto url = parse_url(text);
  EXPECT_FALSE(url.ok()) << text << " was accepted";
  if (url.ok()) return "";
  EXPECT_EQ(url.code(), ErrorCode::invalid_argument) << text;
  EXPECT_EQ(url.message().find("s3cret"), std::string::npos) << url.message();
  return url.message();
}

TEST(UrlTest, HttpWithHostPortAndPath) {
  Url u = parsed("http://10.0.0.2:7480");
  EXPECT_EQ(u.scheme, Scheme::http);
  EXPECT_EQ(u.host, "10.0.0.2");
  EXPECT_EQ(u.port, 7480);
  EXPECT_EQ(u.path, "");
  EXPECT_EQ(u.to_string(), "http://10.0.0.2:7480");
  EXPECT_EQ(u.target_for("/v1/status"), "/v1/status");
  EXPECT_EQ(u.target_for(""), "/");

  Url p = parsed("http://proxy.example:8080/tandem/");
  EXPECT_EQ(p.host, "proxy.example");
  EXPECT_EQ(p.path, "/tandem");
  EXPECT_EQ(p.target_for("/v1/status"), "/tandem/v1/status");
  EXPECT_EQ(p.to_string(), "http://proxy.example:8080/tandem");
}

TEST(UrlTest, DefaultPorts) {
  EXPECT_EQ(parsed("http://host").port, 80);
  EXPECT_EQ(parsed("https://host").port, 443);
  EXPECT_EQ(parsed("http://host", 9200).port, 9200);
  EXPECT_EQ(parsed("http://host:9201", 9200).port, 9201);
}

TEST(UrlTest, SchemesOtherThanHttpAndHttpsAreRefused) {
  EXPECT_EQ(parsed("HTTP://Host:1").scheme, Scheme::http);
  EXPECT_EQ(parsed("https://host:1").scheme, Scheme::https);
  for (const char* text : {"ftp://host:21", "file:///etc/passwd", "ws://host:80", "tcp://host:1", "redis://h:6379",
                           "httpx://host:1", "://host:1"})
    EXPECT_NE(refusal(text).find("only http://"), std::string::npos) << text;
  EXPECT_NE(refusal("10.0.0.2:7480").find("no scheme"), std::string::npos);
  EXPECT_NE(refusal("mailto:x@y").find("no scheme"), std::string::npos);
}

TEST(UrlTest, HttpAndHttpsAreBothReachable) {
  EXPECT_TRUE(check_reachable(parsed("https://10.0.0.2:7480")).ok());
  EXPECT_TRUE(parse_reachable_url("https://10.0.0.2:7480").ok());
  EXPECT_TRUE(parse_reachable_url("http://10.0.0.2:7480").ok());
  EXPECT_TRUE(check_reachable(parsed("http://h:1")).ok());
}

TEST(UrlTest, LoopbackHostsAreTheOnesThatNeverLeaveTheMachine) {
  for (const char* host : {"127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1", "localhost", "LOCALHOST"})
    EXPECT_TRUE(is_loopback_host(host)) << host;
  for (const char* host : {"10.0.0.2", "0.0.0.0", "::", "192.168.1.1", "fe80::1", "localhost.example", "beta", ""})
    EXPECT_FALSE(is_loopback_host(host)) << host;
}

TEST(UrlTest, Ipv6LiteralsGoInBrackets) {
  Url u = parsed("http://[::1]:7481/tandem");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 7481);
  EXPECT_EQ(u.authority(), "[::1]:7481");
  EXPECT_EQ(u.to_string(), "http://[::1]:7481/tandem");
  EXPECT_EQ(parsed("http://[fd00::2]").port, 80);
  EXPECT_EQ(parsed("http://[::ffff:10.0.0.1]:1").host, "::ffff:10.0.0.1");

  EXPECT_NE(refusal("http://::1:7480").find("without brackets"), std::string::npos);
  EXPECT_NE(refusal("http://[::1:7480").find("closing ']'"), std::string::npos);
  EXPECT_NE(refusal("http://[]:7480").find("not an IPv6 address"), std::string::npos);
  EXPECT_NE(refusal("http://[10.0.0.1]:7480").find("not an IPv6 address"), std::string::npos);
  EXPECT_NE(refusal("http://[zz::1]:7480").find("not an IPv6 address"), std::string::npos);
  EXPECT_NE(refusal("http://[fe80::1%25eth0]:7480").find("not an IPv6 address"), std::string::npos);
  EXPECT_NE(refusal("http://[::1]x:7480").find("after the IPv6 address"), std::string::npos);
}

TEST(UrlTest, PortsOutOfRangeOrNotNumbersAreRefused) {
  EXPECT_EQ(parsed("http://h:1").port, 1);
  EXPECT_EQ(parsed("http://h:65535").port, 65535);
  EXPECT_EQ(parsed("http://h:07480").port, 7480);
  EXPECT_NE(refusal("http://h:0").find("out of range"), std::string::npos);
  EXPECT_NE(refusal("http://h:65536").find("out of range"), std::string::npos);
  EXPECT_NE(refusal("http://h:70000").find("out of range"), std::string::npos);
  for (const char* text : {"http://h:", "http://h:-1", "http://h:+80", "http://h:80a", "http://h:999999",
                           "http://h:18446744073709551617", "http://[::1]:"})
    EXPECT_NE(refusal(text).find("a port is"), std::string::npos) << text;
}

TEST(UrlTest, CredentialsAreRefusedAndNeverRepeated) {
  std::string m = refusal("http://admin:s3cret@10.0.0.2:7480");
  EXPECT_NE(m.find("credentials"), std::string::npos);
  EXPECT_NE(m.find("<credentials>@10.0.0.2:7480"), std::string::npos) << m;
  refusal("http://s3cret@host");
  refusal("https://user:s3cret@[::1]:1/p");
  EXPECT_EQ(redact_url("http://admin:s3cret@h:1/a@b"), "http://<credentials>@h:1/a@b");
  EXPECT_EQ(redact_url("http://h:1/a@b"), "http://h:1/a@b");
}

TEST(UrlTest, GarbageIsRefused) {
  EXPECT_NE(refusal("").find("is empty"), std::string::npos);
  EXPECT_NE(refusal("http://").find("no host"), std::string::npos);
  EXPECT_NE(refusal("http://:7480").find("no host"), std::string::npos);
  EXPECT_NE(refusal("http:///path").find("no host"), std::string::npos);
  EXPECT_NE(refusal("http://ho st:1").find("space"), std::string::npos);
  EXPECT_NE(refusal(" http://h:1").find("space"), std::string::npos);
  EXPECT_NE(refusal("http://h:1\n").find("control"), std::string::npos);
  EXPECT_NE(refusal(std::string_view("http://h\0:1", 11)).find("control"), std::string::npos);
  EXPECT_NE(refusal("http://h:1/v1?x=1").find("query"), std::string::npos);
  EXPECT_NE(refusal("http://h:1#frag").find("query"), std::string::npos);
  EXPECT_NE(refusal("http://h%41:1").find("not a host name"), std::string::npos);
  EXPECT_NE(refusal("http://h!x:1").find("not a host name"), std::string::npos);
  EXPECT_NE(refusal("http://h\xff:1").find("not a host name"), std::string::npos);
}

}  // namespace
TEST(UrlTest, PathSegmentsAreEncodedWhole) {
  EXPECT_EQ(encode_path_segment("app-1.db_x~"), "app-1.db_x~");
  EXPECT_EQ(encode_path_segment("a/b?c#d e%"), "a%2Fb%3Fc%23d%20e%25");
  EXPECT_EQ(encode_path_segment("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(encode_path_segment(""), "");
}

}  // namespace tandem::sdk::net
