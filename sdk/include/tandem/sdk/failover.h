// Failover steps: what the orchestrator asks of each store, and what it gets back.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace tandem::sdk {

enum class FailoverKind {
  failover,    // unplanned: the old primary is presumed dead
  switchover,  // planned: the old primary is alive and demoted first, zero loss
  rejoin,      // a former primary becomes the secondary of the new primary
};

struct FailoverRequest {
  FailoverKind kind = FailoverKind::failover;
  std::uint64_t new_epoch = 0;  // the epoch this node will have after the step
  bool force = false;           // operator accepted the stated loss / risk
  bool dry_run = false;         // prepare only: describe, change nothing
  // Data handed from the peer's step to this one, e.g. the old primary's final
  // WAL position from demote, passed to the standby's promote in a switchover.
  nlohmann::json handoff = nlohmann::json::object();
  // How long a probe of the peer (the old primary) may wait in this step:
  // the host's [failover] peer_probe_timeout. Use it instead of the store's
  // own (longer) timeouts when the step asks the peer something it can do
  // without, so that a silent peer delays a takeover by this much at most.
  std::chrono::milliseconds peer_timeout{std::chrono::seconds(2)};
};

// Answer to prepare(): may this node's copy be promoted now, and at what cost.
struct PrepareReport {
  bool ready = true;                               // false: refuses, with refusal given
  std::string refusal;                             // why not, and what to do
  std::string loss_summary;                        // what would be lost if promoted now ("nothing" when none)
  nlohmann::json loss = nlohmann::json::object();  // machine-readable, e.g. {"bytes_not_replayed": 0}
  std::string plan;                                // what promote would do, one line per action
};

// Answer to promote/demote/rejoin. Steps are idempotent: a repeated step that
// finds its work already done returns changed = false.
struct StepReport {
  bool changed = false;
  std::string summary;                                // what was done, for the failover report
  nlohmann::json details = nlohmann::json::object();  // also becomes the peer's handoff
};

}  // namespace tandem::sdk
