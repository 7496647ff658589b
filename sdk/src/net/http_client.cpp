#include "tandem/sdk/net/http_client.h"

#include <fcntl.h>

#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tandem/sdk/net/tls.h"

namespace tandem::sdk::net {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

Status check_reachable(const Url&) { return {}; }  // http and https both

Result<Url> parse_reachable_url(std::string_view text, std::optional<std::uint16_t> default_port) {
  auto url = parse_url(text, default_port);
  TANDEM_TRY(url);
  TANDEM_TRY(check_reachable(*url));
  return url;
}

// One connection to one server and the request running on it. Both the
// one-shot calls and Connection use it, so there is one exchange to get right.
// Handlers hold a shared_ptr to the session while an operation is pending.
namespace {

// The context of an https request without one of its own: the system's
// trust store, built once.
Result<std::shared_ptr<const TlsContext>> system_tls() {
  static const Result<std::shared_ptr<const TlsContext>> context = make_client_tls({});
  return context;
}

}  // namespace

namespace detail {
class Session : public std::enable_shared_from_this<Session> {
 public:
  using Done = std::function<void(Result<Response>)>;

  Session(boost::asio::io_context& io, Url url, bool keep_alive)
      : resolver_(io), stream_(io), cancel_timer_(io), url_(std::move(url)), keep_alive_(keep_alive) {
    // Beast sizes each read from the buffer's free capacity: large answers
    // (bulk responses) read in big pieces.
    buffer_.reserve(64 * 1024);
  }

  // Holds `req` for as long as the session lives, for a caller that does
  // not wait for the completion (async_request).
  const Request& keep(Request req) { return kept_.emplace(std::move(req)); }

  bool connected() { return stream_.socket().is_open(); }
  bool timed_out() const { return timed_out_; }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);  // best effort on a finished exchange
    stream_.socket().close(ignored);
    // The TLS session object stays (close() may run while one of its
    // operations is pending, e.g. on cancel): the next handshake replaces it.
    buffer_.consume(buffer_.size());
  }

