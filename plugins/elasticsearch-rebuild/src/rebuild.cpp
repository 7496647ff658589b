#include "rebuild.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <regex>
#include <thread>

#include "bulk_loader.h"
#include "es_api.h"
#include "pg_source.h"

namespace tandem::esrebuild {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string utc_timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

// The creation time part of a rebuilt index's name (sortable as text).
std::string timestamp_of(const std::string& suffix) { return suffix.substr(suffix.rfind('-') + 1); }

std::string state_key(const std::string& alias) { return "building." + alias; }

}  // namespace

json RebuildProgress::to_json() const {
  return {{"alias", alias},
          {"index", index},
          {"phase", phase},
          {"done", done},
          {"total", total},
          {"total_estimated", total_estimated},
          {"rate", std::round(rate * 10) / 10},
          {"eta_seconds", std::round(eta_seconds)}};
}

std::string rebuilt_index_suffix(const std::string& alias, const std::string& index) {
  static const std::regex suffix_re("^e[0-9]+-[0-9]{14}$");
  if (index.size() <= alias.size() + 1 || index.compare(0, alias.size() + 1, alias + "-") != 0) return {};
  std::string suffix = index.substr(alias.size() + 1);
  return std::regex_match(suffix, suffix_re) ? suffix : std::string();
}

IndexRebuilder::IndexRebuilder(const EsRebuildConfig& config, const IndexSpec& spec,
                               std::shared_ptr<const EsTarget> target, std::string source_password,
                               sdk::StateStore& state, sdk::Logger& log, const std::atomic<bool>& cancelled,
                               ProgressFn on_progress)
    : config_(config),
      spec_(spec),
      target_(std::move(target)),
      source_password_(std::move(source_password)),
      state_(state),
      log_(log),
      cancelled_(cancelled),
      on_progress_(std::move(on_progress)) {
  progress_.alias = spec_.alias;
}

void IndexRebuilder::publish() {
  if (progress_.phase == "loading" && load_started_ != Clock::time_point{}) {
    double secs = std::chrono::duration<double>(Clock::now() - load_started_).count();
    progress_.rate = secs > 0.2 ? static_cast<double>(progress_.done) / secs : 0;
    progress_.eta_seconds = progress_.rate > 0 && progress_.total > progress_.done
                                ? static_cast<double>(progress_.total - progress_.done) / progress_.rate
                                : 0;
  }
  if (on_progress_) on_progress_(progress_);
}

void IndexRebuilder::set_phase(const std::string& phase) {
  progress_.phase = phase;
  publish();
}

