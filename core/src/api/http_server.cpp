#include "api/http_server.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <thread>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <nlohmann/json.hpp>

#include "util/logging.h"

namespace tandem::core {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

void set_close_on_exec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

HttpResponse json_error(unsigned status, const std::string& message, unsigned version, bool keep_alive) {
  HttpResponse res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/json");
  // Replace, never throw, on invalid UTF-8 in the message.
  res.body() = nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  std::optional<std::string_view> value;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=')
      value = pair.substr(name.size() + 1);
  }
  return value;
}

class HttpServer::Session : public std::enable_shared_from_this<HttpServer::Session> {
 public:
  // id 0: not admitted (refused), so not in the server's table.
  Session(HttpServer& server, tcp::socket socket, ConnectionTable::Id id = 0)
      : server_(server), stream_(std::move(socket)), id_(id) {
    // A failed dup (out of descriptors) only makes bytes_waiting() say no.
    peek_fd_ = ::fcntl(stream_.socket().native_handle(), F_DUPFD_CLOEXEC, 0);
    server_.connections_.fetch_add(1);
    if (server_.options_.tls) (void)stream_.start_tls(*server_.options_.tls);  // a server context: cannot fail
  }
  ~Session() {
    if (id_) server_.forget(id_);
    if (peek_fd_ >= 0) ::close(peek_fd_);
    server_.connections_.fetch_sub(1);
  }

