// A TCP listener on loopback that takes connections and never answers them:
// a hung peer (its kernel completes the handshake, its process is stuck).
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace tandem::testsupport {

class SilentServer {
 public:
  SilentServer();  // throws std::runtime_error when it cannot listen
  ~SilentServer();
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // True once a client connected (then held open, unanswered) within `timeout`.
  bool accept_one(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> accepted_;
};

}  // namespace tandem::testsupport
