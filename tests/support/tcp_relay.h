// A TCP relay on loopback between clients and one server, for fault tests:
// it forwards both ways until told to freeze a connection, which then stops
// forwarding in both directions but stays open (a peer that hangs without
// closing: no RST, no FIN, the kernel buffers fill). Connections are chosen
// by what their client sent (e.g. "PSYNC": a replica's), so one kind of
// client can be frozen while the others go on.
#pragma once
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::testsupport {

class TcpRelay {
 public:
  explicit TcpRelay(int target_port);  // throws std::runtime_error when it cannot listen
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }
  // Freeze every connection, present or future, whose client has sent bytes
  // containing `needle` (checked as they pass; "" freezes all).
  void freeze(std::string needle);
  // Forward again (frozen connections resume where they stopped).
  void thaw();
  // Connections whose client sent the needle since the last freeze, frozen now.
  int frozen() const { return frozen_.load(); }

 private:
  struct Conn {
    int client = -1, server = -1;
    std::string to_server, to_client;  // read, not written yet
    std::string seen;                  // the client's bytes so far (up to 64 KiB), for the needle
    bool frozen = false;
  };
  void run();

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  int target_port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> frozen_{0};
  std::mutex mu_;
  std::string needle_;
  bool freezing_ = false;
  std::vector<Conn> conns_;  // relay thread only
  std::thread thread_;
};

}  // namespace tandem::testsupport
