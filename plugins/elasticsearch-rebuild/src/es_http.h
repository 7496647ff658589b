// A kept-alive connection to Elasticsearch over the SDK's HTTP client
// (tandem/sdk/net/http_client.h), with failover across the configured URLs,
// and a retry helper for 429 / 5xx / connection errors with exponential backoff.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/beast/http/verb.hpp>

#include "es_config.h"
#include "tandem/sdk/net/http_client.h"
#include "tandem/sdk/result.h"

namespace tandem::esrebuild {

using Verb = boost::beast::http::verb;

struct HttpResponse {
  unsigned status = 0;
  std::string body;
};

// Endpoints, auth header and timeouts shared by every connection of a store.
struct EsTarget {
  std::vector<sdk::net::Url> endpoints;
  std::string authorization;  // full header value, or empty; never logged
  std::chrono::milliseconds timeout{60000};
  // Set by the plugin: when true, every request in flight ends at once (the
  // host is stopping the store and a silent server must not hold it up).
  const std::atomic<bool>* interrupted = nullptr;
};

// Builds the Authorization header from the configured secret files (read now,
// so a rotated secret is picked up by the next rebuild). Throws on unreadable files.
std::string authorization_header(const EsRebuildConfig& config);

// One connection; not thread-safe (each bulk worker owns one).
class EsConnection {
 public:
  explicit EsConnection(std::shared_ptr<const EsTarget> target, std::size_t first_endpoint = 0);
  ~EsConnection();
  EsConnection(const EsConnection&) = delete;
  EsConnection& operator=(const EsConnection&) = delete;

  // One request; transport errors are failures, any HTTP status is a value.
  // A request on a reused connection that the server had closed is resent once;
  // a URL that refuses the connection is skipped for the next one.
  sdk::Result<HttpResponse> request(Verb method, const std::string& path, const std::string& body = {},
                                    const char* content_type = "application/json");
  // The same in two steps, for a big body sent more than once (bulk retries):
  // make_request takes the body over, send() sends it as often as asked.
  sdk::net::Request make_request(Verb method, const std::string& path, std::string body,
                                 const char* content_type = "application/json") const;
  sdk::Result<HttpResponse> send(const sdk::net::Request& req);
  std::string current_endpoint() const;

 private:
  std::shared_ptr<const EsTarget> target_;
  std::size_t endpoint_;
  std::unique_ptr<sdk::net::Connection> connection_;  // to endpoints[endpoint_], opened on first use
};

// True for answers worth retrying: 429 (rejected, back off) and 5xx.
inline bool retryable_status(unsigned status) { return status == 429 || (status >= 500 && status <= 599); }

// Runs `request` until it returns a non-retryable answer or attempts run out;
// sleeps initial_backoff * 2^n (capped, with jitter) between tries, and stops
// early when `cancelled` becomes true. on_retry is told each retry's reason.
sdk::Result<HttpResponse> with_retries(const RetryPolicy& policy, const std::atomic<bool>& cancelled,
                                       const std::function<sdk::Result<HttpResponse>()>& request,
                                       const std::function<void(const std::string&)>& on_retry = {});

// The "reason" of an Elasticsearch error body, or the first 200 bytes of it.
std::string es_error_reason(const HttpResponse& response);

}  // namespace tandem::esrebuild
