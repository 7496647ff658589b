// tandemctl pause / resume: maintenance mode on the local tandemd
// (POST /v1/pause, /v1/resume with the API token). While paused the node keeps
// syncing and monitoring; promote and switchover are refused unless --force.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "cli/commands.h"

namespace tandem::cli {

int run_maintenance(const GlobalOptions& global, const MaintenanceCommandOptions& options, std::ostream& out,
                    std::ostream& err) {
  auto base = daemon_url(global, options.url, err);
  if (!base) return 1;
  auto token = read_api_token(global, options.token_file, err);
  if (!token) return 1;
  const char* verb = options.pause ? "pause" : "resume";
  nlohmann::json body = nlohmann::json::object();
  if (options.pause && !options.reason.empty()) body["reason"] = options.reason;
  auto res = post_to_daemon(*base, std::string("/v1/") + verb, body.dump(), *token, std::chrono::seconds(10), err);
  if (!res) return 1;
  auto answer = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status != 200 || !answer.is_object()) {
    err << verb << " refused (HTTP " << res->status << "): " << res->body << "\n";
    return 1;
  }
  if (global.json) {
    out << answer.dump(2) << "\n";
  } else if (answer.value("paused", false)) {
    out << "paused since " << answer.value("since", std::string("?"));
    if (!answer.value("reason", std::string()).empty()) out << " (" << answer.value("reason", std::string()) << ")";
    out << ": syncing and monitoring go on; promote and switchover are refused unless --force, here and on the "
           "peer, until `tandemctl resume`\n";
  } else {
    out << "resumed: promote and switchover are allowed again\n";
  }
  return 0;
}

}  // namespace tandem::cli
