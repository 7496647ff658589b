// The warm index on the secondary (warm_refresh.h): the timer that runs a
// round every warm_interval, what a round does per index, and the catch-up a
// promotion runs instead of a full rebuild.
#include <algorithm>

#include "es_api.h"
#include "es_rebuild_plugin.h"

namespace tandem::esrebuild {
namespace {

using json = nlohmann::json;

// Written by promote before the marks are erased, so a promote repeated for
// the same epoch (a retried failover, a crash mid-way) catches up again from
// the same marks instead of rebuilding, and says so once it has.
constexpr const char* kCatchUpKey = "warm.catch_up";

}  // namespace

bool EsRebuildPlugin::warm_here() const {
  return config_.warm_standby && host_->role() == sdk::Role::secondary && !host_->fenced() && !warm_suspended_.load();
}

void EsRebuildPlugin::warm_loop() {
  // At start, a secondary without a complete warm index builds it at once;
  // one that has it (a restarted tandemd) goes on at the usual pace.
  bool first;
  {
    std::lock_guard state_lock(mu_);
    first = warm_marks_.size() < config_.indices.size();
  }
  std::unique_lock lock(warm_mu_);
  for (; !warm_stop_; first = false) {
    if (!first && warm_cv_.wait_for(lock, config_.warm_interval, [&] { return warm_stop_; })) break;
    lock.unlock();
    bool busy;
    {
      std::lock_guard state_lock(mu_);
      busy = running_;
    }
    if (!busy && warm_here()) (void)launch({.reason = "warm refresh", .epoch = host_->epoch(), .job = Job::warm});
    lock.lock();
  }
}

void EsRebuildPlugin::stop_warm_loop() {
  {
    std::lock_guard lock(warm_mu_);
    warm_stop_ = true;
  }
  warm_cv_.notify_all();
  if (warm_thread_.joinable()) warm_thread_.join();
  std::lock_guard lock(warm_mu_);
  warm_stop_ = false;
}

void EsRebuildPlugin::remember_warm_mark(const std::string& alias, const WarmMark& mark) {
  save_warm_mark(host_->state(), alias, mark);
  std::lock_guard lock(mu_);
  warm_marks_[alias] = mark;
}

void EsRebuildPlugin::forget_warm_marks() {
  for (auto& spec : config_.indices) erase_warm_mark(host_->state(), spec.alias);
  host_->state().erase(kCatchUpKey);
  std::lock_guard lock(mu_);
  warm_marks_.clear();
}

void EsRebuildPlugin::warm_index(const IndexSpec& spec, const Launch& what,
                                 const std::shared_ptr<const EsTarget>& target, const std::string& password,
                                 JobTally& tally) {
  std::optional<WarmMark> mark;
  if (what.job == Job::catch_up) {
    if (auto it = what.marks.find(spec.alias); it != what.marks.end()) mark = it->second;
  } else {
    std::lock_guard lock(mu_);  // warm_marks_ mirrors the state store: no read per round
    if (auto it = warm_marks_.find(spec.alias); it != warm_marks_.end()) mark = it->second;
  }
  const bool keep_mark = what.job == Job::warm;  // a catch-up runs on the new primary: no mark is kept
  json round = {{"at_ms", wall_ms_now()}, {"job", what.job == Job::warm ? "warm" : "catch-up"}};
  std::string full_because;
  if (!mark)
    full_because = "no warm index yet";
  else if (wall_ms_now() - mark->full_at_ms >= config_.warm_full_interval.count())
    full_because = "its last full rebuild is older than warm_full_interval";
  else if (spec.updated_column.empty())
    full_because = what.job == Job::catch_up ? "no updated_column: only a full rebuild catches up" : "";
  if (full_because.empty() && spec.updated_column.empty()) return;  // an index without updated_column, not due
  // A full rebuild that failed is not retried at every round (each would
  // fail the same way and flood the log): at most once per 10 s or warm_interval.
  if (what.job == Job::warm) {
    std::lock_guard lock(mu_);
    auto it = warm_rounds_.find(spec.alias);
    if (it != warm_rounds_.end() && it->second.contains("full_because") && it->second.value("result", "") == "failed" &&
        wall_ms_now() - it->second.value("at_ms", std::int64_t{0}) <
            std::max<std::int64_t>(10000, config_.warm_interval.count()))
      return;
  }

  if (full_because.empty()) {
    WarmRefresher refresher(config_, spec, target, password, cancel_);
    sdk::Result<WarmRoundOutcome> r = WarmRoundOutcome{};
    try {
      r = refresher.run(*mark);
    } catch (const std::exception& e) {
      r = sdk::Result<WarmRoundOutcome>::failure(e.what());
    }
    if (!r.ok()) {
      round.update({{"result", "failed"}, {"error", r.message()}});
      host_->log().warn("warm refresh of " + spec.alias +
                        " failed (the next round reads the same rows again): " + r.message());
    } else if (!r->needs_full.empty()) {
      full_because = r->needs_full;
    } else {
      round.update({{"result", "success"},
                    {"rows_read", r->rows_read},
                    {"source_rows", r->source_rows},
                    {"documents", r->documents},
                    {"seconds", r->seconds}});
      if (keep_mark) remember_warm_mark(spec.alias, r->mark);
    }
  }
  if (!full_because.empty()) {
    host_->log().info("warm index of " + spec.alias + ": full rebuild from the standby (" + full_because + ")");
    std::size_t errors_before = tally.results.size();
    auto done = full_rebuild(spec, target, password, what.epoch, tally);
    if (!done && tally.results.size() > errors_before) round["error"] = tally.results.back().value("error", "");
    {
      std::lock_guard lock(mu_);
      full_running_ = false;
    }
    round.update({{"result", done ? "rebuilt" : "failed"}, {"full_because", full_because}});
    if (done) {
      round.update({{"rows_read", done->documents}, {"seconds", done->seconds}});
      if (keep_mark) remember_warm_mark(spec.alias, done->mark);
    }
  }
  std::lock_guard lock(mu_);
  if (what.job == Job::warm) {
    warm_rounds_[spec.alias] = round;
  } else {
    if (!catch_up_.is_object()) catch_up_ = json::object();
    catch_up_[spec.alias] = round;
  }
}

std::optional<std::map<std::string, WarmMark>> EsRebuildPlugin::warm_marks_serving() {
  std::map<std::string, WarmMark> marks;
  {
    std::lock_guard lock(mu_);  // warm_marks_ mirrors the state store
    marks = warm_marks_;
  }
  EsApi api(make_target(), kQuickRetry, interrupted_);
  for (auto& spec : config_.indices) {
    auto it = marks.find(spec.alias);
    if (it == marks.end()) return std::nullopt;
    auto targets = api.alias_targets(spec.alias);
    if (!targets.ok() || targets->size() != 1 || targets->front() != it->second.index) return std::nullopt;
  }
  return marks;
}

sdk::Result<sdk::StepReport> EsRebuildPlugin::promote_warm(std::uint64_t epoch, std::map<std::string, WarmMark> marks) {
  json record = {{"epoch", epoch}, {"marks", json::object()}};
  double oldest = 0;
  for (auto& [alias, m] : marks) {
    record["marks"][alias] = m.to_json();
    oldest = std::max(oldest, static_cast<double>(wall_ms_now() - m.snapshot_at_ms) / 1000.0);
  }
  host_->state().put(kCatchUpKey, record.dump());
  for (auto& spec : config_.indices) erase_warm_mark(host_->state(), spec.alias);
  {
    std::lock_guard lock(mu_);
    warm_marks_.clear();
    catch_up_ = json::object();
  }
  auto started = launch({.reason = "catch-up after promotion to epoch " + std::to_string(epoch),
                         .epoch = epoch,
                         .job = Job::catch_up,
                         .marks = std::move(marks)});
  if (!started.ok()) return sdk::Result<sdk::StepReport>::failure(started.message());
  char age[32];
  std::snprintf(age, sizeof age, "%.1f", oldest);
  return sdk::StepReport{true,
                         std::string("searches are served by the warm indices now (oldest ") + age +
                             " s behind the standby); catching up in the background",
                         *started};
}

}  // namespace tandem::esrebuild

