#include "api/api_routes.h"

#include <charconv>
#include <chrono>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "api/dashboard_page.h"
#include "api/health_checks.h"
#include "api/metrics_page.h"
#include "api/status_views.h"
#include "util/logging.h"

namespace tandem::core {
namespace http = boost::beast::http;

namespace {

HttpResponse json_response(unsigned status, const nlohmann::json& body) {
  HttpResponse res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  // Replace, never throw, on invalid UTF-8: a bad byte must not become a 500.
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  res.prepare_payload();
  return res;
}

HttpResponse method_not_allowed(const char* allowed) {
  HttpResponse res = json_error(405, std::string("method not allowed; use ") + allowed, 11, true);
  res.set(http::field::allow, allowed);
  return res;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return parts;
}

// True for well-formed UTF-8 with no control characters (NUL included): what
// a store name, an action name or an event kind can be.
bool is_clean_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 > 0x8f))
      return false;  // overlong forms, surrogates, beyond U+10FFFF
    i += len;
  }
  return true;
}

// Decodes %XX escapes; nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// A boolean or integer member of a failover request body; nullopt (and a
// 400 answer) when present with another type.
template <class T>
std::optional<T> body_member(const nlohmann::json& args, const char* name, T fallback, std::string& error) {
  auto it = args.find(name);
  if (it == args.end()) return fallback;
  bool ok = std::is_same_v<T, bool> ? it->is_boolean() : it->is_number_unsigned();
  if (!ok) {
    error =
        std::string("'") + name + "' must be " + (std::is_same_v<T, bool> ? "true or false" : "a non-negative integer");
    return std::nullopt;
  }
  return it->get<T>();
}

}  // namespace

std::optional<HttpResponse> ApiRoutes::refuse_unauthorized(const HttpRequest& request) const {
  auto header = request[http::field::authorization];
  switch (auth_.check(std::string_view(header.data(), header.size()))) {
    case AuthResult::ok: return std::nullopt;
    case AuthResult::not_configured:
      return json_error(403,
                        "mutating endpoints are disabled: no API token is configured; set [api] token_file "
                        "in tandemd's config and send 'Authorization: Bearer <token>'",
                        11, true);
    case AuthResult::missing: {
      HttpResponse res = json_error(401,
                                    "missing bearer token: send 'Authorization: Bearer <token>' with the token "
                                    "from [api] token_file",
                                    11, true);
      res.set(http::field::www_authenticate, "Bearer realm=\"tandemd\"");
      return res;
    }
    case AuthResult::wrong: {
      // A client can repeat this at will: one line per interval, with the count.
      if (auto suppressed = wrong_token_log_.pass())
        log_warn("api", "refused " + std::string(request.method_string()) + " " + std::string(request.target()) +
                            ": wrong bearer token" + wrong_token_log_.suffix(*suppressed));
      HttpResponse res = json_error(401, "invalid bearer token", 11, true);
      res.set(http::field::www_authenticate, "Bearer realm=\"tandemd\", error=\"invalid_token\"");
      return res;
    }
  }
  return json_error(401, "unauthorized", 11, true);
}

bool ApiRoutes::authenticated(const HttpRequest& request) const {
  auto header = request[http::field::authorization];
  return auth_.check(std::string_view(header.data(), header.size())) == AuthResult::ok;
}

