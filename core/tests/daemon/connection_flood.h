// An idle-connection flood against a local port, for the API-under-abuse
// tests: N sockets that connect and send nothing, each reopened as soon as
// the server drops it, spread over source addresses 127.0.0.x so a
// per-address cap alone cannot stop them. Runs on its own thread until
// stopped; counts what happened.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace tandem::testplugins {

struct FloodOptions {
  int port = 0;
  int sockets = 300;
  std::vector<std::string> sources = {"127.0.0.1"};  // round-robin over these
};

class ConnectionFlood {
 public:
  explicit ConnectionFlood(FloodOptions options);
  ~ConnectionFlood();  // stop()
  ConnectionFlood(const ConnectionFlood&) = delete;
  ConnectionFlood& operator=(const ConnectionFlood&) = delete;

  void stop();
  int open() const { return open_.load(); }                    // sockets connected right now
  std::uint64_t reopened() const { return reopened_.load(); }  // drops seen and reconnected
  std::uint64_t answers() const { return answers_.load(); }    // drops that came with bytes (a 503)
  std::uint64_t connect_failures() const { return failures_.load(); }

 private:
  void run();
  int connect_one(const std::string& source);

  FloodOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<int> open_{0};
  std::atomic<std::uint64_t> reopened_{0}, answers_{0}, failures_{0};
  std::thread thread_;
};

// "127.0.0.2" ... : count addresses from 127.0.0.first.
std::vector<std::string> loopback_sources(int first, int count);

}  // namespace tandem::testplugins
