// A small HTTP/1.1 server (Boost.Beast), HTTPS when given a TLS context, with the defences a daemon's API
// needs: header and body size limits, a short deadline for a request's
// headers (also the keep-alive idle time) and a separate one for its body
// (a client dribbling bytes is cut off and never blocks others), connection
// limits that close idle connections to make room rather than refuse a
// newcomer (api/connection_admission.h), keep-alive. It runs on its own
// threads, so a busy event loop never delays the API; handlers answer from
// cached state.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include "api/connection_admission.h"
#include "tandem/sdk/log_throttle.h"
#include "tandem/sdk/net/tls.h"
#include "tandem/sdk/result.h"

namespace tandem::core {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
// Call exactly once, from any thread.
using HttpResponder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&&, HttpResponder)>;

struct HttpServerOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 7480;  // 0: pick a free one (see port())
  int threads = 2;
  std::size_t header_limit = 8 * 1024;
  std::uint64_t body_limit = 1024 * 1024;
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  ApiLimits limits;  // connection limits, header and body deadlines
  // Connections from these addresses (IP literals) are trusted from the start.
  std::vector<std::string> trusted_addresses;
  // Looks at a request's headers: true makes its connection trusted for good
  // (the daemon: it carried the valid bearer token). Empty: none is.
  std::function<bool(const HttpRequest&)> trusted_request;
  // HTTPS with this server context (sdk::net::make_server_tls); null: plain
  // HTTP. The TLS handshake shares the header deadline.
  std::shared_ptr<const sdk::net::TlsContext> tls;
};

// Marks a descriptor close-on-exec (Boost.Asio opens sockets without it).
void set_close_on_exec(int fd);

// A JSON response {"error": message} with the given status.
HttpResponse json_error(unsigned status, const std::string& message, unsigned version = 11, bool keep_alive = false);

// The raw value of the last `name=` parameter of a query string ("a=1&b=2",
// no '?'); nullopt when absent. Other parameters are left to others.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name);

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the threads. Throws std::runtime_error saying which
  // address could not be bound and why (e.g. already in use).
  void start();
  // Closes the listener and every connection, joins the threads. Idempotent.
  void stop();

  std::uint16_t port() const { return bound_port_; }
  bool speaks_tls() const { return options_.tls != nullptr; }
  int open_connections() const { return connections_.load(); }
  // Idle connections closed to make room, and newcomers refused, so far.
  std::uint64_t evictions() const;
  std::uint64_t refusals() const;

  class Session;

 private:
  void accept();
  void admit(boost::asio::ip::tcp::socket socket, const std::string& address);
  void note_limit(const std::string& what);  // one warning per interval
  // Called by sessions (any thread).
  void set_idle(ConnectionTable::Id id, bool idle);
  // Marks the connection busy if the client's bytes are in its socket, idle
  // otherwise, in one step under the table's lock (an admission in between
  // sees one state or the other, never busy without a request); true: bytes.
  bool busy_if_bytes_waiting(ConnectionTable::Id id, const Session& session);
  // Success, or ErrorCode::refused with the 503 text: close the connection
  // (see ConnectionTable::headers).
  sdk::Status headers(ConnectionTable::Id id, bool trusted);
  void forget(ConnectionTable::Id id);

  HttpServerOptions options_;
  HttpHandler handler_;
  // Declared before io_: sessions still queued in io_ when it is destroyed
  // touch these from their destructors.
  std::atomic<int> connections_{0};
  mutable std::mutex sessions_mu_;
  std::map<ConnectionTable::Id, std::weak_ptr<Session>> sessions_;  // admitted ones; guarded by sessions_mu_
  ConnectionTable table_;                                           // guarded by sessions_mu_
  ConnectionTable::Id next_id_ = 1;                                 // accept handler only
  sdk::LogThrottle limit_log_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::uint16_t bound_port_ = 0;
  bool started_ = false;
  bool stopped_ = false;

  friend class Session;
};

}  // namespace tandem::core
