#include "config/listen_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace tandem::core {
namespace {

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

}  // namespace

sdk::Result<ListenAddress> parse_listen_address(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return sdk::Error{"missing ']' after the IPv6 address"};
    host = std::string(text.substr(1, close - 1));
    if (close + 1 >= text.size() || text[close + 1] != ':') return sdk::Error{"missing ':PORT' after ']'"};
    port_text = text.substr(close + 2);
    if (!is_ipv6(host)) return sdk::Error{"'" + host + "' is not an IPv6 address"};
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return sdk::Error{"missing ':PORT'"};
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) return sdk::Error{"an IPv6 address must be written in brackets"};
    if (host == "localhost") host = "127.0.0.1";
    if (!is_ipv4(host)) return sdk::Error{"'" + host + "' is not an IPv4 address"};
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return sdk::Error{"port '" + std::string(port_text) + "' is not a number from 1 to 65535"};
  return ListenAddress{host, static_cast<std::uint16_t>(port)};
}

}  // namespace tandem::core
