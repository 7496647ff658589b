#include "host/tandem_daemon.h"

#include "host/logging.h"

namespace tandem::core {

TandemDaemon::TandemDaemon(std::unique_ptr<NodeRuntime> runtime, std::optional<std::string> api_token,
                           HttpServerOptions api)
    : runtime_(std::move(runtime)),
      routes_(*runtime_, BearerAuth(std::move(api_token))),
      server_(std::move(api), [this](HttpRequest&& req, HttpResponder respond) {
        routes_.handle(std::move(req), std::move(respond));
      }) {}

TandemDaemon::~TandemDaemon() { stop(); }

void TandemDaemon::start() {
  runtime_->start();
  server_.start();
  log_info("api", "listening on port " + std::to_string(server_.port()));
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
