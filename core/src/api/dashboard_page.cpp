#include "api/dashboard_page.h"

#include <nlohmann/json.hpp>

#include "api/dashboard_assets.h"

namespace tandem::core {
namespace http = boost::beast::http;

namespace {

std::string_view content_type(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".json")) return "application/json";
  return "application/octet-stream";
}

const embedded::Asset* find_asset(std::string_view name) {
  for (const auto& a : embedded::dashboard_assets)
    if (a.name == name) return &a;
  return nullptr;
}

}  // namespace

std::size_t dashboard_bytes() { return embedded::dashboard_assets_total_bytes; }

std::optional<HttpResponse> dashboard_route(const HttpRequest& request, std::string_view path, bool actions) {
  std::string_view name;
  if (path == "/") {
    name = "/";
  } else if (path == "/ui" || path == "/ui/") {
    name = "index.html";
  } else if (path.starts_with("/ui/")) {
    name = path.substr(4);
  } else {
    return std::nullopt;
  }
  bool head = request.method() == http::verb::head;
  if (request.method() != http::verb::get && !head) {
    HttpResponse res = json_error(405, "method not allowed: use GET", 11, true);
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (name == "/") {
    // Whoever opens the node's address in a browser lands on the dashboard.
    HttpResponse res{http::status::found, 11};
    res.set(http::field::location, "/ui");
    res.prepare_payload();
    return res;
  }
  // The one file made at run time: what the page may offer, from the config.
  const std::string settings = nlohmann::json{{"actions", actions}}.dump();
  const embedded::Asset* asset = find_asset(name);
  if (!asset && name != "settings.json")
    return json_error(404, "no such file in the dashboard: " + std::string(name), 11, true);
  std::string_view body = asset ? asset->bytes : std::string_view(settings);

  HttpResponse res{http::status::ok, 11};
  res.set(http::field::content_type, std::string(content_type(name)));
  // Only this origin, for everything: no CDN, font or image from elsewhere,
  // and no script can send what it reads to another host.
  res.set("Content-Security-Policy",
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set(http::field::cache_control, "no-cache");
  if (head) {
    res.content_length(body.size());  // same headers as GET, no body
  } else {
    res.body() = std::string(body);
    res.prepare_payload();
  }
  res.keep_alive(true);
  return res;
}

}  // namespace tandem::core
