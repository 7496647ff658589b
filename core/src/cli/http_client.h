// A small synchronous HTTP/1.1 client for tandemctl (Boost.Beast): one
// request per connection, with a deadline covering connect, write and read.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "tandem/sdk/result.h"

namespace tandem::cli {

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // "http://host:port/path"; IPv6 hosts in brackets
  std::string body;
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};
};

// An error (connection refused, timeout, malformed URL) is returned as an
// sdk::Error whose text says what failed; any HTTP status is a response.
sdk::Result<HttpResponse> http_request(const HttpRequest& request);

// "http://127.0.0.1:7480" for a listen address (a wildcard bind is reached on loopback).
std::string api_base_url(const std::string& bind_address, unsigned port);

}  // namespace tandem::cli
