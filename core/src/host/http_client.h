// A small asynchronous HTTP/1.1 client on the event loop, for talking to the
// peer's tandemd (status polling, store events). One request per connection,
// bounded by a timeout; the callback runs on the io_context exactly once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

namespace tandem::core {

// "http://host:port[/prefix]" split into parts. Only plain http is supported
// (the API listens on loopback or a private network; see docs/http-api.md).
struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string prefix;  // without trailing '/'
};
std::optional<HttpUrl> parse_http_url(const std::string& url, std::string* why = nullptr);

struct HttpOutcome {
  bool ok = false;    // a response arrived (any status)
  std::string error;  // transport error when !ok
  int status = 0;
  std::string body;
};

struct HttpCall {
  std::string method = "GET";
  std::string target;  // "/v1/status"
  std::string body;
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds timeout{std::chrono::seconds(3)};
};

void async_http(boost::asio::io_context& io, const HttpUrl& url, HttpCall call, std::function<void(HttpOutcome)> done);

}  // namespace tandem::core
