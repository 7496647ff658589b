// tandemctl status: GET /v1/status from the local daemon, as a table or raw JSON.
#include <iomanip>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "cli/status_watch.h"
#include "tandem/sdk/file_util.h"

namespace tandem::cli {
namespace {

using nlohmann::json;

std::string text(const json& j, const char* key, const std::string& fallback = "-") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string lag_text(const json& health) {
  std::string out;
  if (health.contains("lag_bytes") && health["lag_bytes"].is_number())
    out = human_bytes(health["lag_bytes"].get<double>());
  if (health.contains("lag_seconds") && health["lag_seconds"].is_number())
    out += (out.empty() ? "" : " / ") + human_seconds(health["lag_seconds"].get<double>());
  return out.empty() ? "-" : out;
}

void print_table(const json& s, std::ostream& out) {
  const json node = s.value("node", json::object());
  out << "node   " << text(node, "name") << " (" << text(node, "address") << ")  role " << text(s, "role") << "  epoch "
      << text(s, "epoch");
  if (s.value("fenced", false))
    out << "  FENCED\nfenced: needs rejoin (the peer was promoted to a higher epoch; this node takes no writes until "
           "`tandemctl rejoin`)";
  out << "\n";
  const json maintenance = s.value("maintenance", json::object());
  if (maintenance.value("paused", false)) {
    out << "maintenance: PAUSED since " << text(maintenance, "since");
    if (!text(maintenance, "reason", "").empty()) out << " (" << text(maintenance, "reason") << ")";
    out << ": syncing and monitoring go on; promote/switchover refused unless --force; `tandemctl resume` ends it\n";
  }
  const json peer = s.value("peer", json::object());
  if (text(s, "role") == "test")
    out << "peer   none: a test instance (a clone of the pair, tandemctl clone-test) is never promoted\n";
  else if (peer.value("reachable", false))
    out << "peer   " << text(peer, "name") << " (" << text(peer, "address") << ")  reachable, role "
        << text(peer, "role") << ", epoch " << text(peer, "epoch") << (peer.value("paused", false) ? ", PAUSED" : "")
        << "\n";
  else
    out << "peer   " << text(peer, "name") << " (" << text(peer, "address") << ")  NOT reachable\n";
  const json failover = s.value("failover", json::object());
  if (failover.value("mode", "") == "automatic") {
    // Automatic failover: who leads, the lease, etcd's health, and why this
    // node does what it does (e.g. why the secondary would not take over now).
    const json dcs = failover.value("dcs", json::object());
    out << "failover automatic  leader " << text(failover, "leader", "none");
    if (failover.value("holds_leader_key", false))
      out << " (this node), lease " << text(failover, "lease_remaining_seconds") << " s left";
    out << "  etcd " << (dcs.value("healthy", false) ? "healthy" : "UNHEALTHY");
    if (dcs.contains("last_error_kind"))
      out << " (" << text(dcs, "last_error_kind") << ": " << text(dcs, "last_error") << ")";
    out << "\n         " << text(failover, "decision") << "\n";
  }

  const json stores = s.value("stores", json::array());
  if (stores.empty()) {
    out << "no stores configured\n";
    return;
  }
  std::size_t name_w = 5, plugin_w = 6;
  for (const auto& st : stores) {
    name_w = std::max(name_w, text(st, "name").size());
    plugin_w = std::max(plugin_w, text(st, "plugin").size());
  }
  out << "\n"
      << std::left << std::setw(name_w + 2) << "STORE" << std::setw(plugin_w + 2) << "PLUGIN" << std::setw(10)
      << "STATUS" << std::setw(20) << "LAG"
      << "SUMMARY\n";
  for (const auto& st : stores) {
    const json health = st.value("health", json::object());
    out << std::left << std::setw(name_w + 2) << text(st, "name") << std::setw(plugin_w + 2) << text(st, "plugin")
        << std::setw(10) << text(health, "status") << std::setw(20) << lag_text(health) << text(health, "summary", "")
        << "\n";
    if (auto progress = progress_from_details(health.value("details", json::object())))
      out << std::string(name_w + 2, ' ') << render_progress(*progress) << "\n";
    const json sync = st.value("sync", json::object());
    if (sync.value("failures", 0) > 0 && sync.contains("last_error") && sync["last_error"].is_string() &&
        !sync["last_error"].get<std::string>().empty())
      out << std::string(name_w + 2, ' ') << "last sync error (" << text(sync, "failures") << " of "
          << text(sync, "runs") << " runs failed): " << sync["last_error"].get<std::string>() << "\n";
  }
}

// The status is readable without the token, but a request that carries it
// counts as trusted against the API's connection limits, so it is still
// answered while the API is flooded. A token named with --token-file must be
// readable; the config's is used when this user can read it, and skipped
// otherwise (or with --url, which may name another daemon).
std::optional<std::string> status_token(const GlobalOptions& global, const StatusOptions& options, bool& failed,
                                        std::ostream& err) {
  if (options.token_file) {
    auto token = read_api_token(global, options.token_file, err);
    failed = !token;
    return token;
  }
  if (!options.url.empty()) return std::nullopt;
  std::ostringstream quiet;
  auto config = load_config_or_report(global.config, quiet);
  if (!config || !config->api.token_file) return std::nullopt;
  try {
    return sdk::read_secret_file(*config->api.token_file);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// One GET /v1/status, printed as the table, or as JSON (`compact`: on one line).
int print_status(const DaemonEndpoint& base, const std::optional<std::string>& token, const StatusOptions& options,
                 bool as_json, bool compact, std::ostream& out, std::ostream& err) {
  sdk::net::Request req;
  req.target = "/v1/status";
  if (token) req.headers["Authorization"] = "Bearer " + *token;
  req.timeout = std::chrono::milliseconds(static_cast<long>(options.timeout_seconds * 1000));
  auto res = base.request(req);
  if (!res && res.code() == sdk::ErrorCode::refused) {
    err << res.message() << "\n";
    return 1;
  }
  if (!res) {
    err << "tandemd not answering at " << base.to_string() << ": is it running? (" << res.message() << ")\n";
    return 1;
  }
  if (res->status != 200) {
    err << "tandemd at " << base.to_string() << " answered " << res->status << " to GET /v1/status: " << res->body
        << "\n";
    return 1;
  }
  json status = json::parse(res->body, nullptr, false);
  if (status.is_discarded() || !status.is_object()) {
    err << "tandemd at " << base.to_string() << " sent a status that is not a JSON object\n";
    return 1;
  }
  if (as_json) {
    out << (compact ? status.dump() : status.dump(2)) << "\n";
    return 0;
  }
  try {
    print_table(status, out);
  } catch (const json::exception& e) {
    err << "tandemd at " << base.to_string() << " sent a status of an unexpected shape (" << e.what()
        << "); try --json\n";
    return 1;
  }
  return 0;
}

}  // namespace

int run_status(const GlobalOptions& global, const StatusOptions& options, std::ostream& out, std::ostream& err) {
  auto base = daemon_url(global, options.url, err);
  if (!base) return 1;
  bool token_failed = false;
  auto token = status_token(global, options, token_failed, err);
  if (token_failed) return 1;
  if (!options.watch_interval_seconds)
    return print_status(*base, token, options, global.json, /*compact=*/false, out, err);
  WatchOptions watch;
  watch.interval_seconds = *options.watch_interval_seconds;
  watch.json = global.json;
  watch.title = "tandemctl status";
  return watch_frames(
      watch,
      [&](std::ostream& frame_out, std::ostream& frame_err) {
        return print_status(*base, token, options, global.json, /*compact=*/true, frame_out, frame_err);
      },
      out, options.output_is_terminal);
}

}  // namespace tandem::cli
