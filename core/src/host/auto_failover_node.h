// The node as automatic failover's driver sees it (dcs::AutoFailoverNode),
// over a NodeRuntime: its state, the peer monitor, the stores' lag, fencing,
// the orchestrator's promote, and the failsafe question over the peer's API.
#pragma once

#include <memory>
#include <string>

#include "dcs/auto_failover.h"
#include "tandem/sdk/net/tls.h"

namespace tandem::core {

class NodeRuntime;

class RuntimeAutoFailoverNode final : public dcs::AutoFailoverNode {
 public:
  // peer_token: the bearer token of the peer's API ([peer] token_file);
  // peer_tls: the [peer] CA and client certificate for an https api_url (the
  // peer monitor's), so the failsafe question goes where the monitor's polls go.
  RuntimeAutoFailoverNode(NodeRuntime& runtime, std::string peer_token,
                          std::shared_ptr<const sdk::net::TlsContext> peer_tls)
      : runtime_(runtime), peer_token_(std::move(peer_token)), peer_tls_(std::move(peer_tls)) {}

  Local local() const override;
  Peer peer() const override;
  std::optional<std::string> lag_refusal(std::uint64_t max_lag) const override;
  void self_fence(const std::string& reason) override;
  nlohmann::json promote(std::uint64_t epoch) override;
  sdk::Result<bool> ask_peer_failsafe(const std::string& asker, std::chrono::milliseconds wait,
                                      std::string& reason) override;

 private:
  NodeRuntime& runtime_;
  std::string peer_token_;
  std::shared_ptr<const sdk::net::TlsContext> peer_tls_;
};

}  // namespace tandem::core
