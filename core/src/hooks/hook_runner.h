// Runs the operator's [hooks] commands (config/hooks_config.h) through the
// SDK's one process layer, on threads of their own: an event never waits for
// its hook (except pre_promote, whose answer is the point), every run is
// bounded by its timeout (its whole process group is killed past it), and
// what it printed is logged. A hook that fails is reported, never an error
// of what fired it.
//
// Each run gets two arguments after the configured ones, the event and the
// node's role after it ("primary", "secondary", "fenced"), and the
// environment TANDEM_NODE, TANDEM_PEER, TANDEM_EVENT, TANDEM_ROLE plus the
// event's own (docs/configuration.md#hooks).
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "config/hooks_config.h"
#include "util/task_threads.h"

namespace tandem::core {

struct HookEvent {
  std::string event;                       // "on_promote"
  std::string role;                        // the node's role after the event
  std::map<std::string, std::string> env;  // TANDEM_OLD_ROLE, TANDEM_EPOCH, TANDEM_SUCCESS, ...
  std::string stdin_data;                  // on_failover_report: the report as JSON
};

struct HookOutcome {
  std::string hook;        // the event it ran for
  std::string result;      // "ok", "failed", "timed out", "not run"
  std::string summary;     // "exit 0", "exit 3: disk full", "killed after 2000 ms (timeout 2s)"
  std::string first_line;  // first non-empty line of stdout, else of stderr (a veto's reason)
  std::int64_t duration_ms = 0;
  bool ok() const { return result == "ok"; }
  nlohmann::json to_json() const;
};

class HookRunner {
 public:
  HookRunner(HooksConfig config, std::string node_name, std::string peer_name);
  ~HookRunner();
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  bool has(const std::string& event) const { return config_.find(event) != nullptr; }
  // Queues the event's hook; nullopt when none is configured (or shutting down).
  std::optional<std::shared_future<HookOutcome>> fire(HookEvent event);
  // Runs the event's hook on this thread and waits for it (bounded by its
  // timeout); nullopt when none is configured.
  std::optional<HookOutcome> run(const HookEvent& event);
  // The longest configured timeout: how long waiting for fired hooks can take.
  std::chrono::milliseconds longest_timeout() const;
  // Stops taking events; runs what is queued (each bounded) within `grace`.
  bool shutdown(std::chrono::milliseconds grace);

 private:
  HookOutcome execute(const HookCommand& command, const HookEvent& event) const;

  HooksConfig config_;
  std::string node_;
  std::string peer_;
  TaskThreads threads_{"hooks", 4};
};

// The outcomes of `pending`, waiting for each at most until `deadline`; one
// still running then is reported as such (it goes on, bounded by its timeout).
nlohmann::json collect_hook_outcomes(std::vector<std::pair<std::string, std::shared_future<HookOutcome>>>& pending,
                                     std::chrono::steady_clock::time_point deadline);

}  // namespace tandem::core