  // Bytes from the client are in the kernel's buffer, not read yet. Safe
  // from any thread: it only asks the kernel about this session's own
  // descriptor (peek_fd_).
  bool bytes_waiting() const {
    int n = 0;
    return peek_fd_ >= 0 && ::ioctl(peek_fd_, FIONREAD, &n) == 0 && n > 0;
  }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      // Still fresh (closable while nothing arrived): the first look at its
      // socket marks it busy or idle in one step (read_request, wait_for_bytes).
      // Marking it busy here first left it unclosable without a request until
      // that look, and a newcomer arriving then was refused.
      if (self->stream_.tls()) return self->handshake();
      self->read_request();
    });
  }

  // Refuse politely when over the connection cap, then close.
  void refuse(HttpResponse res) {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), res = std::move(res)]() mutable {
      self->write(std::move(res), /*close_after=*/true);
    });
  }

  // Also how an idle connection is evicted: it had no request in flight, so
  // closing it loses nothing (an HTTP client retries on a closed idle connection).
  void close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.tcp().close();
    });
  }

 private:
  // Counted idle until the client's first TLS bytes are in (a connection that
  // never starts a handshake is evictable like one that never sends a request).
  void handshake() {
    // One deadline for waiting, the first bytes and the handshake.
    stream_.tcp().expires_after(server_.options_.limits.header_timeout);
    // The first bytes, read below TLS (under the deadline): a TLS client
    // starts with a handshake record (0x16); anything else is most likely
    // plain HTTP, which gets a plain answer saying so.
    wait_for_bytes([self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->shutdown();
      self->stream_.tcp().async_read_some(self->buffer_.prepare(4096), [self](beast::error_code ec, std::size_t n) {
        self->buffer_.commit(n);
        if (ec) return self->shutdown();
        self->first_bytes_read();
      });
    });
  }

  void first_bytes_read() {
    if (static_cast<unsigned char>(*static_cast<const char*>(buffer_.data().data())) != 0x16) {
      stream_.stop_tls();
      return write(json_error(400, "this API speaks HTTPS: use https:// (tandemd [api] tls_cert_file is set)"),
                   /*close_after=*/true);
    }
    tls_handshake();
  }

  // The bytes already read are the start of the handshake.
  void tls_handshake() {
    stream_.tls()->async_handshake(
        net::ssl::stream_base::server, buffer_.data(),
        [self = shared_from_this()](beast::error_code ec, std::size_t used) {
          self->buffer_.consume(used);
          if (ec) {
            // A client refusing our certificate, one without a client
            // certificate where one is required: nothing to answer.
            std::string why = self->stream_.verify_failure();
            log_debug("api", "TLS handshake failed: " + ec.message() + (why.empty() ? "" : " (" + why + ")"));
            return self->shutdown();
          }
          self->buffer_.consume(self->buffer_.size());
          self->read_request();
        });
  }

  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options_.header_limit));
    parser_->body_limit(server_.options_.body_limit);
    // One deadline for waiting plus the headers: dribbling bytes does not extend it.
    stream_.tcp().expires_after(server_.options_.limits.header_timeout);
    if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
    // Wait for the first byte while counted idle (evictable), then parse. A
    // request already in the socket (or decrypted by TLS) is read at once
    // without being evictable.
    if (stream_.tls()) {
      // Over TLS the next request's records may already be inside the
      // engine, read from the socket with the handshake or the last request:
      // decrypted (SSL_pending), read but not processed (SSL_has_pending),
      // or in the read BIO that Asio fills (BIO_pending). The socket would
      // never become readable for them, so they are read at once.
      SSL* ssl = stream_.tls()->native_handle();
      if (SSL_pending(ssl) > 0 || SSL_has_pending(ssl) || BIO_pending(SSL_get_rbio(ssl)) > 0) return read_first_bytes();
    }
    if (server_.busy_if_bytes_waiting(id_, *this)) return read_first_bytes();
    wait_for_bytes([self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->on_read(ec);
      self->read_first_bytes();
    });
  }

  void read_first_bytes() {
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->server_.set_idle(self->id_, false);
      self->buffer_.commit(n);
      if (ec) return self->on_read(ec);
      self->read_header();
    });
  }

  // Waits, counted idle (evictable), until the client's next bytes are in the
  // kernel's buffer, and marks the connection busy before anything reads
  // them. Reading first and marking afterwards left a window on a loaded
  // machine in which a request already taken from the kernel (so invisible to
  // bytes_waiting) sat on a connection still marked idle, and a newcomer's
  // admission closed it. Bounded by the header deadline set by the caller
  // (the socket wait is not a beast operation, so a timer of its own
  // enforces it); then `next(ec)`, with beast::error::timeout when it passed.
  template <class Next>
  void wait_for_bytes(Next next) {
    server_.set_idle(id_, true);
    idle_expired_ = false;
    waiting_ = true;
    idle_timer_.expires_after(server_.options_.limits.header_timeout);
    idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->waiting_) return;  // cancelled, or the bytes came first
      self->idle_expired_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    await_readable(std::move(next));
  }

  // The socket wait of wait_for_bytes. A wait can end with nothing to read:
  // under a connection flood on a loaded machine every flood socket's wait
  // ended so within a few seconds, and each then sat busy (not closable) in
  // a read that had nothing to read until the header deadline, until the
  // table held nothing a newcomer could replace and everyone, the operator
  // and the peer included, was refused. Such a wait goes on, still idle.
  template <class Next>
  void await_readable(Next next) {
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this(), next = std::move(next)](beast::error_code ec) mutable {
                                  Waiting w = ec || self->idle_expired_ ? Waiting::end : self->waiting_input();
                                  if (w == Waiting::nothing) return self->await_readable(std::move(next));
                                  self->waiting_ = false;
                                  self->idle_timer_.cancel();
                                  // Busy only with a request in the socket: one
                                  // that is ending (closed by the client, timed
                                  // out) stays closable until it is gone.
                                  if (w == Waiting::bytes) self->server_.set_idle(self->id_, false);
                                  if (self->idle_expired_) ec = beast::error::timeout;
                                  next(ec);
                                });
  }

  // What a read would find now: nothing yet, bytes, or the end (the client's
  // end of stream, or an error). On the strand: a close() or a beast deadline
  // may have closed the socket after its wait completed, and its old number
  // may already name another file; a closed socket is the end.
  enum class Waiting { nothing, bytes, end };
  Waiting waiting_input() {
    if (!stream_.socket().is_open()) return Waiting::end;
    char byte;
    ssize_t n = ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return Waiting::bytes;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? Waiting::nothing : Waiting::end;
  }

  void read_header() {
    http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->on_read(ec);
      self->on_header();
    });
  }

  void on_header() {
    if (id_) {
      const auto& trusted = server_.options_.trusted_request;
      if (auto admitted = server_.headers(id_, trusted && trusted(parser_->get())); !admitted.ok())
        return write(json_error(503, admitted.message()), /*close_after=*/true);
    }
    if (parser_->is_done()) return on_read({});
    stream_.tcp().expires_after(server_.options_.limits.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::operation_aborted || ec == beast::error::timeout) {
      if (ec == beast::error::timeout && parser_ && parser_->got_some())
        log_debug("api", "closed a connection that did not send a complete request in time");
      return shutdown();
    }
    if (ec == http::error::header_limit)
      return write(
          json_error(431, "request headers exceed " + std::to_string(server_.options_.header_limit) + " bytes"), true);
    if (ec == http::error::body_limit)
      return write(json_error(413, "request body exceeds " + std::to_string(server_.options_.body_limit) + " bytes"),
                   true);
    if (ec) return write(json_error(400, "malformed HTTP request: " + ec.message()), true);

    HttpRequest req = parser_->release();
    unsigned version = req.version();
    bool keep_alive = req.keep_alive();
    stream_.tcp().expires_never();  // the handler may take a while (an action); reading resumes afterwards
    auto self = shared_from_this();
    auto responder = [self, version, keep_alive](HttpResponse res) {
      auto send = [self, version, keep_alive](HttpResponse res) {
        res.version(version);
        res.keep_alive(keep_alive && res.keep_alive());
        res.set(http::field::server, "tandemd");
        if (!res.has_content_length() && !res.chunked()) res.prepare_payload();
        bool close_after = !res.keep_alive();
        self->write(std::move(res), close_after);
      };
      // Reads answer synchronously, already on this connection's strand: skip
      // the extra hop. Answers from a store's executor are posted back.
      if (self->handler_thread_.load() == std::this_thread::get_id()) return send(std::move(res));
      net::post(self->stream_.get_executor(), [send, res = std::move(res)]() mutable { send(std::move(res)); });
    };
    handler_thread_ = std::this_thread::get_id();
    try {
      server_.handler_(std::move(req), std::move(responder));
      handler_thread_ = std::thread::id();
    } catch (const std::exception& e) {
      // The responder was consumed or not: answer directly on this strand.
      handler_thread_ = std::thread::id();
      log_error("api", std::string("request handler threw: ") + e.what());
      // The library's text goes to the log, not to the client.
      write(json_error(500, "internal error; the daemon's log has the details"), true);
    }
  }

  void write(HttpResponse res, bool close_after) {
    response_ = std::make_shared<HttpResponse>(std::move(res));
    if (close_after) response_->keep_alive(false);
    stream_.tcp().expires_after(server_.options_.write_timeout);
    http::async_write(stream_, *response_, [self = shared_from_this(), close_after](beast::error_code ec, std::size_t) {
      self->response_.reset();
      if (ec) return self->shutdown();
      if (close_after) return self->linger_close();
      self->read_request();
    });
  }

  // After answering and half-closing, read and discard what the client still
  // sends until it closes (bounded): closing a socket with unread input makes
  // the kernel send RST, which can destroy the answer before the client reads it.
  void linger_close() {
    // Answered and waiting only for the client to close: as good as idle
    // (marked before the client can see the end of the answer).
    server_.set_idle(id_, true);
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return shutdown();
    stream_.tcp().expires_after(std::chrono::seconds(2));
    drain();
  }

  // Raw bytes, below TLS: they are discarded anyway.
  void drain() {
    stream_.tcp().async_read_some(net::buffer(drain_buffer_),
                                  [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                    if (ec) return self->shutdown();
                                    self->drain();
                                  });
  }

  void shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // best effort: the peer may be gone
    stream_.tcp().close();
  }

  HttpServer& server_;
  sdk::net::Stream stream_;
  beast::flat_buffer buffer_;
  net::steady_timer idle_timer_{stream_.get_executor()};
  bool waiting_ = false;       // a wait_for_bytes is pending (the strand orders both handlers)
  bool idle_expired_ = false;  // idle_timer_ fired: the wait ended by the header deadline
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpResponse> response_;
  std::array<char, 4096> drain_buffer_{};
  // Set while the handler runs on this connection's strand: a responder
  // called from that same call answers directly.
  std::atomic<std::thread::id> handler_thread_{};
  ConnectionTable::Id id_;
  // A duplicate of the socket's descriptor (-1: none), for bytes_waiting()
  // on other threads. The socket's own number is freed when it is closed (an
  // eviction, a beast deadline) and can be reused at once, e.g. by a new
  // connection: TSan caught an ioctl and a recv on such a reused number. This
  // one stays this session's until ~Session.
  int peek_fd_ = -1;
};

