// tandemctl action STORE ACTION [--arg k=v]... and rebuild STORE [--follow]:
// POST /v1/stores/STORE/actions/ACTION with the API's bearer token, then
// optionally follow the store's progress.
#include <unistd.h>

#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/net/url.h"

namespace tandem::cli {
namespace {

using nlohmann::json;

std::optional<json> parse_args(const std::vector<std::string>& args, std::ostream& err) {
  json out = json::object();
  for (const auto& a : args) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      err << "--arg '" << a << "' is not key=value\n";
      return std::nullopt;
    }
    std::string value = a.substr(eq + 1);
    // Numbers, booleans and JSON literals travel typed; anything else as text.
    json parsed = json::parse(value, nullptr, false);
    out[a.substr(0, eq)] = parsed.is_discarded() ? json(value) : parsed;
  }
  return out;
}

// Polls GET /v1/stores/STORE until its progress reports completion.
int follow_progress(const DaemonEndpoint& base, const ActionOptions& options, std::ostream& out, std::ostream& err) {
  const bool tty = &out == &std::cout && isatty(STDOUT_FILENO);
  const auto started = std::chrono::steady_clock::now();
  bool seen = false;
  std::string last_line;
  for (;;) {
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (options.follow_timeout_seconds > 0 && elapsed > options.follow_timeout_seconds) {
      err << (tty ? "\n" : "") << "stopped following after " << human_seconds(elapsed) << "\n";
      return 1;
    }
    sdk::net::Request req;
    req.target = "/v1/stores/" + sdk::net::encode_path_segment(options.store);
    auto res = base.request(req);
    if (!res || res->status != 200) {
      err << (tty ? "\n" : "")
          << "lost the daemon while following: " << (res ? "HTTP " + std::to_string(res->status) : res.message())
          << "\n";
      return 1;
    }
    json store = json::parse(res->body, nullptr, false);
    json health = store.is_object() ? store.value("health", json::object()) : json::object();
    auto progress = progress_from_details(health.value("details", json::object()));
    if (progress) {
      seen = true;
      std::string line = render_progress(*progress);
      if (tty)
        out << "\r" << line << std::flush;
      else if (line != last_line)
        out << line << "\n";
      last_line = line;
      if (progress->total > 0 && progress->done >= progress->total) break;
    } else if (seen) {
      break;  // the progress object is gone: the run finished
    } else if (elapsed > 30) {
      err << "store '" << options.store << "' reported no progress within 30s\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (tty) out << "\n";
  json health;
  sdk::net::Request req;
  req.target = "/v1/stores/" + sdk::net::encode_path_segment(options.store);
  if (auto res = base.request(req); res && res->status == 200) {
    json store = json::parse(res->body, nullptr, false);
    if (store.is_object()) health = store.value("health", json::object());
  }
  std::string status = health.is_object() ? health.value("status", std::string("unknown")) : "unknown";
  out << "done: " << options.store << " is " << status;
  if (health.is_object() && health.contains("summary") && health["summary"].is_string())
    out << " - " << health["summary"].get<std::string>();
  out << "\n";
  return status == "failed" ? 1 : 0;
}

}  // namespace

int run_action(const GlobalOptions& global, const ActionOptions& options, std::ostream& out, std::ostream& err) {
  auto args = parse_args(options.args, err);
  if (!args) return 1;
  auto base = daemon_url(global, options.url, err);
  if (!base) return 1;
  auto token = read_api_token(global, options.token_file, err);
  if (!token) return 1;

  std::string target = "/v1/stores/" + sdk::net::encode_path_segment(options.store) + "/actions/" +
                       sdk::net::encode_path_segment(options.action);
  auto res = post_to_daemon(*base, target, args->dump(), *token,
                            std::chrono::milliseconds(static_cast<long>(options.timeout_seconds * 1000)), err);
  if (!res) return 1;
  json body = json::parse(res->body, nullptr, false);
  std::string shown = body.is_discarded() ? res->body : body.dump(2);
  if (res->status < 200 || res->status >= 300) {
    err << "action '" << options.action << "' on store '" << options.store << "' refused (HTTP " << res->status
        << "): " << shown << "\n";
    return 1;
  }
  if (global.json || !options.follow) out << shown << "\n";
  if (options.follow) return follow_progress(*base, options, out, err);
  return 0;
}

}  // namespace tandem::cli