namespace tandem::esrebuild {

void EsRebuildPlugin::finish_catch_up(std::uint64_t epoch) {
  bool ok = true;
  {
    std::lock_guard lock(mu_);
    if (catch_up_.is_object())
      for (auto& [alias, round] : catch_up_.items()) ok = ok && round.value("result", "") != "failed";
  }
  if (ok && !cancel_.load()) host_->state().put(kCatchUpKey, nlohmann::json{{"epoch", epoch}, {"done", true}}.dump());
}

std::optional<sdk::Result<sdk::StepReport>> EsRebuildPlugin::resume_catch_up(std::uint64_t epoch) {
  auto text = host_->state().get(kCatchUpKey);
  if (!text) return std::nullopt;
  auto record = nlohmann::json::parse(*text, nullptr, false);
  if (!record.is_object() || record.value("epoch", std::uint64_t{0}) != epoch) return std::nullopt;
  if (record.value("done", false))
    return sdk::StepReport{false, "the warm indices were already caught up for epoch " + std::to_string(epoch),
                           nlohmann::json::object()};
  std::map<std::string, WarmMark> marks;
  if (record.contains("marks") && record["marks"].is_object())
    for (auto& [alias, m] : record["marks"].items())
      if (auto mark = WarmMark::from_json(m)) marks[alias] = *mark;
  auto started = launch({.reason = "catch-up after promotion to epoch " + std::to_string(epoch) + " (resumed)",
                         .epoch = epoch,
                         .job = Job::catch_up,
                         .marks = std::move(marks)});
  if (!started.ok()) return sdk::Result<sdk::StepReport>::failure(started.message());
  return sdk::StepReport{true, "resumed the warm indices' catch-up for epoch " + std::to_string(epoch), *started};
}

}  // namespace tandem::esrebuild
