#include "tandem/sdk/net/url.h"

#include <algorithm>
#include <cctype>

#include <boost/asio/ip/address.hpp>

namespace tandem::sdk::net {
namespace {

constexpr std::string_view kExample = "e.g. \"http://10.0.0.2:7480\"";

bool is_control_or_space(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

// Letters, digits, '-', '.', '_' (what resolvers accept in a name or an IPv4 literal).
bool is_host_name(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '-' || c == '.' || c == '_';
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Error refuse(std::string_view text, const std::string& what) {
  std::string message = "'";  // appended: GCC 12 warns falsely on "'" + string temporaries (-Wrestrict)
  message += redact_url(text);
  message += "' ";
  message += what;
  return Error{std::move(message), ErrorCode::invalid_argument};
}

}  // namespace

std::string_view to_string(Scheme scheme) { return scheme == Scheme::https ? "https" : "http"; }

std::string Url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string Url::to_string() const { return std::string(net::to_string(scheme)) + "://" + authority() + path; }

std::string Url::target_for(std::string_view target) const {
  std::string out = path + std::string(target);
  return out.empty() ? "/" : out;
}

bool is_loopback_host(std::string_view host) {
  if (lower(host) == "localhost") return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) return false;  // any other name may resolve anywhere
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()).is_loopback();
  return address.is_loopback();
}

std::string redact_url(std::string_view text) {
  auto start = text.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  auto end = text.find_first_of("/?#", start);
  std::string_view authority = text.substr(start, end == std::string_view::npos ? text.npos : end - start);
  auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(text);
  return std::string(text.substr(0, start)) + "<credentials>" + std::string(text.substr(start + at));
}

Result<Url> parse_url(std::string_view text, std::optional<std::uint16_t> default_port) {
  if (text.empty()) return refuse(text, std::string("is empty; write a URL, ") + std::string(kExample));
  if (std::any_of(text.begin(), text.end(), is_control_or_space))
    return refuse(text, "contains a space or a control character; write the URL alone, " + std::string(kExample));

  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    return refuse(text, "is not a URL (no scheme); write scheme://host:port, " + std::string(kExample));
  Url url;
  std::string scheme = lower(text.substr(0, sep));
  if (scheme == "http")
    url.scheme = Scheme::http;
  else if (scheme == "https")
    url.scheme = Scheme::https;
  else
    return refuse(text, "has the scheme '" + scheme + "'; only http:// and https:// URLs are supported, " +
                            std::string(kExample));

  std::string_view rest = text.substr(sep + 3);
  auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);

  if (authority.find('@') != std::string_view::npos)
    return refuse(text,
                  "carries credentials; a URL may not hold a user or password (they would be logged and shown): "
                  "remove 'user:password@' and give the secret in a token or password file");
  if (tail.find_first_of("?#") != std::string_view::npos)
    return refuse(text, "has a query or fragment; a base URL is scheme://host:port[/path], " + std::string(kExample));

  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return refuse(text, "has an IPv6 address without its closing ']'");
    url.host = std::string(authority.substr(1, close - 1));
    boost::system::error_code ec;
    boost::asio::ip::make_address_v6(url.host, ec);
    if (ec || url.host.find('%') != std::string::npos)
      return refuse(text, "has '[" + url.host + "]', which is not an IPv6 address; write e.g. \"http://[::1]:7480\"");
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return refuse(text, "has text after the IPv6 address; write [address]:port");
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    auto colon = authority.find(':');
    if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos)
      return refuse(text, "has an IPv6 address without brackets; write it as \"http://[::1]:7480\"");
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
    if (url.host.empty()) return refuse(text, "has no host; " + std::string(kExample));
    if (!is_host_name(url.host))
      return refuse(text, "has the host '" + url.host + "', which is not a host name or IP address");
  }

  if (has_port) {
    if (port_text.empty() || port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return refuse(text, "has the port '" + std::string(port_text) + "'; a port is a number from 1 to 65535");
    unsigned long port = std::stoul(std::string(port_text));
    if (port < 1 || port > 65535)
      return refuse(text, "has the port " + std::string(port_text) + ", out of range; a port is 1 to 65535");
    url.port = static_cast<std::uint16_t>(port);
  } else {
    url.port = default_port.value_or(url.scheme == Scheme::https ? 443 : 80);
  }

  url.path = std::string(tail);
  while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
  return url;
}

std::string encode_path_segment(std::string_view segment) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace tandem::sdk::net
