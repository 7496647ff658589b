#include "connection_flood.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace tandem::testplugins {

std::vector<std::string> loopback_sources(int first, int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back("127.0.0." + std::to_string(first + i));
  return out;
}

ConnectionFlood::ConnectionFlood(FloodOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
}

ConnectionFlood::~ConnectionFlood() { stop(); }

void ConnectionFlood::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

// A non-blocking connect from `source`; -1 when the kernel refuses at once.
int ConnectionFlood::connect_one(const std::string& source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(options_.port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void ConnectionFlood::run() {
  std::vector<pollfd> fds(options_.sockets, pollfd{-1, 0, 0});
  std::size_t next_source = 0;
  auto reopen = [&](pollfd& p) {
    p.fd = connect_one(options_.sources[next_source++ % options_.sources.size()]);
    p.events = POLLIN;
    if (p.fd < 0) ++failures_;
  };
  for (auto& p : fds) reopen(p);
  char buf[4096];
  while (!stop_) {
    int connected = 0;
    for (auto& p : fds) connected += p.fd >= 0;
    open_ = connected;
    int n = ::poll(fds.data(), fds.size(), 50);
    if (n < 0 && errno != EINTR) break;
    for (auto& p : fds) {
      if (p.fd < 0) {
        reopen(p);  // the last attempt failed: try again
        continue;
      }
      if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::recv(p.fd, buf, sizeof buf, 0);
      if (got > 0) {
        ++answers_;  // a refusal (503) before the close; read on until the close
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      ::close(p.fd);
      ++reopened_;
      reopen(p);
    }
  }
  for (auto& p : fds)
    if (p.fd >= 0) ::close(p.fd);
  open_ = 0;
}

}  // namespace tandem::testplugins
