#include "host/http_client.h"

#include <fcntl.h>

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tandem::core {
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

std::optional<HttpUrl> parse_http_url(const std::string& url, std::string* why) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    if (why) *why = "'" + url + "' must start with http://";
    return std::nullopt;
  }
  std::string rest = url.substr(scheme.size());
  HttpUrl out;
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out.prefix = rest.substr(slash);
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    auto close = authority.find(']');
    if (close == std::string::npos) {
      if (why) *why = "'" + url + "': unterminated IPv6 address";
      return std::nullopt;
    }
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') out.port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) out.port = authority.substr(colon + 1);
  }
  if (out.host.empty() || out.port.empty()) {
    if (why) *why = "'" + url + "' has no host or port";
    return std::nullopt;
  }
  return out;
}

namespace {

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(boost::asio::io_context& io, HttpUrl url, HttpCall call, std::function<void(HttpOutcome)> done)
      : resolver_(io), stream_(io), url_(std::move(url)), call_(std::move(call)), done_(std::move(done)) {}

  void start() {
    request_.method_string(call_.method);
    request_.target(url_.prefix + call_.target);
    request_.version(11);
    request_.set(http::field::host, url_.host + ":" + url_.port);
    request_.set(http::field::user_agent, "tandemd");
    request_.set(http::field::connection, "close");
    for (const auto& [k, v] : call_.headers) request_.set(k, v);
    if (!call_.body.empty() || call_.method == "POST") {
      request_.set(http::field::content_type, "application/json");
      request_.body() = call_.body;
    }
    request_.prepare_payload();
    // One deadline for resolve + connect + write + read.
    stream_.expires_after(call_.timeout);
    deadline_ = std::chrono::steady_clock::now() + call_.timeout;
    resolver_.async_resolve(url_.host, url_.port,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
                              self->on_resolve(ec, std::move(r));
                            });
  }

 private:
  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return finish("cannot resolve " + url_.host + ": " + ec.message());
    auto left = deadline_ - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return finish("timed out");
    stream_.expires_after(left);
    // Open the socket ourselves to mark it close-on-exec before any plugin
    // subprocess can inherit it; then connect to the first address.
    if (results.empty()) return finish("no address for " + url_.host);
    tcp::endpoint endpoint = *results.begin();
    beast::error_code open_ec;
    stream_.socket().open(endpoint.protocol(), open_ec);
    if (open_ec) return finish("cannot open a socket: " + open_ec.message());
    int fd = stream_.socket().native_handle();
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    stream_.async_connect(endpoint, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->finish("cannot connect to " + self->url_.host + ":" + self->url_.port + ": " + ec.message());
      http::async_write(self->stream_, self->request_, [self](beast::error_code ec, std::size_t) {
        if (ec) return self->finish("write failed: " + ec.message());
        self->parser_.body_limit(4 * 1024 * 1024);
        http::async_read(self->stream_, self->buffer_, self->parser_, [self](beast::error_code ec, std::size_t) {
          if (ec) return self->finish("read failed: " + ec.message());
          HttpOutcome out;
          out.ok = true;
          out.status = static_cast<int>(self->parser_.get().result_int());
          out.body = std::move(self->parser_.get().body());
          self->complete(std::move(out));
        });
      });
    });
  }

  void finish(std::string error) {
    HttpOutcome out;
    out.error = std::move(error);
    complete(std::move(out));
  }

  void complete(HttpOutcome out) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);  // best effort on a finished exchange
    if (done_) {
      auto done = std::move(done_);
      done_ = nullptr;
      done(std::move(out));
    }
  }

  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  HttpUrl url_;
  HttpCall call_;
  std::function<void(HttpOutcome)> done_;
  std::chrono::steady_clock::time_point deadline_;
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

}  // namespace

void async_http(boost::asio::io_context& io, const HttpUrl& url, HttpCall call, std::function<void(HttpOutcome)> done) {
  std::make_shared<Exchange>(io, url, std::move(call), std::move(done))->start();
}

}  // namespace tandem::core