namespace {

// The remote address as configured addresses are written: an IPv4 client of
// a dual-stack listener shows up as ::ffff:a.b.c.d.
std::string remote_address(const tcp::socket& socket) {
  beast::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return {};
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      table_(options_.limits.connections),
      work_(net::make_work_guard(io_)),
      // Its own strand: the accept handler (on any of the threads) and stop()'s
      // close must not touch the acceptor at once (a race TSan found).
      acceptor_(net::make_strand(io_)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  if (started_) return;
  beast::error_code ec;
  auto address = net::ip::make_address(options_.bind_address, ec);
  if (ec)
    throw std::runtime_error("API bind address '" + options_.bind_address + "' is not an IP address: " + ec.message());
  tcp::endpoint ep{address, options_.port};
  std::string where = options_.bind_address + ":" + std::to_string(options_.port);
  acceptor_.open(ep.protocol(), ec);
  // Subprocesses plugins start (pg_ctl, rsync, ...) must not inherit the
  // listener: a surviving child would keep the API port bound after tandemd exits.
  if (!ec) set_close_on_exec(acceptor_.native_handle());
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(
        "cannot listen on " + where + ": " + ec.message() +
        (ec == net::error::address_in_use ? " (another tandemd or program holds it; change [api] listen)" : ""));
  bound_port_ = acceptor_.local_endpoint().port();
  started_ = true;
  accept();
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] {
      for (;;) {
        try {
          io_.run();
          break;
        } catch (const std::exception& e) {
          log_error("api", std::string("handler threw: ") + e.what());
        }
      }
    });
  }
}

