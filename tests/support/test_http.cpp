#include "support/test_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tandem::testhttp {

std::string Reply::header(const std::string& name) const {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  std::string want = lower(name) + ":";
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    std::string line = head.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (lower(line).rfind(want, 0) == 0) {
      std::string v = line.substr(want.size());
      while (!v.empty() && v.front() == ' ') v.erase(v.begin());
      return v;
    }
    if (end == std::string::npos) break;
    pos = end + 2;
  }
  return {};
}

Reply parse_reply(const std::string& raw) {
  Reply r;
  auto sep = raw.find("\r\n\r\n");
  if (sep == std::string::npos || raw.rfind("HTTP/1.", 0) != 0) return r;
  r.head = raw.substr(0, sep);
  r.body = raw.substr(sep + 4);
  r.status = std::atoi(raw.substr(9, 3).c_str());
  return r;
}

Connection::Connection(int port) : Connection("127.0.0.1", port) {}

Connection::Connection(const std::string& host, int port, std::chrono::milliseconds connect_timeout,
                       const std::string& source) {
  const std::string where = host + ":" + std::to_string(port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    throw std::runtime_error("not an IPv4 address: '" + host + "'");
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw std::runtime_error("socket failed");
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      int err = errno;
      ::close(fd_);
      throw std::runtime_error("cannot bind to source address '" + source + "': " + std::strerror(err));
    }
  }
  // Non-blocking connect, so a partitioned host costs the timeout, not the kernel's two minutes of SYN retries.
  int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(connect_timeout.count())) == 1) {
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    } else {
      err = ETIMEDOUT;
    }
  }
  if (err != 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot connect to " + where + ": " + std::strerror(err));
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

bool Connection::send(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string Connection::read_until_closed(std::chrono::milliseconds timeout, bool* closed) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string out = std::move(pending_);
  pending_.clear();
  if (closed) *closed = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return out;
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc <= 0) continue;
    char buf[8192];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed) *closed = true;
      return out;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::optional<Reply> Connection::read_reply(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto sep = pending_.find("\r\n\r\n");
    if (sep != std::string::npos) {
      Reply head = parse_reply(pending_.substr(0, sep + 4));
      std::size_t length = std::stoul(head.header("Content-Length").empty() ? "0" : head.header("Content-Length"));
      if (pending_.size() >= sep + 4 + length) {
        Reply r = parse_reply(pending_.substr(0, sep + 4 + length));
        pending_.erase(0, sep + 4 + length);
        return r;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[8192];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

Reply request(int port, const std::string& method, const std::string& target, const std::string& body,
              const std::map<std::string, std::string>& headers, std::chrono::milliseconds timeout) {
  return request("127.0.0.1", port, method, target, body, headers, timeout);
}

Reply request(const std::string& host, int port, const std::string& method, const std::string& target,
              const std::string& body, const std::map<std::string, std::string>& headers,
              std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  Connection c(host, port, timeout);
  timeout -= std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  c.send(req);
  return parse_reply(c.read_until_closed(timeout));
}

}  // namespace tandem::testhttp
