// The elasticsearch-rebuild store table: its schema (as data) and the
// validated settings configure() derives from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/sdk/config.h"
#include "tandem/sdk/net/url.h"

namespace tandem::esrebuild {

struct RetryPolicy {
  int max_attempts = 8;  // per request, including the first
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10000};
};

// One rebuilt index: its source query and the alias searches go through.
struct IndexSpec {
  std::string alias;
  std::string query;
  std::string id_column;
  std::string
      updated_column;  // warm refresh: a timestamp column set on every insert and update ("": full rebuilds only)
  std::string source_conninfo;                            // effective (store default unless overridden)
  nlohmann::json create_body = nlohmann::json::object();  // {"settings":..,"mappings":..} from mapping_file
  std::string final_refresh_interval = "1s";              // restored after the load
  std::string final_replicas = "1";
  int keep_old = 1;
};

struct EsRebuildConfig {
  std::vector<sdk::net::Url> endpoints;  // one per node: host:port, optional path prefix (a reverse proxy)
  std::optional<std::string> username;
  std::optional<std::filesystem::path> password_file;
  std::optional<std::filesystem::path> api_key_file;
  std::optional<std::filesystem::path> source_password_file;
  std::chrono::milliseconds source_connect_timeout{10000};
  std::vector<IndexSpec> indices;
  std::uint64_t batch_bytes = 5u << 20;
  std::size_t batch_docs = 5000;
  int in_flight = 4;
  RetryPolicy retry;
  std::chrono::milliseconds request_timeout{60000};
  std::uint64_t error_threshold = 0;
  bool rebuild_on_start_if_missing = true;
  bool rebuild_on_promote = true;
  std::chrono::milliseconds progress_log_interval{5000};
  // The warm index on the secondary (warm_refresh.h).
  bool warm_standby = false;
  std::chrono::milliseconds warm_interval{10000};
  std::chrono::milliseconds warm_overlap{60000};
  std::chrono::milliseconds warm_full_interval{24 * 3600 * 1000};
};

sdk::ConfigSchema es_rebuild_schema();

// Validates everything that can be checked without touching the network:
// URLs, auth combination, secret files exist, conninfo parses and carries no
// inline password, mapping files are JSON objects. An invalid_config error names the key.
sdk::Result<EsRebuildConfig> parse_es_rebuild_config(const sdk::StoreConfig& config);

}  // namespace tandem::esrebuild