void HttpServer::accept() {
  acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      set_close_on_exec(socket.native_handle());
      // An answer can be several writes (a TLS record per buffer): without
      // this, Nagle holds the later ones for the client's delayed ACK.
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::string address = remote_address(socket);
      if (!address.empty()) admit(std::move(socket), address);  // empty: the client is already gone
    } else {
      log_warn("api", "accept failed: " + ec.message());  // e.g. out of descriptors; keep accepting
    }
    accept();
  });
}

void HttpServer::admit(tcp::socket socket, const std::string& address) {
  bool trusted = std::find(options_.trusted_addresses.begin(), options_.trusted_addresses.end(), address) !=
                 options_.trusted_addresses.end();
  ConnectionTable::Id id = next_id_++;
  std::vector<std::shared_ptr<Session>> evicted;
  // Sessions looked at under the lock are released after it: the last
  // reference may be ours by then, and ~Session takes the lock (forget()).
  std::vector<std::shared_ptr<Session>> looked_at;
  std::shared_ptr<Session> session;
  {
    std::lock_guard l(sessions_mu_);
    // A connection marked idle whose request has already arrived (its read
    // handler waits for a thread, e.g. on a loaded machine) is not idle.
    auto decision = table_.admit(id, address, trusted, [this, &looked_at](ConnectionTable::Id other) {
      auto it = sessions_.find(other);
      if (it == sessions_.end()) return false;
      auto s = it->second.lock();
      if (!s) return false;
      looked_at.push_back(s);
      return s->bytes_waiting();
    });
    for (auto victim : decision.evict) {
      auto it = sessions_.find(victim);
      if (it == sessions_.end()) continue;
      if (auto s = it->second.lock()) evicted.push_back(std::move(s));
      sessions_.erase(it);
    }
    if (!decision.admit) {
      // Outside the table: this session only answers 503 and closes.
      session = std::make_shared<Session>(*this, std::move(socket));
      session->refuse(json_error(503, decision.refusal));
      note_limit("refused a connection: " + decision.refusal);
      return;
    }
    session = std::make_shared<Session>(*this, std::move(socket), id);
    sessions_.emplace(id, session);
  }
  for (auto& victim : evicted) victim->close();
  if (!evicted.empty()) note_limit("closed an idle connection to make room for one from " + address);
  session->run();
}

void HttpServer::note_limit(const std::string& what) {
  if (auto suppressed = limit_log_.pass())
    log_warn("api", "connection limits: " + what + limit_log_.suffix(*suppressed));
}

bool HttpServer::busy_if_bytes_waiting(ConnectionTable::Id id, const Session& session) {
  std::lock_guard l(sessions_mu_);
  bool bytes = session.bytes_waiting();
  if (id) table_.set_idle(id, !bytes);
  return bytes;
}

void HttpServer::set_idle(ConnectionTable::Id id, bool idle) {
  if (!id) return;
  std::lock_guard l(sessions_mu_);
  table_.set_idle(id, idle);
}

sdk::Status HttpServer::headers(ConnectionTable::Id id, bool trusted) {
  std::string refusal;
  {
    std::lock_guard l(sessions_mu_);
    if (table_.headers(id, trusted)) return {};
    refusal = table_.untrusted_full();
  }
  note_limit("refused a request without the API token: " + refusal);
  return sdk::Status::error(sdk::ErrorCode::refused, std::move(refusal));
}

void HttpServer::forget(ConnectionTable::Id id) {
  std::lock_guard l(sessions_mu_);
  table_.remove(id);
  sessions_.erase(id);
}

std::uint64_t HttpServer::evictions() const {
  std::lock_guard l(sessions_mu_);
  return table_.evictions();
}

std::uint64_t HttpServer::refusals() const {
  std::lock_guard l(sessions_mu_);
  return table_.refusals();
}

void HttpServer::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard l(sessions_mu_);
    for (auto& [id, w] : sessions_)
      if (auto s = w.lock()) open.push_back(std::move(s));
    sessions_.clear();
  }
  // Outside the lock: dropping the last reference runs ~Session, which takes it.
  for (auto& s : open) s->close();
  open.clear();
  work_.reset();
  // Connections closed above end their handlers; anything stuck beyond that is abandoned.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (connections_.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace tandem::core
