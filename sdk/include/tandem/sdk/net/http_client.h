// The one HTTP/1.1 client of tandem (Boost.Beast), for the host (peer monitor,
// failover peer, tandemctl) and plugins (Elasticsearch) alike.
//
// Every request has one deadline covering resolve, connect, write and read.
// Sockets are close-on-exec, so a plugin's child process never inherits one.
// A transport failure (no connection, timeout, a broken answer) is an Error;
// any HTTP status, 500 included, is a Response. https:// URLs speak TLS
// (net/tls.h): the server's certificate chain and name are always verified.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "tandem/sdk/net/url.h"
#include "tandem/sdk/result.h"

namespace tandem::sdk::net {

class TlsContext;

namespace detail {
class Session;
}

struct Request {
  std::string method = "GET";
  std::string target;  // appended to the URL's path: "/v1/status"; "" means the path itself
  std::string body;    // sent with Content-Type application/json unless a header says otherwise
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // the whole exchange
  std::size_t max_response_bytes = 8u << 20;                   // a larger body is an error
  // When set and it becomes true, the exchange ends within ~20 ms with an
  // Error ("cancelled"), the connection closed: how a caller that is being
  // stopped (Plugin::interrupt) gets its thread back from a silent server.
  const std::atomic<bool>* cancel = nullptr;
  // For https URLs: whom to trust and which client certificate to present
  // (make_client_tls). Null: the system's trust store and no certificate.
  std::shared_ptr<const TlsContext> tls;
  // The name the server's certificate must carry; "" means the URL's host.
  std::string tls_name;
};

struct Response {
  int status = 0;
  std::string body;  // empty for HEAD
  std::string content_type;
};

// Success when the client can reach `url` (http and https both). Config
// checks call it so that they accept exactly the URLs requests can use.
Status check_reachable(const Url& url);

// Parses `text` (net::parse_url) and checks it is reachable: the one test a
// configured or typed URL passes before it is used.
Result<Url> parse_reachable_url(std::string_view text, std::optional<std::uint16_t> default_port = std::nullopt);

// One request on a fresh connection, closed afterwards. Blocks the calling
// thread (never call it on an event loop); any thread.
Result<Response> request(const Url& url, const Request& req);

// One request on `io`'s event loop; `done` runs on that loop exactly once,
// also when the request failed. `io` must outlive the call's completion.
void async_request(boost::asio::io_context& io, const Url& url, Request req,
                   std::function<void(Result<Response>)> done);

// A kept-alive connection for many sequential requests to one server
// (blocking, its own event loop). Not thread-safe: one owner thread.
class Connection {
 public:
  explicit Connection(Url url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects when not connected, then sends. If a reused connection turns out
  // to have been closed by the server, the request is resent once on a new
  // one. Connect failures have ErrorCode::unavailable, others failed.
  Result<Response> request(const Request& req);
  // Drops the connection (the next request opens a new one).
  void close();
  const Url& url() const { return url_; }

 private:
  Url url_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::shared_ptr<detail::Session> session_;
};

}  // namespace tandem::sdk::net
