// Parsing [api] listen = "host:port" ("127.0.0.1:7480", "[::1]:7480").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tandem/sdk/result.h"

namespace tandem::core {

struct ListenAddress {
  std::string host;  // an IP literal, without brackets
  std::uint16_t port = 0;
};

// Accepts an IPv4 literal, a bracketed IPv6 literal or "localhost" (taken as
// 127.0.0.1), then ':' and a port 1..65535. The error says what is wrong.
sdk::Result<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace tandem::core
