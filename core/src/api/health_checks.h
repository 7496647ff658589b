// Load-balancer health checks (docs/http-api.md "Health checks"): /primary,
// /replica, /health, /liveness, /readiness and /v1/stores/<name>/primary.
// Open to GET, HEAD and OPTIONS without a token, because HAProxy and
// Kubernetes probes carry none; they reveal only the node's role and whether
// it serves. The status code is the answer (200 yes, 503 no); the body is a
// short JSON saying why.
#pragma once

#include <optional>
#include <string_view>

#include "api/http_server.h"
#include "host/node_runtime.h"

namespace tandem::core {

// The answer when `path` is a health-check endpoint; nullopt otherwise (the
// caller routes it as usual). `query` is the part after '?', without it.
std::optional<HttpResponse> health_check_route(const NodeRuntime& runtime, const HttpRequest& request,
                                               std::string_view path, std::string_view query);

}  // namespace tandem::core
