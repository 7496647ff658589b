#include "hooks/hook_runner.h"

#include <sstream>

#include "tandem/sdk/process.h"
#include "util/logging.h"

namespace tandem::core {
namespace {

constexpr std::size_t kMaxOutputBytes = 64 * 1024;
constexpr int kMaxLoggedLines = 20;
constexpr std::size_t kMaxLineBytes = 300;

std::string first_line(const std::string& text) {
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) return line.substr(0, kMaxLineBytes);
  }
  return "";
}

void log_output(const std::string& hook, const char* stream, const std::string& text) {
  std::stringstream lines(text);
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (++n > kMaxLoggedLines) {
      log_info("hooks", hook + " " + stream + ": ... (more lines not logged)");
      return;
    }
    log_info("hooks", hook + " " + stream + ": " + line.substr(0, kMaxLineBytes));
  }
}

}  // namespace

nlohmann::json HookOutcome::to_json() const {
  return {
      {"hook", hook}, {"result", result}, {"summary", summary}, {"output", first_line}, {"duration_ms", duration_ms}};
}

HookRunner::HookRunner(HooksConfig config, std::string node_name, std::string peer_name)
    : config_(std::move(config)), node_(std::move(node_name)), peer_(std::move(peer_name)) {}

HookRunner::~HookRunner() { shutdown(longest_timeout() + std::chrono::seconds(5)); }

std::chrono::milliseconds HookRunner::longest_timeout() const {
  std::chrono::milliseconds out{0};
  for (const auto& [name, hook] : config_.commands) out = std::max(out, hook.timeout);
  return out;
}

HookOutcome HookRunner::execute(const HookCommand& command, const HookEvent& event) const {
  sdk::ProcessSpec spec;
  spec.argv = command.argv;
  spec.argv.push_back(event.event);
  spec.argv.push_back(event.role);
  spec.env = event.env;
  spec.env["TANDEM_NODE"] = node_;
  spec.env["TANDEM_PEER"] = peer_;
  spec.env["TANDEM_EVENT"] = event.event;
  spec.env["TANDEM_ROLE"] = event.role;
  spec.timeout = command.timeout;
  spec.stdin_data = event.stdin_data;
  spec.max_output_bytes = kMaxOutputBytes;

  HookOutcome out;
  out.hook = event.event;
  auto started = std::chrono::steady_clock::now();
  auto r = sdk::run_process(spec);
  out.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!r) {
    out.result = "failed";
    out.summary = "cannot run " + sdk::shell_quote(command.argv[0]) + ": " + r.message();
  } else {
    log_output(event.event, "stdout", r->stdout_text);
    log_output(event.event, "stderr", r->stderr_text);
    out.first_line = first_line(r->stdout_text);
    if (out.first_line.empty()) out.first_line = first_line(r->stderr_text);
    if (r->timed_out) {
      out.result = "timed out";
      out.summary = "killed after " + std::to_string(out.duration_ms) + " ms (timeout " +
                    std::to_string(command.timeout.count()) + " ms)";
    } else {
      out.result = r->succeeded() ? "ok" : "failed";
      out.summary = r->describe();
    }
  }
  std::string line =
      event.event + " hook " + out.result + " (" + out.summary + ", " + std::to_string(out.duration_ms) + " ms)";
  if (out.ok())
    log_info("hooks", line);
  else
    log_warn("hooks", line);
  return out;
}

std::optional<std::shared_future<HookOutcome>> HookRunner::fire(HookEvent event) {
  const HookCommand* command = config_.find(event.event);
  if (!command) return std::nullopt;
  auto task = std::make_shared<std::packaged_task<HookOutcome()>>(
      [this, command, event = std::move(event)] { return execute(*command, event); });
  std::shared_future<HookOutcome> future = task->get_future().share();
  if (!threads_.post([task] { (*task)(); })) return std::nullopt;
  return future;
}

std::optional<HookOutcome> HookRunner::run(const HookEvent& event) {
  const HookCommand* command = config_.find(event.event);
  if (!command) return std::nullopt;
  return execute(*command, event);
}

bool HookRunner::shutdown(std::chrono::milliseconds grace) { return threads_.shutdown(grace); }

nlohmann::json collect_hook_outcomes(std::vector<std::pair<std::string, std::shared_future<HookOutcome>>>& pending,
                                     std::chrono::steady_clock::time_point deadline) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& [hook, future] : pending) {
    if (future.wait_until(deadline) == std::future_status::ready) {
      out.push_back(future.get().to_json());
    } else {
      HookOutcome still;
      still.hook = hook;
      still.result = "running";
      still.summary = "still running when the report was made (it goes on, bounded by its timeout; see the log)";
      out.push_back(still.to_json());
    }
  }
  pending.clear();
  return out;
}

}  // namespace tandem::core
