#include "cli/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tandem::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct ParsedUrl {
  std::string host;
  std::string port;
  std::string target;
};

sdk::Result<ParsedUrl> parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    if (url.rfind("https://", 0) == 0) return sdk::Error{"'" + url + "': https is not supported by tandemctl"};
    return sdk::Error{"'" + url + "' is not an http:// URL"};
  }
  std::string rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  ParsedUrl out;
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return sdk::Error{"'" + url + "': missing ']' in the host"};
    out.host = authority.substr(1, close - 1);
    out.port = close + 1 < authority.size() && authority[close + 1] == ':' ? authority.substr(close + 2) : "80";
  } else {
    auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    out.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  }
  if (out.host.empty() || out.port.empty()) return sdk::Error{"'" + url + "' has no host or port"};
  return out;
}

}  // namespace

std::string api_base_url(const std::string& bind_address, unsigned port) {
  std::string host = bind_address;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(port);
}

sdk::Result<HttpResponse> http_request(const HttpRequest& request) {
  auto url = parse_url(request.url);
  if (!url) return sdk::Error{url.message()};

  asio::io_context io;
  beast::tcp_stream stream(io);
  asio::ip::tcp::resolver resolver(io);
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  http::response<http::string_body> res;
  beast::error_code failure;
  std::string failed_step;
  bool done = false;

  auto fail = [&](const char* step, beast::error_code ec) {
    failure = ec;
    failed_step = step;
  };

  req.method_string(request.method);
  req.target(url->target);
  req.version(11);
  req.set(http::field::host, url->host + ":" + url->port);
  req.set(http::field::user_agent, "tandemctl");
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (!request.body.empty() || request.method == "POST") {
    req.body() = request.body;
    if (req[http::field::content_type].empty()) req.set(http::field::content_type, "application/json");
    req.prepare_payload();
  }

  // The deadline covers the whole exchange: a daemon that accepts but never
  // answers must not hang the CLI.
  stream.expires_after(request.timeout);
  resolver.async_resolve(url->host, url->port, [&](beast::error_code ec, asio::ip::tcp::resolver::results_type r) {
    if (ec) return fail("resolve", ec);
    stream.async_connect(r, [&](beast::error_code ec2, const asio::ip::tcp::endpoint&) {
      if (ec2) return fail("connect", ec2);
      http::async_write(stream, req, [&](beast::error_code ec3, std::size_t) {
        if (ec3) return fail("send", ec3);
        http::async_read(stream, buffer, res, [&](beast::error_code ec4, std::size_t) {
          if (ec4) return fail("read", ec4);
          done = true;
        });
      });
    });
  });
  io.run_for(request.timeout + std::chrono::seconds(1));
  if (!done) {
    if (failed_step.empty() || failure == beast::error::timeout)
      return sdk::Error{request.method + " " + request.url + ": no answer within " +
                        std::to_string(request.timeout.count()) + " ms"};
    return sdk::Error{request.method + " " + request.url + ": " + failed_step + " failed: " + failure.message()};
  }
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  out.content_type = std::string(res[http::field::content_type]);
  return out;
}

}  // namespace tandem::cli
