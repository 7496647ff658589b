// What this node knows about its peer: polls the peer's GET /v1/status every
// few seconds (bounded by a timeout) and records reachability, role and epoch;
// delivers store events to the peer's API. Runs on the event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "tandem/sdk/host_context.h"
#include "tandem/sdk/net/http_client.h"

namespace tandem::core {

struct PeerStatus {
  bool reachable = false;
  std::optional<std::string> role;  // as the peer reported it
  std::optional<std::uint64_t> epoch;
  std::optional<bool> fenced;
  bool paused = false;                                             // the peer is in maintenance mode
  std::optional<std::chrono::system_clock::time_point> last_seen;  // last good answer
  std::string last_error;                                          // why the last poll failed
  // The peer's "stores" array from its last good answer (kept while it is
  // unreachable: as of last_seen); an empty array before the first one.
  nlohmann::json stores = nlohmann::json::array();
};

struct PeerMonitorOptions {
  std::chrono::milliseconds poll_interval{std::chrono::seconds(3)};
  std::chrono::milliseconds timeout{std::chrono::seconds(2)};
  // For an https api_url: the [peer] CA and client certificate; null: the
  // system's trust store. Shared with the failover peer.
  std::shared_ptr<const sdk::net::TlsContext> tls;
};

class PeerMonitor {
 public:
  // `token` is the bearer token for the peer's mutating endpoints (may be empty).
  PeerMonitor(boost::asio::io_context& io, sdk::PeerInfo peer, std::string token, PeerMonitorOptions options = {});
  ~PeerMonitor();
  PeerMonitor(const PeerMonitor&) = delete;
  PeerMonitor& operator=(const PeerMonitor&) = delete;

  // Begin polling (posts to the loop). stop() cancels; both thread-safe.
  void start();
  void stop();

  PeerStatus status() const;

  // POST /v1/stores/<store>/events on the peer. Best effort: a failure is logged.
  void notify(const std::string& store, const nlohmann::json& message);

 private:
  void poll();
  void arm();
  void record(const sdk::Result<sdk::net::Response>& outcome);

  boost::asio::io_context& io_;
  sdk::PeerInfo peer_;
  std::string token_;
  PeerMonitorOptions options_;
  std::optional<sdk::net::Url> url_;
  std::string url_error_;
  boost::asio::steady_timer timer_;
  // Shared with in-flight callbacks so they can tell the monitor is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool stopped_ = false;  // loop thread only

  mutable std::mutex mu_;
  PeerStatus status_;
  bool logged_unreachable_ = false;
};

}  // namespace tandem::core
