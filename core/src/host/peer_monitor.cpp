#include "host/peer_monitor.h"

#include <boost/asio/post.hpp>

#include "util/logging.h"

namespace tandem::core {

PeerMonitor::PeerMonitor(boost::asio::io_context& io, sdk::PeerInfo peer, std::string token, PeerMonitorOptions options)
    : io_(io), peer_(std::move(peer)), token_(std::move(token)), options_(options), timer_(io) {
  if (auto url = sdk::net::parse_reachable_url(peer_.api_url))
    url_ = *url;
  else
    url_error_ = url.message();
  std::lock_guard l(mu_);
  if (!url_)
    status_.last_error = "peer api_url unusable: " + url_error_;
  else
    status_.last_error = "not polled yet";
}

PeerMonitor::~PeerMonitor() { *alive_ = false; }

void PeerMonitor::start() {
  boost::asio::post(io_, [this, alive = alive_] {
    if (!*alive || stopped_) return;
    poll();
  });
}

void PeerMonitor::stop() {
  boost::asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    stopped_ = true;
    timer_.cancel();
  });
}

PeerStatus PeerMonitor::status() const {
  std::lock_guard l(mu_);
  return status_;
}

void PeerMonitor::arm() {
  if (stopped_) return;
  timer_.expires_after(options_.poll_interval);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || stopped_) return;
    poll();
  });
}

void PeerMonitor::poll() {
  if (!url_) {
    arm();
    return;
  }
  sdk::net::Request call;
  call.target = "/v1/status";
  call.timeout = options_.timeout;
  // Not needed to read the status, but it makes the poll count as trusted:
  // an idle-connection flood against the peer's API cannot crowd it out.
  if (!token_.empty()) call.headers["Authorization"] = "Bearer " + token_;
  call.tls = options_.tls;
  sdk::net::async_request(io_, *url_, std::move(call), [this, alive = alive_](sdk::Result<sdk::net::Response> outcome) {
    if (!*alive) return;
    record(outcome);
    arm();
  });
}

void PeerMonitor::record(const sdk::Result<sdk::net::Response>& outcome) {
  PeerStatus next;
  {
    std::lock_guard l(mu_);
    next = status_;
  }
  bool was_reachable = next.reachable;
  if (outcome.ok() && outcome->status == 200) {
    try {
      auto j = nlohmann::json::parse(outcome->body);
      next.reachable = true;
      next.role = j.at("role").get<std::string>();
      next.epoch = j.at("epoch").get<std::uint64_t>();
      next.fenced = j.value("fenced", false);
      auto m = j.find("maintenance");
      next.paused = m != j.end() && m->is_object() && m->value("paused", false);
      auto stores = j.find("stores");
      next.stores = stores != j.end() && stores->is_array() ? *stores : nlohmann::json::array();
      next.last_seen = std::chrono::system_clock::now();
      next.last_error.clear();
    } catch (const std::exception& e) {
      next.reachable = false;
      next.last_error = std::string("peer answered /v1/status with unexpected JSON: ") + e.what();
    }
  } else {
    next.reachable = false;
    next.last_error =
        outcome.ok() ? "peer answered /v1/status with HTTP " + std::to_string(outcome->status) : outcome.message();
  }
  std::lock_guard l(mu_);
  if (was_reachable && !next.reachable) log_warn("peer", "peer " + peer_.name + " unreachable: " + next.last_error);
  if (!was_reachable && next.reachable) {
    log_info("peer", "peer " + peer_.name + " reachable (role " + next.role.value_or("?") + ", epoch " +
                         std::to_string(next.epoch.value_or(0)) + ")");
    logged_unreachable_ = false;
  }
  if (!was_reachable && !next.reachable && !logged_unreachable_) {
    log_warn("peer", "peer " + peer_.name + " at " + sdk::net::redact_url(peer_.api_url) +
                         " not answering: " + next.last_error);
    logged_unreachable_ = true;
  }
  status_ = std::move(next);
}

void PeerMonitor::notify(const std::string& store, const nlohmann::json& message) {
  if (!url_) {
    log_warn(store, "event for the peer dropped: " + url_error_);
    return;
  }
  sdk::net::Request call;
  call.method = "POST";
  call.target = "/v1/stores/" + store + "/events";
  call.body = message.dump();
  call.timeout = options_.timeout;
  if (!token_.empty()) call.headers["Authorization"] = "Bearer " + token_;
  call.tls = options_.tls;
  boost::asio::post(io_, [this, alive = alive_, call = std::move(call), store]() mutable {
    if (!*alive) return;
    sdk::net::async_request(io_, *url_, std::move(call), [store](sdk::Result<sdk::net::Response> outcome) {
      if (!outcome.ok())
        log_warn(store, "event for the peer not delivered: " + outcome.message());
      else if (outcome->status / 100 != 2)
        log_warn(store, "peer refused the event: HTTP " + std::to_string(outcome->status) + " " + outcome->body);
    });
  });
}

}  // namespace tandem::core
