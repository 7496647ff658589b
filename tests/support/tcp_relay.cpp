#include "support/tcp_relay.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace tandem::testsupport {
namespace {
int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}
void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }
// Writes what it can of `out` to `fd`; false when the connection is gone.
bool drain(int fd, std::string& out) {
  while (!out.empty()) {
    ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    out.erase(0, static_cast<std::size_t>(n));
  }
  return true;
}
}  // namespace

TcpRelay::TcpRelay(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      ::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error("TcpRelay: cannot listen on loopback");
  }
  port_ = ntohs(a.sin_port);
  set_nonblocking(listen_fd_);
  thread_ = std::thread([this] { run(); });
}

TcpRelay::~TcpRelay() {
  stop_ = true;
  (void)!::write(wake_[1], "x", 1);
  thread_.join();
  for (auto& c : conns_) {
    ::close(c.client);
    ::close(c.server);
  }
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void TcpRelay::freeze(std::string needle) {
  std::lock_guard l(mu_);
  needle_ = std::move(needle);
  freezing_ = true;
  frozen_ = 0;
  (void)!::write(wake_[1], "x", 1);
}

void TcpRelay::thaw() {
  std::lock_guard l(mu_);
  freezing_ = false;
  (void)!::write(wake_[1], "x", 1);
}

void TcpRelay::run() {
  char buf[64 * 1024];
  while (!stop_) {
    bool freezing;
    std::string needle;
    {
      std::lock_guard l(mu_);
      freezing = freezing_;
      needle = needle_;
    }
    int count = 0;
    for (auto& c : conns_) {
      c.frozen = freezing && c.seen.find(needle) != std::string::npos;
      count += c.frozen;
    }
    frozen_ = count;
    // A frozen connection is not polled at all: nothing read, nothing written.
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    std::vector<std::size_t> owner;
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      auto& c = conns_[i];
      if (c.frozen) continue;
      fds.push_back({c.client, static_cast<short>(POLLIN | (c.to_client.empty() ? 0 : POLLOUT)), 0});
      fds.push_back({c.server, static_cast<short>(POLLIN | (c.to_server.empty() ? 0 : POLLOUT)), 0});
      owner.push_back(i);
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0) continue;
    if (fds[1].revents & POLLIN)
      while (::read(wake_[0], buf, sizeof buf) > 0) {}
    if (fds[0].revents & POLLIN) {
      for (int fd; (fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
        int server = connect_loopback(target_port_);
        if (server < 0) {
          ::close(fd);
          continue;
        }
        set_nonblocking(fd);
        set_nonblocking(server);
        conns_.push_back(Conn{fd, server, {}, {}, {}, false});
      }
    }
    std::vector<bool> dead(conns_.size(), false);
    for (std::size_t j = 0; j < owner.size(); ++j) {
      auto& c = conns_[owner[j]];
      const pollfd& cp = fds[2 + 2 * j];
      const pollfd& sp = fds[3 + 2 * j];
      bool ok = true;
      if (cp.revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::recv(c.client, buf, sizeof buf, 0);
        if (n > 0) {
          c.to_server.append(buf, static_cast<std::size_t>(n));
          if (c.seen.size() < (64u << 10)) c.seen.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          ok = false;
        }
      }
      if (ok && (sp.revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = ::recv(c.server, buf, sizeof buf, 0);
        if (n > 0)
          c.to_client.append(buf, static_cast<std::size_t>(n));
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
          ok = false;
      }
      // Bytes that complete the needle are not forwarded once it matched:
      // the next loop freezes the connection before it writes.
      if (ok && freezing && c.seen.find(needle) != std::string::npos) continue;
      if (ok) ok = drain(c.server, c.to_server) && drain(c.client, c.to_client);
      if (!ok) dead[owner[j]] = true;
    }
    for (std::size_t i = conns_.size(); i-- > 0;)
      if (dead[i]) {
        ::close(conns_[i].client);
        ::close(conns_[i].server);
        conns_.erase(conns_.begin() + static_cast<long>(i));
      }
  }
}

}  // namespace tandem::testsupport
