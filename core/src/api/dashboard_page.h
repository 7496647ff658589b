// GET /ui: the dashboard (HTML, CSS, JS compiled into tandemd from
// src/api/dashboard/). The page reads only this node's open GET endpoints
// and holds nothing secret (a token typed in for an action stays in the
// page's memory); its Content-Security-Policy forbids any request
// to another origin, so it works offline and cannot be made to leak.
#pragma once

#include <optional>
#include <string_view>

#include "api/http_server.h"

namespace tandem::core {

// The answer for a path under /ui (and / redirecting there); nullopt for any
// other path. `method` other than GET/HEAD gets 405. /ui/settings.json tells
// the page whether to offer its action buttons (`actions`, [api]
// dashboard_actions); the actions themselves are the token-guarded POSTs.
std::optional<HttpResponse> dashboard_route(const HttpRequest& request, std::string_view path, bool actions);

// Bytes of the page's files together (budget: 100 KiB, checked at build time).
std::size_t dashboard_bytes();

}  // namespace tandem::core
