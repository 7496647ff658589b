#include "es_http.h"

#include <random>
#include <thread>

#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "tandem/sdk/base64.h"
#include "tandem/sdk/file_util.h"

namespace tandem::esrebuild {

std::string authorization_header(const EsRebuildConfig& config) {
  if (config.api_key_file) return "ApiKey " + sdk::read_secret_file(*config.api_key_file);
  if (config.username && config.password_file)
    return "Basic " + sdk::base64_encode(*config.username + ":" + sdk::read_secret_file(*config.password_file));
  return {};
}

EsConnection::EsConnection(std::shared_ptr<const EsTarget> target, std::size_t first_endpoint)
    : target_(std::move(target)), endpoint_(first_endpoint % target_->endpoints.size()) {}

EsConnection::~EsConnection() = default;

std::string EsConnection::current_endpoint() const { return target_->endpoints[endpoint_].to_string(); }

sdk::Result<HttpResponse> EsConnection::request(Verb method, const std::string& path, const std::string& body,
                                                const char* content_type) {
  return send(make_request(method, path, body, content_type));
}

sdk::net::Request EsConnection::make_request(Verb method, const std::string& path, std::string body,
                                             const char* content_type) const {
  sdk::net::Request req;
  req.method = std::string(boost::beast::http::to_string(method));
  req.target = path;
  req.body = std::move(body);
  req.timeout = target_->timeout;
  req.cancel = target_->interrupted;
  req.max_response_bytes = 256u << 20;  // a bulk answer lists every document
  req.headers["User-Agent"] = "tandem-elasticsearch-rebuild";
  req.headers["Accept"] = "application/json";
  if (!req.body.empty()) req.headers["Content-Type"] = content_type;
  if (!target_->authorization.empty()) req.headers["Authorization"] = target_->authorization;
  return req;
}

sdk::Result<HttpResponse> EsConnection::send(const sdk::net::Request& req) {
  std::string unreachable;
  for (std::size_t tried = 0; tried < target_->endpoints.size(); ++tried) {
    if (target_->interrupted && target_->interrupted->load())
      return sdk::Result<HttpResponse>::failure("not sent: the store is stopping");
    if (!connection_) connection_ = std::make_unique<sdk::net::Connection>(target_->endpoints[endpoint_]);
    auto r = connection_->request(req);
    if (r.ok()) return HttpResponse{static_cast<unsigned>(r->status), std::move(r->body)};
    connection_.reset();
    endpoint_ = (endpoint_ + 1) % target_->endpoints.size();
    // A node that cannot be reached is skipped now; a request that failed
    // on the way is the caller's to retry (with_retries), on the next node.
    if (r.code() != sdk::ErrorCode::unavailable) return r.error();
    unreachable += (unreachable.empty() ? "" : "; ") + r.message();
  }
  return sdk::Result<HttpResponse>::failure("cannot connect to Elasticsearch (" + unreachable + ")");
}

sdk::Result<HttpResponse> with_retries(const RetryPolicy& policy, const std::atomic<bool>& cancelled,
                                       const std::function<sdk::Result<HttpResponse>()>& request,
                                       const std::function<void(const std::string&)>& on_retry) {
  thread_local std::mt19937 rng(std::random_device{}());
  auto backoff = policy.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    auto r = request();
    std::string reason;
    if (!r.ok())
      reason = r.message();
    else if (retryable_status(r->status))
      reason = "HTTP " + std::to_string(r->status) + ": " + es_error_reason(*r);
    else
      return r;
    if (attempt >= policy.max_attempts || cancelled.load()) {
      if (!r.ok())
        return sdk::Result<HttpResponse>::failure(reason + " (gave up after " + std::to_string(attempt) + " attempts)");
      return r;
    }
    if (on_retry) on_retry(reason);
    // Full jitter in [backoff/2, backoff] spreads concurrent workers apart.
    auto half = backoff.count() / 2;
    auto sleep = std::chrono::milliseconds(
        half + std::uniform_int_distribution<long long>(0, std::max<long long>(half, 0))(rng));
    auto until = std::chrono::steady_clock::now() + sleep;
    while (std::chrono::steady_clock::now() < until && !cancelled.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<long long>(50, sleep.count() + 1)));
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

std::string es_error_reason(const HttpResponse& response) {
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("error")) {
    auto& e = doc["error"];
    if (e.is_string()) return e.get<std::string>();
    if (e.is_object()) {
      std::string type = e.value("type", ""), reason = e.value("reason", "");
      return type.empty() ? reason : type + ": " + reason;
    }
  }
  return response.body.substr(0, 200);
}

}  // namespace tandem::esrebuild
