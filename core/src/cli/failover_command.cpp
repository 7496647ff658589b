// tandemctl promote / switchover / rejoin / history: ask the local tandemd to
// run the failover orchestrator (POST /v1/<kind>) and print its report.
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "cli/commands.h"

namespace tandem::cli {
namespace {

using nlohmann::json;

std::string str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// A store's text in a column: its later lines start under its first.
std::string hanging(const std::string& text, std::size_t column) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out.append(column, ' ');
  }
  return out;
}

void print_report(const json& r, std::ostream& out) {
  out << r.value("kind", std::string("?")) << " " << r.value("id", std::string()) << ": "
      << r.value("result", std::string("?"));
  if (r.contains("old_epoch") && r.contains("new_epoch"))
    out << " (epoch " << r["old_epoch"] << " -> " << r["new_epoch"] << ")";
  out << "\n";
  if (!str(r, "reason").empty()) out << "  " << str(r, "reason") << "\n";
  if (r.contains("time_to_writable_ms") && r["time_to_writable_ms"].is_number())
    out << "  time until writable: " << human_seconds(r["time_to_writable_ms"].get<double>() / 1000) << "\n";
  if (r.contains("total_ms") && r["total_ms"].is_number() && r["total_ms"].get<double>() > 0)
    out << "  total time: " << human_seconds(r["total_ms"].get<double>() / 1000) << "\n";
  if (r.contains("loss") && r["loss"].is_object() && !r["loss"].empty()) {
    out << "  what may be lost, per store:\n";
    for (auto& [store, loss] : r["loss"].items())
      out << "    " << std::left << std::setw(16) << store << " " << hanging(str(loss, "summary"), 21) << "\n";
  }
  if (r.contains("plan") && r["plan"].is_array() && r.value("result", std::string()) != "succeeded") {
    out << "  plan:";
    for (auto& s : r["plan"]) out << " " << s.get<std::string>();
    out << "\n";
    if (r.contains("store_plans") && r["store_plans"].is_object())
      for (auto& [store, plan] : r["store_plans"].items())
        if (plan.is_string() && !plan.get<std::string>().empty())
          out << "    " << std::left << std::setw(16) << store << " " << hanging(plan.get<std::string>(), 21) << "\n";
  }
  std::string result = r.value("result", std::string());
  if (r.contains("steps") && r["steps"].is_array() && (result == "succeeded" || result == "failed")) {
    out << "  steps:\n";
    for (auto& s : r["steps"]) {
      std::string status = str(s, "status");
      const char* mark = status == "done" ? "ok  " : status == "failed" ? "FAIL" : "    ";
      out << "    " << mark << " " << std::left << std::setw(22) << str(s, "name") << std::right << std::setw(9)
          << (s.value("duration_ms", 0) ? std::to_string(s.value("duration_ms", 0)) + "ms" : "") << "  "
          << (status == "failed" ? str(s, "error") : str(s, "summary")) << "\n";
    }
  }
  if (r.contains("hooks") && r["hooks"].is_array() && !r["hooks"].empty()) {
    out << "  hooks:\n";
    for (auto& h : r["hooks"]) {
      std::string result = str(h, "result");
      out << "    "
          << (result == "ok"        ? "ok  "
              : result == "running" ? "... "
                                    : "FAIL")
          << " " << std::left << std::setw(22) << str(h, "hook") << "  " << result << ": " << str(h, "summary") << "\n";
    }
  }
}

}  // namespace

int run_failover(const GlobalOptions& global, const FailoverCommandOptions& options, std::ostream& out,
                 std::ostream& err) {
  auto base = daemon_url(global, options.url, err);
  if (!base) return 1;
  auto token = read_api_token(global, options.token_file, err);
  if (!token) return 1;
  // Store steps (a rewind, a base backup) can take long.
  auto res =
      post_to_daemon(*base, "/v1/" + options.kind, json{{"force", options.force}, {"dry_run", options.dry_run}}.dump(),
                     *token, std::chrono::minutes(30), err,
                     ". A failover interrupted by a crash resumes when you run the same command again.");
  if (!res) return 1;
  json report = json::parse(res->body, nullptr, false);
  if (report.is_discarded() || !report.is_object()) {
    err << options.kind << " failed (HTTP " << res->status << "): " << res->body << "\n";
    return 1;
  }
  if (global.json)
    out << report.dump(2) << "\n";
  else if (report.contains("result"))
    print_report(report, out);
  else
    err << options.kind << " refused (HTTP " << res->status << "): " << report.dump() << "\n";
  std::string result = report.value("result", std::string());
  return result == "succeeded" || result == "dry-run" ? 0 : 1;
}

int run_history(const GlobalOptions& global, const std::string& url, std::ostream& out, std::ostream& err) {
  auto base = daemon_url(global, url, err);
  if (!base) return 1;
  sdk::net::Request req;
  req.target = "/v1/history";
  auto res = base->request(req);
  if (!res || res->status != 200) {
    err << "cannot read the failover history from " << base->to_string() << ": "
        << (res ? "HTTP " + std::to_string(res->status) : res.message()) << "\n";
    return 1;
  }
  json history = json::parse(res->body, nullptr, false);
  if (global.json) {
    out << history.dump(2) << "\n";
    return 0;
  }
  if (!history.is_object() || !history.contains("history") || history["history"].empty()) {
    out << "no failover has run on this node\n";
    return 0;
  }
  for (auto& r : history["history"]) print_report(r, out);
  return 0;
}

}  // namespace tandem::cli
