// The peer's tandemd as the failover orchestrator sees it, over its HTTP API.
// Blocking calls: use from a worker thread, never from the event loop (the
// requests themselves run on the loop).
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/io_context.hpp>

#include "failover/failover_orchestrator.h"
#include "tandem/sdk/net/http_client.h"

namespace tandem::core {

class HttpFailoverPeer final : public FailoverPeer {
 public:
  // token: the peer API's bearer token ([peer] token_file); may be empty, in
  // which case demote/rejoin will be refused by the peer with a clear error.
  // tls: for an https api_url ([peer] ca_file, client certificate); null: the system's trust store.
  // status_timeout: how long status() waits ([failover] peer_probe_timeout).
  HttpFailoverPeer(boost::asio::io_context& io, std::string api_url, std::string token,
                   std::shared_ptr<const sdk::net::TlsContext> tls = nullptr,
                   std::chrono::milliseconds status_timeout = std::chrono::seconds(2));

  PeerView status() override;
  sdk::Result<nlohmann::json> demote(std::uint64_t new_epoch) override;
  sdk::Result<nlohmann::json> rejoin() override;

 private:
  // The peer's answer (any HTTP status) or why there was none.
  sdk::Result<sdk::net::Response> call(const std::string& method, const std::string& target, const std::string& body,
                                       std::chrono::milliseconds timeout);

  boost::asio::io_context& io_;
  std::string api_url_;
  std::string token_;
  std::shared_ptr<const sdk::net::TlsContext> tls_;
  std::chrono::milliseconds status_timeout_;
};

}  // namespace tandem::core