std::string IndexRebuilder::new_index_name(std::uint64_t epoch, const std::vector<std::string>& existing) const {
  // Names carry the second they were made; two rebuilds within one second wait.
  for (;;) {
    std::string name = spec_.alias + "-e" + std::to_string(epoch) + "-" + utc_timestamp();
    if (std::find(existing.begin(), existing.end(), name) == existing.end()) return name;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// An interrupted rebuild (crash, kill -9) leaves an index nobody points at.
// Orphans are this alias's rebuilt indices that are not aliased and are newer
// than the newest aliased one (or any unaliased one when the alias is missing),
// plus the one this node recorded as "building" before it died.
sdk::Status IndexRebuilder::drop_orphans(EsApi& api, std::vector<std::string>& deleted) {
  auto indices = api.indices_matching(spec_.alias + "-e*");
  if (!indices.ok()) return indices.status();
  std::string newest_aliased;
  for (auto& [name, aliases] : *indices)
    if (aliases.count(spec_.alias) && !rebuilt_index_suffix(spec_.alias, name).empty())
      newest_aliased = std::max(newest_aliased, timestamp_of(rebuilt_index_suffix(spec_.alias, name)));
  auto recorded = state_.get(state_key(spec_.alias));
  for (auto& [name, aliases] : *indices) {
    std::string suffix = rebuilt_index_suffix(spec_.alias, name);
    if (suffix.empty() || aliases.count(spec_.alias)) continue;
    bool orphan = (recorded && *recorded == name) || timestamp_of(suffix) > newest_aliased || newest_aliased.empty();
    if (!orphan) continue;
    auto st = api.delete_index(name);
    if (!st) return st;
    log_.info("deleted " + name + ", left behind by an interrupted rebuild of " + spec_.alias);
    deleted.push_back(name);
  }
  if (recorded) state_.erase(state_key(spec_.alias));
  return {};
}

sdk::Result<RebuildOutcome> IndexRebuilder::run(std::uint64_t epoch) {
  using R = sdk::Result<RebuildOutcome>;
  auto started = Clock::now();
  RebuildOutcome out;
  out.alias = spec_.alias;
  EsApi api(target_, config_.retry, cancelled_);

  set_phase("starting");
  auto health = api.cluster_health();
  if (!health.ok()) return R::failure(health.message());
  // Names in use now, orphans included: a new index never reuses the name of
  // one just dropped (that would blur what happened in the logs).
  auto existing = api.indices_matching(spec_.alias + "-e*");
  if (!existing.ok()) return R::failure(existing.message());
  std::vector<std::string> existing_names;
  for (auto& [name, _] : *existing) existing_names.push_back(name);
  auto st = drop_orphans(api, out.deleted);
  if (!st) return R::failure(st.message());
  auto previous = api.alias_targets(spec_.alias);
  if (!previous.ok()) return R::failure(previous.message());
  out.previous = *previous;

  set_phase("counting");
  PgSource source(spec_.source_conninfo, source_password_, config_.source_connect_timeout);
  out.mark.snapshot_at_ms = out.mark.full_at_ms = wall_ms_now();
  // Without updated_column no count is taken first: it would scan the source
  // once more (7-10% of a rebuild's time on a million rows). The rows the
  // stream reads are the snapshot's count, which the final check uses.
  sdk::Result<std::uint64_t> total = std::uint64_t{0};
  const bool estimated = spec_.updated_column.empty();
  if (estimated) {
    total = source.begin_snapshot_and_estimate(spec_.query);
  } else {
    auto measured = source.begin_snapshot_and_measure(spec_.query, spec_.updated_column);
    if (!measured.ok()) return R::failure(measured.message());
    total = measured->rows;
    out.mark.newest = measured->newest;
    out.mark.type = measured->type;
  }
  if (!total.ok()) return R::failure(total.message());
  progress_.total = *total;
  progress_.total_estimated = estimated;

  set_phase("creating");
  out.index = progress_.index = new_index_name(epoch, existing_names);
  // Recorded before creating, so a crash between here and the swap is cleaned up next time.
  state_.put(state_key(spec_.alias), out.index);
  st = api.create_index(out.index, spec_.create_body);
  if (!st) return R::failure(st.message());
  log_.info("rebuilding " + spec_.alias + " into " + out.index + ": " + (estimated ? "about " : "") +
            std::to_string(*total) + " source rows" + (estimated ? " (the planner's estimate)" : ""));

  // From here on, any failure deletes the new index: the alias never saw it.
  auto abandon = [&](const std::string& why) -> R {
    progress_.phase = "failed";
    publish();
    if (auto del = api.delete_index(out.index); !del)
      log_.warn("could not delete the abandoned index " + out.index + " (" + del.message() +
                "); the next rebuild removes it");
    else
      state_.erase(state_key(spec_.alias));
    return R::failure("rebuild of " + spec_.alias + " into " + out.index + " failed: " + why +
                      (out.previous.empty() ? "; the alias is still missing"
                                            : "; the alias still points at " + out.previous.front()));
  };

  load_started_ = Clock::now();
  set_phase("loading");
  BulkSettings bulk{out.index,         config_.batch_bytes, config_.batch_docs,
                    config_.in_flight, config_.retry,       config_.error_threshold};
  std::atomic<std::uint64_t> retry_logs{0};
  BulkLoader loader(target_, bulk, cancelled_, [&](const std::string& reason) {
    if (retry_logs.fetch_add(1) < 5) log_.warn("retrying a _bulk request: " + reason);
  });
  std::uint64_t null_ids = 0;
  std::string first_null_row;
  auto last_publish = Clock::now();
  auto last_log = Clock::now();
  std::uint64_t seen = 0;
  auto streamed = source.stream(
      spec_.query, spec_.id_column,
      [&](std::optional<std::string_view> id, std::string_view row) {
        if (!id) {
          if (null_ids++ == 0) first_null_row = std::string(row.substr(0, 200));
        } else if (!loader.add(*id, row)) {
          return false;
        }
        if ((++seen & 1023) == 0) {
          auto now = Clock::now();
          if (now - last_publish > std::chrono::milliseconds(250)) {
            progress_.done = loader.documents_done();
            publish();
            last_publish = now;
          }
          if (now - last_log > config_.progress_log_interval) {
            log_.info("rebuild " + spec_.alias + ": " + std::to_string(progress_.done) + "/" +
                      std::to_string(progress_.total) + " rows, " +
                      std::to_string(static_cast<long long>(progress_.rate)) + " rows/s, ETA " +
                      std::to_string(static_cast<long long>(progress_.eta_seconds)) + "s");
            last_log = now;
          }
        }
        return true;
      },
      cancelled_);
  auto loaded = loader.finish();
  progress_.done = loader.documents_done();
  publish();
  out.item_errors = loader.item_errors();
  out.retries = loader.retries();
  if (!loaded) return abandon(loaded.message());
  if (!streamed.ok()) return abandon(streamed.message());
  out.source_rows = progress_.total = *streamed;  // the snapshot's exact count
  progress_.total_estimated = false;
  if (null_ids > 0)
    return abandon(std::to_string(null_ids) + " source rows have a NULL " + spec_.id_column +
                   " (first: " + first_null_row + ")");

  set_phase("finalizing");
  json restore = {
      {"index", {{"refresh_interval", spec_.final_refresh_interval}, {"number_of_replicas", spec_.final_replicas}}}};
  if (st = api.put_settings(out.index, restore); !st) return abandon(st.message());
  if (st = api.refresh(out.index); !st) return abandon(st.message());
  auto count = api.count(out.index);
  if (!count.ok()) return abandon(count.message());
  std::uint64_t expected = out.source_rows - out.item_errors;
  if (*count != expected)
    return abandon("the new index holds " + std::to_string(*count) + " documents but " + std::to_string(expected) +
                   " were expected (" + std::to_string(out.source_rows) + " source rows - " +
                   std::to_string(out.item_errors) + " item errors); is " + spec_.id_column + " unique?");
  out.documents = *count;
  out.mark.index = out.index;
  out.mark.tolerated = out.item_errors;
  if (cancelled_.load()) return abandon("cancelled");

  set_phase("swapping");
  json actions = json::array();
  for (auto& old : out.previous) actions.push_back({{"remove", {{"index", old}, {"alias", spec_.alias}}}});
  actions.push_back({{"add", {{"index", out.index}, {"alias", spec_.alias}}}});
  if (st = api.update_aliases(actions); !st) return abandon(st.message());
  state_.erase(state_key(spec_.alias));

  set_phase("cleanup");
  auto after = api.indices_matching(spec_.alias + "-e*");
  if (!after.ok()) {
    log_.warn("could not list old indices of " + spec_.alias + " to drop them: " + after.message());
  } else {
    // Kept for rollback: the previous targets first, then older indices.
    // Unaliased ones newer than the previous target never served searches:
    // orphans (e.g. re-created by a crashed writer's last in-flight _bulk,
    // which auto-creates a missing index), always deleted.
    std::string previous_ts;
    for (auto& p : out.previous)
      if (!rebuilt_index_suffix(spec_.alias, p).empty())
        previous_ts = std::max(previous_ts, timestamp_of(rebuilt_index_suffix(spec_.alias, p)));
    std::vector<std::pair<std::string, std::string>> old;  // (rank key, name) of keep candidates
    std::vector<std::string> doomed;
    for (auto& [name, aliases] : *after) {
      std::string suffix = rebuilt_index_suffix(spec_.alias, name);
      if (suffix.empty() || name == out.index || aliases.count(spec_.alias)) continue;
      bool was_target = std::count(out.previous.begin(), out.previous.end(), name) > 0;
      if (!was_target && timestamp_of(suffix) >= previous_ts)
        doomed.push_back(name);
      else
        old.emplace_back((was_target ? "1" : "0") + timestamp_of(suffix), name);
    }
    std::sort(old.rbegin(), old.rend());
    for (std::size_t i = static_cast<std::size_t>(spec_.keep_old); i < old.size(); ++i) doomed.push_back(old[i].second);
    for (auto& name : doomed) {
      if (auto del = api.delete_index(name); !del)
        log_.warn("could not delete the old index " + name + ": " + del.message());
      else
        out.deleted.push_back(name);
    }
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  set_phase("done");
  return out;
}

}  // namespace tandem::esrebuild
