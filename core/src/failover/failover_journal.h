// The failover journal (DESIGN.md §6): every step of a promote, switchover or
// rejoin is recorded before and after it runs, in <data_dir>/failover/, so a
// crash anywhere resumes where it stopped and no step is applied twice in a
// harmful way. Finished operations are appended to history.jsonl.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::core {

enum class StepStatus { pending, running, done, failed };

struct JournalStep {
  std::string name;    // "epoch", "promote:pg", "role", ...
  std::string store;   // empty for node-level steps
  std::string action;  // "epoch", "promote", "demote", "rejoin", "role", "peer-demote", "peer-rejoin"
  StepStatus status = StepStatus::pending;
  std::int64_t started_ms = 0;  // wall clock, ms since epoch
  std::int64_t finished_ms = 0;
  bool changed = false;
  std::string summary;
  std::string error;
  nlohmann::json details = nlohmann::json::object();
};

struct JournalEntry {
  std::string id;    // e.g. "20261125T180102Z-promote"
  std::string kind;  // "promote", "switchover", "rejoin"
  bool force = false;
  std::uint64_t old_epoch = 0;
  std::uint64_t new_epoch = 0;
  std::int64_t started_ms = 0;
  std::int64_t precheck_ms = 0;  // the prechecks before the first step: the peer's status, every prepare
  // Whether this node was fenced when the operation began: a fence set while
  // it runs (a lease lost during a slow promote) is not lifted by its role step.
  std::optional<std::string> fenced_at_start;         // the fence's reason then; nullopt: not fenced
  nlohmann::json loss = nlohmann::json::object();     // per store, from prepare
  nlohmann::json handoff = nlohmann::json::object();  // per store, from the peer's demote
  std::vector<JournalStep> steps;
};

nlohmann::json to_json(const JournalEntry& e);
JournalEntry journal_entry_from_json(const nlohmann::json& j);
std::string_view to_string(StepStatus s);

class FailoverJournal {
 public:
  explicit FailoverJournal(std::filesystem::path data_dir);

  // The unfinished operation, if any. Throws std::runtime_error if the file is corrupt.
  std::optional<JournalEntry> current() const;
  // Persist the operation's whole state (atomic write + fsync + rename).
  void save(const JournalEntry& entry) const;
  // Append the final report to history and remove the journal.
  void finish(const nlohmann::json& report) const;
  // Finished operations, oldest first (at most `limit`, newest kept).
  std::vector<nlohmann::json> history(std::size_t limit = 50) const;

 private:
  std::filesystem::path dir_;
};

std::int64_t now_ms();

}  // namespace tandem::core