void ApiRoutes::handle(HttpRequest&& request, HttpResponder respond) {
  std::string_view target(request.target().data(), request.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  bool is_get = request.method() == http::verb::get;
  bool is_post = request.method() == http::verb::post;

  // Load-balancer probes: open, no token (api/health_checks.h).
  if (auto check = health_check_route(runtime_, request, path,
                                      path.size() < target.size() ? target.substr(path.size() + 1) : ""))
    return respond(std::move(*check));

  // The dashboard: static files, open like every read.
  if (auto page = dashboard_route(request, path, runtime_.dashboard_actions())) return respond(std::move(*page));

  if (path == "/monitor/replication") {
    if (!is_get) return respond(method_not_allowed("GET"));
    nlohmann::json page = replication_page(runtime_.node_state().role, runtime_.snapshots());
    // A fenced former primary must not look like a master to whoever reads the page.
    if (runtime_.node_state().fenced) page["replication_mode"] = "fenced";
    // A clone of the pair: whoever reads the page must not take it for either node.
    if (runtime_.test_instance()) page["replication_mode"] = "test";
    // Only while paused, so the seed's shape is unchanged otherwise.
    if (runtime_.maintenance_state().paused) page["maintenance"] = "paused";
    return respond(json_response(200, page));
  }
  if (path == "/v1/status") {
    if (!is_get) return respond(method_not_allowed("GET"));
    return respond(json_response(200, status_json(runtime_)));
  }
  if (path == "/metrics") {
    if (!is_get) return respond(method_not_allowed("GET"));
    HttpResponse res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = render_metrics(runtime_.node_state(), runtime_.maintenance_state(), runtime_.peer_status(),
                                runtime_.snapshots(), runtime_.plugin_metrics());
    if (auto* af = runtime_.auto_failover()) res.body() += render_auto_failover_metrics(af->figures());
    res.prepare_payload();
    return respond(std::move(res));
  }
  if (path == "/v1/promote" || path == "/v1/switchover" || path == "/v1/rejoin" || path == "/v1/internal/demote") {
    if (!is_post) return respond(method_not_allowed("POST"));
    if (auto refusal = refuse_unauthorized(request)) return respond(std::move(*refusal));
    return failover_route(std::string(path.substr(4)), request.body(), respond);
  }
  if (path == "/v1/internal/failsafe") {
    // The primary's failsafe question (automatic failover, issue 16): may it
    // keep serving while it cannot reach etcd? Answered from what this node
    // last read of etcd; a yes is a promise not to take over for one ttl.
    if (!is_post) return respond(method_not_allowed("POST"));
    if (auto refusal = refuse_unauthorized(request)) return respond(std::move(*refusal));
    auto* af = runtime_.auto_failover();
    if (!af)
      return respond(
          json_response(409, {{"confirm", false}, {"reason", "automatic failover is not enabled on this node"}}));
    auto body = nlohmann::json::parse(request.body(), nullptr, false);
    if (!body.is_object() || !body.contains("node") || !body["node"].is_string())
      return respond(json_response(400, {{"error", "expected {\"node\": \"<asking node>\"}"}}));
    auto answer = af->answer_failsafe(body["node"].get<std::string>());
    return respond(json_response(200, {{"confirm", answer.confirm}, {"reason", answer.reason}}));
  }
  if (path == "/v1/pause" || path == "/v1/resume") {
    if (!is_post) return respond(method_not_allowed("POST"));
    if (auto refusal = refuse_unauthorized(request)) return respond(std::move(*refusal));
    return respond(maintenance_route(path == "/v1/pause", request.body()));
  }
  if (path == "/v1/history/samples") {
    if (!is_get) return respond(method_not_allowed("GET"));
    return respond(history_samples_route(path.size() < target.size() ? target.substr(path.size() + 1) : ""));
  }
  if (path == "/v1/history") {
    if (!is_get) return respond(method_not_allowed("GET"));
    nlohmann::json out = {{"history", runtime_.failover().history()}, {"in_progress", nullptr}};
    try {
      if (auto current = runtime_.failover().in_progress()) out["in_progress"] = to_json(*current);
    } catch (const std::exception& e) {
      out["in_progress"] = {{"error", e.what()}};
    }
    return respond(json_response(200, out));
  }
  constexpr std::string_view stores_prefix = "/v1/stores/";
  if (path.rfind(stores_prefix, 0) == 0)
    return store_route(std::move(request), path.substr(stores_prefix.size()), respond);
  return respond(
      json_error(404,
                 "no such endpoint: " + std::string(path) +
                     " (see docs/http-api.md: /monitor/replication, /v1/status, /v1/stores/<name>, /v1/history, "
                     "/v1/history/samples, /metrics, /ui)",
                 11, true));
}

HttpResponse ApiRoutes::history_samples_route(std::string_view query) const {
  std::optional<std::int64_t> since;
  if (auto raw = query_param(query, "since")) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), v);
    if (raw->empty() || ec != std::errc() || end != raw->data() + raw->size() || v < 0)
      return json_error(400,
                        "malformed since '" + std::string(*raw) +
                            "': use ?since=<unix seconds> (e.g. ?since=1765080000): samples taken at or after it",
                        11, true);
    since = v;
  }
  const SampleHistory* history = runtime_.history();
  if (!history) return json_error(503, "tandemd is starting: no samples yet", 11, true);
  nlohmann::json out = history->to_json(since);
  out["node"] = runtime_.node().name;
  out["now"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return json_response(200, out);
}

HttpResponse ApiRoutes::maintenance_route(bool pause, const std::string& body) {
  nlohmann::json args = body.empty() ? nlohmann::json::object() : nlohmann::json::parse(body, nullptr, false);
  if (!args.is_object()) return json_error(400, "the body must be a JSON object", 11, false);
  std::string reason;
  if (auto it = args.find("reason"); it != args.end()) {
    if (!it->is_string() || !is_clean_text(it->get<std::string>()) || it->get<std::string>().size() > 500)
      return json_error(400, "'reason' must be a line of text (at most 500 bytes)", 11, false);
    reason = it->get<std::string>();
  }
  try {
    auto m = pause ? runtime_.maintenance().pause(reason) : runtime_.maintenance().resume();
    log_warn("api", pause ? "maintenance mode: PAUSED" + (reason.empty() ? "" : " (" + reason + ")") +
                                ": promote and switchover refused unless forced"
                          : std::string("maintenance mode: resumed"));
    return json_response(200, maintenance_json(m));
  } catch (const std::exception& e) {
    return json_error(500, std::string(pause ? "pause" : "resume") + " failed: " + e.what(), 11, false);
  }
}

