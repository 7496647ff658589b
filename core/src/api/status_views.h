// The JSON documents the API serves, built from cached state only:
// GET /monitor/replication, GET /v1/status, GET /v1/stores/<name>.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/node_runtime.h"
#include "host/store_runner.h"

namespace tandem::core {

// "2026-11-25T18:03:04.123Z", or JSON null.
nlohmann::json iso_time(const std::optional<std::chrono::system_clock::time_point>& t);

// The seed's page: {"<address>": {"<field>": "<value>", ...}, ..., "replication_mode": "master"|"standby"}
// from every store's Health.replication cells.
nlohmann::json replication_page(sdk::Role role, const std::vector<StoreSnapshot>& stores);

// One entry of /v1/status "stores".
nlohmann::json store_json(const StoreSnapshot& store);
// GET /v1/stores/<name>: store_json plus its diagnostics and actions.
nlohmann::json store_detail_json(const StoreRunner& runner);

// /v1/status "maintenance": {"paused": bool[, "since", "reason"]}.
nlohmann::json maintenance_json(const MaintenanceValues& maintenance);
nlohmann::json status_json(const NodeRuntime& runtime);

}  // namespace tandem::core
