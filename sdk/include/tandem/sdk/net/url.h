// The one URL parser of tandem: the host (peer api_url, tandemctl --url) and
// plugins (Elasticsearch urls) read base URLs with it, so that what the config
// check accepts is exactly what the HTTP client (net/http_client.h) connects to.
//
// Accepted: scheme "://" host [":" port] [path], where
//   scheme  http or https (any case); anything else is refused,
//   host    a DNS name or IPv4 literal, or an IPv6 literal in brackets ("[::1]"),
//   port    1..65535 (the scheme's default, or the caller's, when absent),
//   path    a base path ("/prefix"); a trailing '/' is dropped.
// Refused: credentials ("user:pw@host": a secret belongs in a file, and an error
// message never repeats it), queries and fragments (a base URL has none),
// whitespace and control bytes, an empty host, a port out of range.
// Whether the client can reach a parsed URL is decided by
// net::check_reachable in http_client.h, not here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tandem/sdk/result.h"

namespace tandem::sdk::net {

enum class Scheme { http, https };

// "http" or "https".
std::string_view to_string(Scheme scheme);

struct Url {
  Scheme scheme = Scheme::http;
  std::string host;        // without brackets: "10.0.0.2", "es.example", "::1"
  std::uint16_t port = 0;  // never 0 in a parsed Url
  std::string path;        // "" or "/prefix" (no trailing '/')

  // "host:port", with an IPv6 host in brackets (the Host header's form).
  std::string authority() const;
  // "http://host:port/prefix": the canonical spelling, safe to log.
  std::string to_string() const;
  // The request target for `target` ("/v1/status") under this base path; "/" when both are empty.
  std::string target_for(std::string_view target) const;
};

// Parses a base URL. `default_port` replaces the scheme's default (80, 443)
// when the URL has none (Elasticsearch's 9200). An error has the code
// invalid_argument and a message that quotes the URL with any credentials cut
// out, says what is wrong and what to write instead.
Result<Url> parse_url(std::string_view text, std::optional<std::uint16_t> default_port = std::nullopt);

// True for a host that is this machine's loopback: 127.0.0.0/8, ::1 (also
// IPv4-mapped) and "localhost". Traffic to it never crosses a network, so a
// token may go there in clear; to any other host only over TLS.
bool is_loopback_host(std::string_view host);

// The text with any "user:password@" replaced by "<credentials>@", for messages and logs.
std::string redact_url(std::string_view text);

// One path segment with every byte outside RFC 3986's unreserved set
// (A-Z a-z 0-9 - . _ ~) as %XX: a store name with '/', '?', '%' or a space
// stays one segment ("/v1/stores/" + encode_path_segment(name)).
std::string encode_path_segment(std::string_view segment);

}  // namespace tandem::sdk::net
