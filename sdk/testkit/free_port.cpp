// Test ports, reserved across processes.
//
// Probing with bind(127.0.0.1:0) and closing hands out a port the kernel may
// give to the next bind(0) or outgoing connection of any process before the
// test's server binds it: with ctest -j2, one test's tandemd found its API port
// held by another test's etcd. So test ports come from below the kernel's
// ephemeral range, where neither bind(0) nor connect() ever picks, and each is
// reserved by a POSIX record lock on byte <port> of one shared file. The lock
// belongs to this process (not to the children it starts) and the kernel drops
// it when the process exits, however it exits: nothing stale is left behind.
#include "tandem/sdk/testing/temp_dir.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>

namespace tandem::sdk::testing {
namespace {

constexpr int kLowestPort = 20000;

// The first port of the kernel's ephemeral range (32768 by default).
int ephemeral_low() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  if (!(in >> low) || low <= kLowestPort + 1000)
    throw std::runtime_error("free_port: the ephemeral port range (/proc/sys/net/ipv4/ip_local_port_range) starts at " +
                             std::to_string(low) + "; test ports need at least 1000 ports from " +
                             std::to_string(kLowestPort) + " below it");
  return low;
}

// Whether a server could listen on 127.0.0.1:port now (servers set SO_REUSEADDR,
// so a port in TIME_WAIT counts as free, as it is for them).
bool bindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

class PortReservations {
 public:
  PortReservations() : low_(kLowestPort), high_(ephemeral_low()), next_(pick_start()) {
    const char* base = std::getenv("TMPDIR");
    path_ = std::string(base && *base ? base : "/tmp") + "/tandem-test-ports.lock";
    // Never closed: closing any descriptor of the file drops all of this
    // process's locks on it.
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) throw std::runtime_error("free_port: cannot open " + path_ + ": " + std::strerror(errno));
  }

  int take() {
    std::lock_guard lock(mutex_);
    for (int tried = 0; tried < high_ - low_; ++tried) {
      int port = next_;
      next_ = next_ + 1 < high_ ? next_ + 1 : low_;
      if (lock_byte(port) && bindable(port)) return port;
    }
    throw std::runtime_error("free_port: every port from " + std::to_string(low_) + " to " + std::to_string(high_ - 1) +
                             " is reserved or in use");
  }

 private:
  // Processes start at different places, so they rarely contend for a lock.
  int pick_start() const {
    std::random_device rd;
    return low_ + static_cast<int>(rd() % static_cast<unsigned>(high_ - low_));
  }

  bool lock_byte(int port) {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = port;
    fl.l_len = 1;
    return ::fcntl(fd_, F_SETLK, &fl) == 0;
  }

  int low_, high_, next_;
  std::string path_;
  int fd_ = -1;
  std::mutex mutex_;
};

}  // namespace

int free_port() {
  static PortReservations reservations;
  return reservations.take();
}

}  // namespace tandem::sdk::testing
