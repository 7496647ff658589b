#include "host/auto_failover_node.h"

#include <future>

#include "host/node_runtime.h"
#include "tandem/sdk/net/http_client.h"

namespace tandem::core {

dcs::AutoFailoverNode::Local RuntimeAutoFailoverNode::local() const {
  auto v = runtime_.node_state();
  return Local{v.role, v.epoch, v.fenced, runtime_.maintenance_state().paused};
}

dcs::AutoFailoverNode::Peer RuntimeAutoFailoverNode::peer() const {
  auto p = runtime_.peer_status();
  Peer out;
  out.reachable = p.reachable;
  out.serving = p.reachable && p.role == std::string("primary") && !p.fenced.value_or(false);
  out.paused = p.paused;
  out.epoch = p.epoch.value_or(0);
  return out;
}

std::optional<std::string> RuntimeAutoFailoverNode::lag_refusal(std::uint64_t max_lag) const {
  std::string refusal;
  for (const auto& s : runtime_.snapshots()) {
    const auto& lag = s.health.lag_bytes;
    if (lag && *lag > max_lag)
      refusal += (refusal.empty() ? "" : "; ") +
                 ("store '" + s.name + "' lags " + std::to_string(*lag) +
                  " bytes, above [failover] maximum_lag_on_failover (" + std::to_string(max_lag) + ")");
    if (!s.health.takeover_refusal.empty())
      refusal += (refusal.empty() ? "" : "; ") + ("store '" + s.name + "': " + s.health.takeover_refusal);
  }
  if (refusal.empty()) return std::nullopt;
  return refusal;
}

void RuntimeAutoFailoverNode::self_fence(const std::string& reason) { runtime_.fence(reason); }

nlohmann::json RuntimeAutoFailoverNode::promote(std::uint64_t epoch) {
  // On the failover thread, as `tandemctl promote` runs (one operation at a
  // time, a hung step known at shutdown).
  auto done = std::make_shared<std::promise<nlohmann::json>>();
  auto report = done->get_future();
  bool queued = runtime_.post_failover([this, done, epoch] {
    try {
      FailoverOptions options;
      options.epoch = epoch;
      done->set_value(runtime_.failover().promote(options));
    } catch (const std::exception& e) {
      done->set_value(nlohmann::json{{"result", "failed"}, {"reason", e.what()}});
    }
  });
  if (!queued) return nlohmann::json{{"result", "refused"}, {"reason", "shutting down"}};
  return report.get();
}

sdk::Result<bool> RuntimeAutoFailoverNode::ask_peer_failsafe(const std::string& asker, std::chrono::milliseconds wait,
                                                             std::string& reason) {
  auto url = sdk::net::parse_reachable_url(runtime_.peer().api_url);
  if (!url) return url.error();
  sdk::net::Request req;
  req.method = "POST";
  req.target = "/v1/internal/failsafe";
  req.body = nlohmann::json{{"node", asker}}.dump();
  req.timeout = wait;
  req.tls = peer_tls_;
  if (!peer_token_.empty()) req.headers["Authorization"] = "Bearer " + peer_token_;
  auto r = sdk::net::request(*url, req);
  if (!r) return r.error();
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status != 200 || !j.is_object())
    return sdk::Error{"the peer answered HTTP " + std::to_string(r->status) +
                      " to the failsafe question: " + r->body.substr(0, 200)};
  reason = j.value("reason", std::string());
  return j.value("confirm", false);
}

}  // namespace tandem::core
