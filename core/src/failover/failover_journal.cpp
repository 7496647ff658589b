#include "failover/failover_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>

#include "tandem/sdk/file_util.h"

namespace tandem::core {
namespace {

StepStatus status_from(const std::string& s) {
  if (s == "running") return StepStatus::running;
  if (s == "done") return StepStatus::done;
  if (s == "failed") return StepStatus::failed;
  return StepStatus::pending;
}

}  // namespace

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view to_string(StepStatus s) {
  switch (s) {
    case StepStatus::pending: return "pending";
    case StepStatus::running: return "running";
    case StepStatus::done: return "done";
    case StepStatus::failed: return "failed";
  }
  return "pending";
}

nlohmann::json to_json(const JournalEntry& e) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : e.steps)
    steps.push_back({{"name", s.name},
                     {"store", s.store},
                     {"action", s.action},
                     {"status", std::string(to_string(s.status))},
                     {"started_ms", s.started_ms},
                     {"finished_ms", s.finished_ms},
                     {"changed", s.changed},
                     {"summary", s.summary},
                     {"error", s.error},
                     {"details", s.details}});
  return {{"id", e.id},
          {"kind", e.kind},
          {"force", e.force},
          {"old_epoch", e.old_epoch},
          {"new_epoch", e.new_epoch},
          {"started_ms", e.started_ms},
          {"precheck_ms", e.precheck_ms},
          {"fenced_at_start", e.fenced_at_start ? nlohmann::json(*e.fenced_at_start) : nlohmann::json(nullptr)},
          {"loss", e.loss},
          {"handoff", e.handoff},
          {"steps", steps}};
}

JournalEntry journal_entry_from_json(const nlohmann::json& j) {
  JournalEntry e;
  e.id = j.at("id").get<std::string>();
  e.kind = j.at("kind").get<std::string>();
  e.force = j.value("force", false);
  e.old_epoch = j.at("old_epoch").get<std::uint64_t>();
  e.new_epoch = j.at("new_epoch").get<std::uint64_t>();
  e.started_ms = j.value("started_ms", std::int64_t{0});
  e.precheck_ms = j.value("precheck_ms", std::int64_t{0});
  if (j.contains("fenced_at_start") && j["fenced_at_start"].is_string())
    e.fenced_at_start = j["fenced_at_start"].get<std::string>();
  e.loss = j.value("loss", nlohmann::json::object());
  e.handoff = j.value("handoff", nlohmann::json::object());
  for (const auto& s : j.at("steps")) {
    JournalStep st;
    st.name = s.at("name").get<std::string>();
    st.store = s.value("store", std::string());
    st.action = s.at("action").get<std::string>();
    st.status = status_from(s.value("status", std::string("pending")));
    st.started_ms = s.value("started_ms", std::int64_t{0});
    st.finished_ms = s.value("finished_ms", std::int64_t{0});
    st.changed = s.value("changed", false);
    st.summary = s.value("summary", std::string());
    st.error = s.value("error", std::string());
    st.details = s.value("details", nlohmann::json::object());
    e.steps.push_back(std::move(st));
  }
  return e;
}

FailoverJournal::FailoverJournal(std::filesystem::path data_dir) : dir_(std::move(data_dir) / "failover") {}

std::optional<JournalEntry> FailoverJournal::current() const {
  auto file = dir_ / "journal.json";
  if (!std::filesystem::exists(file)) return std::nullopt;
  try {
    return journal_entry_from_json(nlohmann::json::parse(sdk::read_file(file)));
  } catch (const std::exception& e) {
    throw std::runtime_error("failover journal " + file.string() + " is unreadable: " + e.what() +
                             ". Inspect it; it records which failover steps already ran.");
  }
}

void FailoverJournal::save(const JournalEntry& entry) const {
  sdk::atomic_write_file(dir_ / "journal.json", to_json(entry).dump(2) + "\n", 0600);
}

void FailoverJournal::finish(const nlohmann::json& report) const {
  std::filesystem::create_directories(dir_);
  auto history = dir_ / "history.jsonl";
  {
    int fd = ::open(history.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot open " + history.string());
    std::string line = report.dump() + "\n";
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) throw std::runtime_error("cannot append to " + history.string());
  }
  std::filesystem::remove(dir_ / "journal.json");
}

std::vector<nlohmann::json> FailoverJournal::history(std::size_t limit) const {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir_ / "history.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));  // a torn last line from a crash is skipped
  }
  if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(limit));
  return out;
}

}  // namespace tandem::core
