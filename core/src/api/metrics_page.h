// GET /metrics: the node's and every store's figures in Prometheus text format.
#pragma once

#include "dcs/auto_failover.h"

#include <string>
#include <vector>

#include "host/metrics_registry.h"
#include "host/peer_monitor.h"
#include "host/store_runner.h"
#include "state/maintenance_state.h"
#include "state/node_state.h"

namespace tandem::core {

// Automatic failover's gauges (issue 16), appended to /metrics when
// [failover] mode = "automatic".
std::string render_auto_failover_metrics(const dcs::AutoFailover::Figures& figures);

std::string render_metrics(const NodeStateValues& node, const MaintenanceValues& maintenance, const PeerStatus& peer,
                           const std::vector<StoreSnapshot>& stores, const PluginMetrics& plugin_metrics);

}  // namespace tandem::core
