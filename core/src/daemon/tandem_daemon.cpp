#include "daemon/tandem_daemon.h"

#include <boost/asio/ip/address.hpp>

#include "util/logging.h"

namespace tandem::core {
namespace {

// The API's trust rules: the peer's address (when [peer] address is an IP
// literal: a host name is not resolved for this), and any connection whose
// request carried the valid token.
HttpServerOptions with_trust(HttpServerOptions api, const sdk::PeerInfo& peer, const ApiRoutes& routes) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(peer.address, ec);
  if (!ec) api.trusted_addresses.push_back(address.to_string());
  api.trusted_request = [&routes](const HttpRequest& request) { return routes.authenticated(request); };
  return api;
}

}  // namespace

TandemDaemon::TandemDaemon(std::unique_ptr<NodeRuntime> runtime, std::optional<std::string> api_token,
                           HttpServerOptions api)
    : runtime_(std::move(runtime)),
      routes_(*runtime_, BearerAuth(std::move(api_token))),
      server_(with_trust(std::move(api), runtime_->peer(), routes_), [this](HttpRequest&& req, HttpResponder respond) {
        routes_.handle(std::move(req), std::move(respond));
      }) {}

TandemDaemon::~TandemDaemon() { stop(); }

void TandemDaemon::start() {
  runtime_->start();
  server_.start();
  log_info("api", std::string("listening on port ") + std::to_string(server_.port()) +
                      (server_.speaks_tls() ? " (https)" : " (http)"));
}

bool TandemDaemon::stop() {
  if (stopped_) return clean_;
  stopped_ = true;
  // The API goes first so nobody sees half-stopped stores; the server object
  // itself lives on until the stores are gone (a pending action answers into it).
  server_.stop();
  clean_ = runtime_->shutdown();
  return clean_;
}

}  // namespace tandem::core
