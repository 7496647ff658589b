// A small HTTP/1.1 server (Boost.Beast) with the defences a daemon's API
// needs: header and body size limits, a deadline for reading each request
// (a client dribbling bytes is cut off and never blocks others), a cap on
// concurrent connections, keep-alive. It runs on its own threads, so a busy
// event loop never delays the API; handlers answer from cached state.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

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
  std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};  // whole request, and keep-alive idle
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  int max_connections = 256;
};

// Marks a descriptor close-on-exec (Boost.Asio opens sockets without it).
void set_close_on_exec(int fd);

// A JSON response {"error": message} with the given status.
HttpResponse json_error(unsigned status, const std::string& message, unsigned version = 11, bool keep_alive = false);

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
  int open_connections() const { return connections_.load(); }

  class Session;

 private:
  void accept();

  HttpServerOptions options_;
  HttpHandler handler_;
  // Declared before io_: sessions still queued in io_ when it is destroyed
  // touch these from their destructors.
  std::atomic<int> connections_{0};
  std::mutex sessions_mu_;
  std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> sessions_;
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
