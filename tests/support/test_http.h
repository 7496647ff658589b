// Blocking HTTP helpers for tests (daemon API, ES stand-in): plain sockets, so a
// test can also send garbage, oversized or deliberately incomplete requests.
// To 127.0.0.1 unless a host (an IPv4 literal, e.g. a namespace host's address) is given.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tandem::testhttp {

struct Reply {
  int status = 0;    // 0: no (parsable) answer
  std::string head;  // status line and headers
  std::string body;
  std::string header(const std::string& name) const;  // case-insensitive; "" if absent
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

// One request on a fresh connection ("Connection: close"), reply read to EOF.
Reply request(int port, const std::string& method, const std::string& target, const std::string& body = "",
              const std::map<std::string, std::string>& headers = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(15));
inline Reply get(int port, const std::string& target) { return request(port, "GET", target); }
// The same to host:port; connecting counts against the timeout too.
Reply request(const std::string& host, int port, const std::string& method, const std::string& target,
              const std::string& body = "", const std::map<std::string, std::string>& headers = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(15));

// A raw TCP connection to 127.0.0.1:port (or host:port).
class Connection {
 public:
  explicit Connection(int port);
  // Throws std::runtime_error when no connection is made within connect_timeout.
  // source: an IPv4 address to connect from (e.g. 127.0.0.2), "" for the kernel's choice.
  Connection(const std::string& host, int port, std::chrono::milliseconds connect_timeout = std::chrono::seconds(5),
             const std::string& source = "");
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // False when the server already closed the connection.
  bool send(const std::string& bytes);
  // Everything until the server closes the connection or the timeout passes.
  std::string read_until_closed(std::chrono::milliseconds timeout, bool* closed = nullptr);
  // One response with Content-Length (keep-alive); nullopt on timeout/close.
  std::optional<Reply> read_reply(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string pending_;
};

Reply parse_reply(const std::string& raw);

}  // namespace tandem::testhttp
