// GET /ui: the read-only dashboard (HTML, CSS, JS compiled into tandemd from
// src/api/dashboard/). The page reads only this node's open GET endpoints
// and holds nothing secret; its Content-Security-Policy forbids any request
// to another origin, so it works offline and cannot be made to leak.
#pragma once

#include <optional>
#include <string_view>

#include "api/http_server.h"

namespace tandem::core {

// The answer for a path under /ui (and / redirecting there); nullopt for any
// other path. `method` other than GET/HEAD gets 405.
std::optional<HttpResponse> dashboard_route(const HttpRequest& request, std::string_view path);

// Bytes of the page's files together (budget: 100 KiB, checked at build time).
std::size_t dashboard_bytes();

}  // namespace tandem::core
