#include "failover/http_failover_peer.h"

#include <future>

namespace tandem::core {
namespace {
// Store steps on the peer (a PostgreSQL shutdown, a rewind) may take minutes.
constexpr std::chrono::minutes kStepTimeout{15};
}  // namespace

HttpFailoverPeer::HttpFailoverPeer(boost::asio::io_context& io, std::string api_url, std::string token,
                                   std::shared_ptr<const sdk::net::TlsContext> tls,
                                   std::chrono::milliseconds status_timeout)
    : io_(io),
      api_url_(std::move(api_url)),
      token_(std::move(token)),
      tls_(std::move(tls)),
      status_timeout_(status_timeout) {}

sdk::Result<sdk::net::Response> HttpFailoverPeer::call(const std::string& method, const std::string& target,
                                                       const std::string& body, std::chrono::milliseconds timeout) {
  auto url = sdk::net::parse_reachable_url(api_url_);
  if (!url) return url.error();
  sdk::net::Request c;
  c.method = method;
  c.target = target;
  c.body = body;
  c.timeout = timeout;
  c.headers["Content-Type"] = "application/json";
  if (!token_.empty()) c.headers["Authorization"] = "Bearer " + token_;
  c.tls = tls_;
  // The request runs on the event loop (which owns the peer's connections);
  // this worker thread waits for it.
  using Outcome = sdk::Result<sdk::net::Response>;
  auto promise = std::make_shared<std::promise<Outcome>>();
  auto future = promise->get_future();
  sdk::net::async_request(io_, *url, std::move(c), [promise](Outcome o) { promise->set_value(std::move(o)); });
  return future.get();
}

PeerView HttpFailoverPeer::status() {
  auto o = call("GET", "/v1/status", "", status_timeout_);
  PeerView v;
  if (!o) {
    v.error = o.message();
    return v;
  }
  auto j = nlohmann::json::parse(o->body, nullptr, false);
  if (o->status != 200 || !j.is_object()) {
    v.error = "HTTP " + std::to_string(o->status) + " from the peer's /v1/status";
    return v;
  }
  v.reachable = true;
  v.role = j.value("role", std::string()) == "primary" ? sdk::Role::primary : sdk::Role::secondary;
  v.epoch = j.value("epoch", std::uint64_t{0});
  v.fenced = j.value("fenced", false);
  if (auto m = j.find("maintenance"); m != j.end() && m->is_object()) {
    v.paused = m->value("paused", false);
    v.paused_reason = m->value("reason", std::string());
  }
  return v;
}

sdk::Result<nlohmann::json> HttpFailoverPeer::demote(std::uint64_t new_epoch) {
  auto o = call("POST", "/v1/internal/demote", nlohmann::json{{"new_epoch", new_epoch}}.dump(), kStepTimeout);
  if (!o) return sdk::Result<nlohmann::json>::failure("peer unreachable: " + o.message());
  auto j = nlohmann::json::parse(o->body, nullptr, false);
  if (o->status != 200 || !j.is_object())
    return sdk::Result<nlohmann::json>::failure("peer answered HTTP " + std::to_string(o->status) + ": " + o->body);
  return j.value("handoff", nlohmann::json::object());
}

sdk::Result<nlohmann::json> HttpFailoverPeer::rejoin() {
  auto o = call("POST", "/v1/rejoin", "{}", kStepTimeout);
  if (!o) return sdk::Result<nlohmann::json>::failure("peer unreachable: " + o.message());
  auto j = nlohmann::json::parse(o->body, nullptr, false);
  if (o->status != 200 || !j.is_object() || j.value("result", std::string()) != "succeeded")
    return sdk::Result<nlohmann::json>::failure("peer rejoin answered HTTP " + std::to_string(o->status) + ": " +
                                                o->body);
  return j;
}

}  // namespace tandem::core