void ApiRoutes::failover_route(const std::string& kind, const std::string& body, HttpResponder& respond) {
  nlohmann::json args = body.empty() ? nlohmann::json::object() : nlohmann::json::parse(body, nullptr, false);
  if (!args.is_object()) return respond(json_error(400, "the body must be a JSON object", 11, false));
  std::string type_error;
  auto force = body_member(args, "force", false, type_error);
  auto dry_run = body_member(args, "dry_run", false, type_error);
  auto epoch = body_member(args, "new_epoch", std::uint64_t{0}, type_error);
  if (!force || !dry_run || !epoch) return respond(json_error(400, type_error, 11, false));
  FailoverOptions options;
  options.force = *force;
  options.dry_run = *dry_run;
  std::uint64_t new_epoch = *epoch;
  NodeRuntime& runtime = runtime_;
  // Failover steps block (a PostgreSQL shutdown, a rewind): run them on the
  // failover thread and answer when done.
  bool queued = runtime.post_failover([&runtime, kind, options, new_epoch, respond] {
    try {
      if (kind == "internal/demote") {
        auto r = runtime.failover().demote_for_peer(new_epoch);
        if (!r) return respond(json_error(500, r.message(), 11, false));
        return respond(json_response(200, {{"handoff", *r}}));
      }
      nlohmann::json report = kind == "promote"      ? runtime.failover().promote(options)
                              : kind == "switchover" ? runtime.failover().switchover(options)
                                                     : runtime.failover().rejoin(options);
      std::string result = report.value("result", std::string());
      unsigned status = result == "succeeded" || result == "dry-run" ? 200 : result == "refused" ? 409 : 500;
      respond(json_response(status, report));
    } catch (const std::exception& e) {
      respond(json_error(500, kind + " failed: " + e.what(), 11, false));
    }
  });
  if (!queued) respond(json_error(503, "tandemd is shutting down", 11, false));
}

void ApiRoutes::store_route(HttpRequest&& request, std::string_view rest, HttpResponder& respond) {
  auto raw_parts = split_path(rest);
  std::vector<std::string> parts;
  for (auto p : raw_parts) {
    auto decoded = percent_decode(p);
    if (!decoded) return respond(json_error(400, "malformed percent-escape in the path", 11, false));
    if (!is_clean_text(*decoded))
      return respond(
          json_error(400, "the path holds bytes that are not UTF-8 text (or control characters)", 11, false));
    parts.push_back(std::move(*decoded));
  }
  bool is_get = request.method() == http::verb::get;
  bool is_post = request.method() == http::verb::post;
  if (parts.empty()) return respond(json_error(404, "no store named in the path: use /v1/stores/<name>", 11, true));

  bool detail = parts.size() == 1;
  bool events = parts.size() == 2 && parts[1] == "events";
  bool action = parts.size() == 3 && parts[1] == "actions";
  if (!detail && !events && !action)
    return respond(json_error(404, "no such endpoint under /v1/stores/" + parts[0], 11, true));
  if (detail && !is_get) return respond(method_not_allowed("GET"));
  if ((events || action) && !is_post) return respond(method_not_allowed("POST"));

  StoreRunner* store = runtime_.find_store(parts[0]);
  // Authorization comes before anything that reveals which stores exist.
  if (events || action) {
    if (auto refusal = refuse_unauthorized(request)) return respond(std::move(*refusal));
  }
  if (!store) return respond(json_error(404, "no store named '" + parts[0] + "' on this node", 11, true));
  if (detail) return respond(json_response(200, store_detail_json(*store)));

  nlohmann::json body = nlohmann::json::object();
  if (!request.body().empty()) {
    body = nlohmann::json::parse(request.body(), nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object())
      return respond(json_error(400, "the request body must be a JSON object", 11, true));
  } else if (events) {
    return respond(json_error(400, "the request body must be a JSON object (the event)", 11, true));
  }

  if (events) {
    store->deliver_peer_event(std::move(body));
    return respond(json_response(202, {{"accepted", true}}));
  }

  const std::string& name = parts[2];
  // The plugin's action rows decide what exists: an unknown name is not_found.
  store->run_action(name, body, [respond, store_name = parts[0]](sdk::Result<nlohmann::json> result) {
    if (result.ok())
      respond(json_response(200, *result));
    else if (result.code() == sdk::ErrorCode::not_found)
      respond(json_error(404, "store '" + store_name + "': " + result.message(), 11, true));
    else
      respond(json_error(500, result.message(), 11, true));
  });
}

}  // namespace tandem::core
