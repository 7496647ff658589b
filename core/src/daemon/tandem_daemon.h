// tandemd assembled: the node runtime (loop, stores, peer) plus the HTTP API.
// main() builds one from the config file; tests build one in-process from
// plugins they construct themselves.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api/api_routes.h"
#include "api/http_server.h"
#include "config/host_config.h"
#include "host/node_runtime.h"
#include "tandem/sdk/result.h"

namespace tandem::core {

struct DaemonTuning {
  RuntimeOptions runtime;
  HttpServerOptions api;  // bind address and port come from [api] when built from a config
};

class TandemDaemon {
 public:
  // api_token: the bearer token for mutating endpoints (nullopt: they are refused).
  TandemDaemon(std::unique_ptr<NodeRuntime> runtime, std::optional<std::string> api_token, HttpServerOptions api);
  ~TandemDaemon();
  TandemDaemon(const TandemDaemon&) = delete;
  TandemDaemon& operator=(const TandemDaemon&) = delete;

  // Everything tandemd does before it is ready: read the secrets, load the
  // node state, load + validate + configure each enabled store's plugin.
  // The error names what failed (file:line:col for config problems).
  static sdk::Result<std::unique_ptr<TandemDaemon>> from_config(const HostConfig& config, DaemonTuning tuning = {});

  // Starts the loop, the stores and the API. Throws std::runtime_error when
  // the API cannot listen.
  void start();
  // Stops the API, then the stores in reverse order, drains the workers.
  // Idempotent; false when a store was hung.
  bool stop();

  NodeRuntime& runtime() { return *runtime_; }
  std::uint16_t api_port() const { return server_.port(); }

 private:
  std::unique_ptr<NodeRuntime> runtime_;
  ApiRoutes routes_;
  HttpServer server_;
  bool stopped_ = false;
  bool clean_ = true;
};

}  // namespace tandem::core
