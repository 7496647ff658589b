#include "api/health_checks.h"

#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::core {
namespace http = boost::beast::http;

namespace {

// A store serves its role when its plugin is started and its own health says
// it works (degraded still serves: e.g. a primary whose standby lags).
bool store_serves(const StoreSnapshot& s) {
  return s.state == StoreState::running &&
         (s.health.status == sdk::HealthStatus::ok || s.health.status == sdk::HealthStatus::degraded);
}

std::string store_problem(const StoreSnapshot& s) {
  if (s.state != StoreState::running) return "store '" + s.name + "' is " + std::string(to_string(s.state));
  return "store '" + s.name + "' is " + std::string(sdk::to_string(s.health.status)) +
         (s.health.summary.empty() ? "" : ": " + s.health.summary);
}

// The first store that does not serve, as a reason; "" when all do.
std::string first_problem(const std::vector<StoreSnapshot>& stores, bool need_serving) {
  for (const auto& s : stores) {
    if (need_serving ? !store_serves(s) : s.state != StoreState::running) return store_problem(s);
  }
  return "";
}

struct LagLimit {
  bool seconds = false;
  double value = 0;
};

// "lag=1048576" (bytes) or "lag=10s" (seconds). nullopt and `error` set when malformed.
std::optional<LagLimit> parse_lag(std::string_view query, std::string& error) {
  error.clear();
  auto raw = query_param(query, "lag");
  if (!raw) return std::nullopt;
  std::string_view v = *raw;
  LagLimit limit;
  if (!v.empty() && v.back() == 's') {
    limit.seconds = true;
    v.remove_suffix(1);
  }
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
    error = "malformed lag '" + std::string(*raw) +
            "': use ?lag=<bytes> (e.g. ?lag=1048576) or ?lag=<seconds>s (e.g. ?lag=10s)";
    return std::nullopt;
  }
  limit.value = static_cast<double>(n);
  return limit;
}

// Largest lag any store measures of the asked kind; nullopt when none measures it.
std::optional<double> max_lag(const std::vector<StoreSnapshot>& stores, bool seconds) {
  std::optional<double> worst;
  for (const auto& s : stores) {
    std::optional<double> lag;
    if (seconds && s.health.lag_seconds) lag = *s.health.lag_seconds;
    if (!seconds && s.health.lag_bytes) lag = static_cast<double>(*s.health.lag_bytes);
    if (lag && (!worst || *lag > *worst)) worst = lag;
  }
  return worst;
}

HttpResponse answer(const HttpRequest& request, bool ok, nlohmann::json body) {
  body["ok"] = ok;
  HttpResponse res{ok ? http::status::ok : http::status::service_unavailable, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::allow, "GET, HEAD, OPTIONS");
  std::string text = body.dump() + "\n";
  if (request.method() == http::verb::head) {
    // Same headers as GET, no body (RFC 9110 §9.3.2).
    res.content_length(text.size());
  } else {
    res.body() = std::move(text);
    res.prepare_payload();
  }
  res.keep_alive(true);
  return res;
}

}  // namespace

std::optional<HttpResponse> health_check_route(const NodeRuntime& runtime, const HttpRequest& request,
                                               std::string_view path, std::string_view query) {
  enum class Check { primary, replica, health, liveness, readiness, store_primary } check;
  std::string store_name;
  constexpr std::string_view stores_prefix = "/v1/stores/";
  constexpr std::string_view primary_suffix = "/primary";
  if (path == "/primary" || path == "/read-write")
    check = Check::primary;
  else if (path == "/replica")
    check = Check::replica;
  else if (path == "/health")
    check = Check::health;
  else if (path == "/liveness")
    check = Check::liveness;
  else if (path == "/readiness")
    check = Check::readiness;
  else if (path.size() > stores_prefix.size() + primary_suffix.size() && path.rfind(stores_prefix, 0) == 0 &&
           path.substr(path.size() - primary_suffix.size()) == primary_suffix) {
    store_name =
        std::string(path.substr(stores_prefix.size(), path.size() - stores_prefix.size() - primary_suffix.size()));
    // Only a plain name: anything else (an escape, a deeper path) is the store routes' to refuse.
    if (store_name.find_first_of("/%") != std::string::npos) return std::nullopt;
    check = Check::store_primary;
  } else {
    return std::nullopt;
  }

  auto method = request.method();
  if (method != http::verb::get && method != http::verb::head && method != http::verb::options) {
    HttpResponse res = json_error(405, "method not allowed; use GET, HEAD or OPTIONS", 11, true);
    res.set(http::field::allow, "GET, HEAD, OPTIONS");
    return res;
  }

  auto state = runtime.node_state();
  auto stores = runtime.snapshots();
  // A test instance is nobody's primary: a load balancer listing it by mistake sends it nothing.
  std::string role = runtime.test_instance() ? "test instance" : std::string(sdk::to_string(state.role));
  const bool is_primary = state.role == sdk::Role::primary && !runtime.test_instance();
  nlohmann::json body = {
      {"node", runtime.node().name}, {"role", role}, {"epoch", state.epoch}, {"fenced", state.fenced}};
  auto fail = [&](std::string reason) {
    body["reason"] = std::move(reason);
    return answer(request, false, std::move(body));
  };

  switch (check) {
    case Check::liveness: return answer(request, true, std::move(body));
    case Check::health: {
      std::string problem = first_problem(stores, /*need_serving=*/false);
      if (!problem.empty()) return fail(problem);
      return answer(request, true, std::move(body));
    }
    case Check::readiness: {
      if (state.fenced) return fail("fenced: " + state.fenced_reason);
      std::string problem = first_problem(stores, /*need_serving=*/true);
      if (!problem.empty()) return fail(problem);
      return answer(request, true, std::move(body));
    }
    case Check::primary: {
      if (!is_primary) return fail("this node is the " + role);
      if (state.fenced) return fail("fenced: " + state.fenced_reason);
      std::string problem = first_problem(stores, /*need_serving=*/true);
      if (!problem.empty()) return fail(problem);
      return answer(request, true, std::move(body));
    }
    case Check::store_primary: {
      body["store"] = store_name;
      const StoreSnapshot* store = nullptr;
      for (const auto& s : stores)
        if (s.name == store_name) store = &s;
      if (!store) {
        HttpResponse res = json_error(404, "no store named '" + store_name + "' on this node", 11, true);
        return res;
      }
      if (!is_primary) return fail("this node is the " + role);
      if (state.fenced) return fail("fenced: " + state.fenced_reason);
      if (!store_serves(*store)) return fail(store_problem(*store));
      return answer(request, true, std::move(body));
    }
    case Check::replica: {
      std::string error;
      auto limit = parse_lag(query, error);
      if (!limit && !error.empty()) return json_error(400, error, 11, true);
      if (state.role != sdk::Role::secondary) return fail("this node is the " + role);
      if (state.fenced) return fail("fenced: " + state.fenced_reason);
      std::string problem = first_problem(stores, /*need_serving=*/true);
      if (!problem.empty()) return fail(problem);
      if (limit) {
        auto lag = max_lag(stores, limit->seconds);
        const char* unit = limit->seconds ? "seconds" : "bytes";
        body["lag_limit"] = limit->value;
        if (!lag) return fail(std::string("no store measures its lag in ") + unit);
        body[std::string("lag_") + unit] = *lag;
        if (*lag > limit->value)
          return fail("lag " + nlohmann::json(*lag).dump() + " " + unit + " exceeds " +
                      nlohmann::json(limit->value).dump());
      }
      return answer(request, true, std::move(body));
    }
  }
  return std::nullopt;
}

}  // namespace tandem::core
