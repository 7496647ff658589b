// The tandemd HTTP API (docs/http-api.md): maps a request to its answer.
// Reads answer from cached state at once; an action runs on its store's
// executor and answers when done. Mutating endpoints need the bearer token.
#pragma once

#include <string>

#include "api/bearer_auth.h"
#include "api/http_server.h"
#include "host/node_runtime.h"
#include "tandem/sdk/log_throttle.h"

namespace tandem::core {

class ApiRoutes {
 public:
  ApiRoutes(NodeRuntime& runtime, BearerAuth auth) : runtime_(runtime), auth_(std::move(auth)) {}

  void handle(HttpRequest&& request, HttpResponder respond);
  // The request carries the valid bearer token (its connection counts as trusted).
  bool authenticated(const HttpRequest& request) const;

 private:
  // nullopt when authorized; otherwise the 401/403 answer.
  std::optional<HttpResponse> refuse_unauthorized(const HttpRequest& request) const;
  // GET /v1/history/samples[?since=<unix seconds>].
  HttpResponse history_samples_route(std::string_view query) const;
  // POST /v1/pause ({"reason"}) and /v1/resume.
  HttpResponse maintenance_route(bool pause, const std::string& body);
  void failover_route(const std::string& kind, const std::string& body, HttpResponder& respond);
  void store_route(HttpRequest&& request, std::string_view rest, HttpResponder& respond);

  NodeRuntime& runtime_;
  BearerAuth auth_;
  mutable sdk::LogThrottle wrong_token_log_;
};

}  // namespace tandem::core