  // The request refers to `req.body` (a bulk body of megabytes is not
  // copied): it must stay valid until `done` ran.
  void run(const Request& req, Done done) {
    done_ = std::move(done);
    timed_out_ = false;
    what_ = req.method + " " + url_.to_string() + req.target;
    timeout_ = req.timeout;
    deadline_ = std::chrono::steady_clock::now() + req.timeout;
    max_response_bytes_ = req.max_response_bytes;
    head_ = req.method == "HEAD";
    if (url_.scheme == Scheme::https) {
      auto tls = req.tls ? Result<std::shared_ptr<const TlsContext>>(req.tls) : system_tls();
      if (!tls) return fail_now(Error{what_ + ": " + tls.message(), tls.code()});
      tls_ = *tls;
      tls_name_ = req.tls_name.empty() ? url_.host : req.tls_name;
    }
    cancel_ = req.cancel;
    if (cancel_) watch_cancel(std::chrono::milliseconds(0));

    request_ = {};
    request_.method_string(req.method);
    request_.target(url_.target_for(req.target));
    request_.version(11);
    request_.set(http::field::host, url_.authority());
    request_.set(http::field::user_agent, "tandem");
    request_.keep_alive(keep_alive_);
    for (const auto& [name, value] : req.headers) request_.set(name, value);
    bool sends_body = !req.body.empty() || req.method == "POST" || req.method == "PUT";
    if (sends_body && request_[http::field::content_type].empty())
      request_.set(http::field::content_type, "application/json");
    request_.body() = {req.body.data(), req.body.size()};
    request_.prepare_payload();

    if (connected()) return write();
    stream_.tcp().expires_at(deadline_);
    resolver_.async_resolve(url_.host, std::to_string(url_.port),
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              if (ec)
                                return self->fail(ErrorCode::unavailable, "cannot resolve " + self->url_.host, ec);
                              self->endpoints_.assign(results.begin(), results.end());
                              self->connect(0, {});
                            });
  }

 private:
  // Polls the caller's cancel flag while the exchange runs; closing the
  // socket aborts whatever operation is pending.
  void watch_cancel(std::chrono::milliseconds after) {
    cancel_timer_.expires_after(after);
    cancel_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->done_) return;  // the exchange completed first
      if (!self->cancel_->load()) return self->watch_cancel(std::chrono::milliseconds(20));
      self->complete(Error{self->what_ + ": cancelled (the caller is stopping)", ErrorCode::failed});
      self->resolver_.cancel();
      self->close();
    });
  }

  // Tries each resolved address in turn until one accepts.
  void connect(std::size_t index, beast::error_code last) {
    if (index >= endpoints_.size())
      return fail(ErrorCode::unavailable, "cannot connect to " + url_.authority(),
                  last ? last : make_error_code(boost::asio::error::host_not_found));
    beast::error_code ec;
    stream_.socket().close(ec);
    // Opened here rather than by connect so the socket is close-on-exec
    // before any plugin's child process could inherit it.
    stream_.socket().open(endpoints_[index].endpoint().protocol(), ec);
    if (ec) return fail(ErrorCode::unavailable, "cannot open a socket", ec);
    int fd = stream_.socket().native_handle();
    if (int flags = ::fcntl(fd, F_GETFD); flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    stream_.tcp().expires_at(deadline_);
    stream_.tcp().async_connect(endpoints_[index].endpoint(), [self = shared_from_this(), index](beast::error_code ec) {
      if (ec == beast::error::timeout) return self->fail(ErrorCode::unavailable, "cannot connect", ec);
      if (ec) return self->connect(index + 1, ec);
      beast::error_code ignored;
      self->stream_.socket().set_option(tcp::no_delay(true), ignored);
      if (self->url_.scheme == Scheme::https) return self->handshake();
      self->write();
    });
  }

  // Verifies the server's chain and that its certificate names tls_name_.
  void handshake() {
    if (auto started = stream_.start_tls(*tls_, tls_name_); !started)
      return fail_now(Error{what_ + ": " + started.message(), started.code()});
    stream_.tcp().expires_at(deadline_);
    stream_.tls()->async_handshake(
        boost::asio::ssl::stream_base::client, [self = shared_from_this()](beast::error_code ec) {
          if (!ec) return self->write();
          if (ec == beast::error::timeout) return self->fail(ErrorCode::unavailable, "TLS handshake", ec);
          std::string why = self->stream_.verify_failure();
          if (why.empty()) return self->fail(ErrorCode::failed, "TLS handshake failed", ec);
          self->close();
          self->complete(Error{self->what_ + ": TLS handshake failed: the server's certificate is refused (" + why +
                                   "; verified name '" + self->tls_name_ +
                                   "'): check the CA file trusted and the certificate's subjectAltName",
                               ErrorCode::failed});
        });
  }

  void write() {
    stream_.tcp().expires_at(deadline_);
    http::async_write(stream_, request_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail(ErrorCode::failed, "sending the request failed", ec);
      self->read();
    });
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(max_response_bytes_);
    if (head_) parser_->skip(true);
    stream_.tcp().expires_at(deadline_);
    // The header first: Boost 1.74's parser does not hold a response's
    // Content-Length against body_limit (it does for chunked and to-EOF bodies).
    http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail(ErrorCode::failed, "reading the answer failed", ec);
      if (auto length = self->parser_->content_length(); length && *length > self->max_response_bytes_)
        return self->fail(ErrorCode::failed, "reading the answer failed", make_error_code(http::error::body_limit));
      self->read_body();
    });
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail(ErrorCode::failed, "reading the answer failed", ec);
      auto res = self->parser_->release();
      Response out;
      out.status = static_cast<int>(res.result_int());
      out.content_type = std::string(res[http::field::content_type]);
      out.body = std::move(res.body());
      if (!self->keep_alive_ || !res.keep_alive()) self->close();
      self->complete(std::move(out));
    });
  }

  void fail(ErrorCode code, const std::string& step, beast::error_code ec) {
    close();
    if (ec == beast::error::timeout) {
      timed_out_ = true;
      return complete(Error{what_ + ": no answer within " + std::to_string(timeout_.count()) + " ms", code});
    }
    complete(Error{what_ + ": " + step + ": " + ec.message(), code});
  }

  // A failure before any I/O: completes on the loop, never inside run().
  void fail_now(Error error) {
    boost::asio::post(stream_.get_executor(),
                      [self = shared_from_this(), error = std::move(error)] { self->complete(error); });
  }

  void complete(Result<Response> result) {
    if (!done_) return;
    cancel_timer_.cancel();
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(result));
  }

  tcp::resolver resolver_;
  Stream stream_;
  boost::asio::steady_timer cancel_timer_;
  const std::atomic<bool>* cancel_ = nullptr;
  std::shared_ptr<const TlsContext> tls_;  // https: the context of the current request
  std::string tls_name_;
  Url url_;
  bool keep_alive_;
  std::vector<tcp::resolver::results_type::value_type> endpoints_;
  std::optional<Request> kept_;  // an async request's own copy (see keep)
  http::request<http::span_body<const char>> request_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  Done done_;
  std::string what_;  // "GET http://host:port/target", for messages
  std::chrono::milliseconds timeout_{0};
  std::chrono::steady_clock::time_point deadline_;
  std::size_t max_response_bytes_ = 0;
  bool head_ = false;
  bool timed_out_ = false;
};
}  // namespace detail

using detail::Session;

void async_request(boost::asio::io_context& io, const Url& url, Request req,
                   std::function<void(Result<Response>)> done) {
  if (auto reachable = check_reachable(url); !reachable) {
    boost::asio::post(io, [done = std::move(done), error = reachable.error()] { done(error); });
    return;
  }
  auto session = std::make_shared<Session>(io, url, false);
  session->run(session->keep(std::move(req)), std::move(done));
}

Result<Response> request(const Url& url, const Request& req) {
  TANDEM_TRY(check_reachable(url));
  boost::asio::io_context io;
  std::optional<Result<Response>> result;
  std::make_shared<Session>(io, url, false)->run(req, [&result](Result<Response> r) { result.emplace(std::move(r)); });
  io.run();
  if (!result)
    return Error{req.method + " " + url.to_string() + req.target + ": no completion (bug)", ErrorCode::internal};
  return std::move(*result);
}

Connection::Connection(Url url) : url_(std::move(url)), io_(std::make_unique<boost::asio::io_context>()) {
  session_ = std::make_shared<Session>(*io_, url_, true);
}

Connection::~Connection() { close(); }

void Connection::close() { session_->close(); }

Result<Response> Connection::request(const Request& req) {
  TANDEM_TRY(check_reachable(url_));
  for (int attempt = 0;; ++attempt) {
    bool reused = session_->connected();
    std::optional<Result<Response>> result;
    session_->run(req, [&result](Result<Response> r) { result.emplace(std::move(r)); });
    io_->restart();
    io_->run();
    if (!result)
      return Error{req.method + " " + url_.to_string() + req.target + ": no completion (bug)", ErrorCode::internal};
    // A kept-alive connection the server closed meanwhile fails on first use:
    // resend once on a fresh one. A fresh connection failing is a real error.
    if (result->ok() || !reused || attempt > 0 || session_->timed_out() || result->code() != ErrorCode::failed)
      return std::move(*result);
  }
}

}  // namespace tandem::sdk::net
