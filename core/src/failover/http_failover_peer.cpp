#include "failover/http_failover_peer.h"

#include <future>

namespace tandem::core {
namespace {
// Store steps on the peer (a PostgreSQL shutdown, a rewind) may take minutes.
constexpr std::chrono::minutes kStepTimeout{15};
}  // namespace

HttpFailoverPeer::HttpFailoverPeer(boost::asio::io_context& io, std::string api_url, std::string token)
    : io_(io), api_url_(std::move(api_url)), token_(std::move(token)) {}

HttpOutcome HttpFailoverPeer::call(const std::string& method, const std::string& target, const std::string& body,
                                   std::chrono::milliseconds timeout) {
  std::string why;
  auto url = parse_http_url(api_url_, &why);
  if (!url) return HttpOutcome{false, "peer api_url '" + api_url_ + "': " + why, 0, ""};
  HttpCall c;
  c.method = method;
  c.target = url->prefix + target;
  c.body = body;
  c.timeout = timeout;
  c.headers["Content-Type"] = "application/json";
  if (!token_.empty()) c.headers["Authorization"] = "Bearer " + token_;
  auto promise = std::make_shared<std::promise<HttpOutcome>>();
  auto future = promise->get_future();
  async_http(io_, *url, std::move(c), [promise](HttpOutcome o) { promise->set_value(std::move(o)); });
  return future.get();
}

PeerView HttpFailoverPeer::status() {
  HttpOutcome o = call("GET", "/v1/status", "", std::chrono::seconds(3));
  PeerView v;
  if (!o.ok) {
    v.error = o.error;
    return v;
  }
  auto j = nlohmann::json::parse(o.body, nullptr, false);
  if (o.status != 200 || !j.is_object()) {
    v.error = "HTTP " + std::to_string(o.status) + " from the peer's /v1/status";
    return v;
  }
  v.reachable = true;
  v.role = j.value("role", std::string()) == "primary" ? sdk::Role::primary : sdk::Role::secondary;
  v.epoch = j.value("epoch", std::uint64_t{0});
  v.fenced = j.value("fenced", false);
  return v;
}

sdk::Result<nlohmann::json> HttpFailoverPeer::demote(std::uint64_t new_epoch) {
  HttpOutcome o = call("POST", "/v1/internal/demote", nlohmann::json{{"new_epoch", new_epoch}}.dump(), kStepTimeout);
  if (!o.ok) return sdk::Result<nlohmann::json>::failure("peer unreachable: " + o.error);
  auto j = nlohmann::json::parse(o.body, nullptr, false);
  if (o.status != 200 || !j.is_object())
    return sdk::Result<nlohmann::json>::failure("peer answered HTTP " + std::to_string(o.status) + ": " + o.body);
  return j.value("handoff", nlohmann::json::object());
}

sdk::Result<nlohmann::json> HttpFailoverPeer::rejoin() {
  HttpOutcome o = call("POST", "/v1/rejoin", "{}", kStepTimeout);
  if (!o.ok) return sdk::Result<nlohmann::json>::failure("peer unreachable: " + o.error);
  auto j = nlohmann::json::parse(o.body, nullptr, false);
  if (o.status != 200 || !j.is_object() || j.value("result", std::string()) != "succeeded")
    return sdk::Result<nlohmann::json>::failure("peer rejoin answered HTTP " + std::to_string(o.status) + ": " +
                                                o.body);
  return j;
}

}  // namespace tandem::core
