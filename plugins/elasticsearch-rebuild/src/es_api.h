// The Elasticsearch calls a rebuild and a health check make, each on one
// connection, retried on 429/5xx, each turning an unexpected answer into an
// error that says which call failed and what Elasticsearch answered.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "es_http.h"

namespace tandem::esrebuild {

// Health, promote and start-up checks: two attempts, then report, so the
// store's executor is never held by a slow cluster.
inline constexpr RetryPolicy kQuickRetry{2, std::chrono::milliseconds(200), std::chrono::milliseconds(1000)};

class EsApi {
 public:
  EsApi(std::shared_ptr<const EsTarget> target, RetryPolicy retry, const std::atomic<bool>& cancelled)
      : conn_(std::move(target)), retry_(retry), cancelled_(cancelled) {}

  sdk::Result<nlohmann::json> cluster_health();
  // Indices the alias points at (empty when the alias does not exist).
  sdk::Result<std::vector<std::string>> alias_targets(const std::string& alias);
  // Indices matching a `prefix*` pattern, each with its aliases.
  sdk::Result<std::map<std::string, std::set<std::string>>> indices_matching(const std::string& pattern);
  sdk::Status create_index(const std::string& name, const nlohmann::json& body);
  sdk::Status delete_index(const std::string& name);
  sdk::Status put_settings(const std::string& name, const nlohmann::json& settings);
  sdk::Status refresh(const std::string& name);
  sdk::Result<std::uint64_t> count(const std::string& target);
  sdk::Status update_aliases(const nlohmann::json& actions);

  std::string endpoint() const { return conn_.current_endpoint(); }

 private:
  sdk::Result<HttpResponse> call(Verb method, const std::string& path, const std::string& body = {});
  sdk::Result<nlohmann::json> call_json(Verb method, const std::string& path, const std::string& body,
                                        const std::string& what);

  EsConnection conn_;
  RetryPolicy retry_;
  const std::atomic<bool>& cancelled_;
};

}  // namespace tandem::esrebuild
