#include "warm_refresh.h"

#include <chrono>

#include "bulk_loader.h"
#include "es_api.h"
#include "pg_source.h"

namespace tandem::esrebuild {
namespace {

using json = nlohmann::json;

std::string mark_key(const std::string& alias) { return "warm." + alias; }

}  // namespace

std::int64_t wall_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json WarmMark::to_json() const {
  return {{"index", index},
          {"newest", newest ? json(*newest) : json()},
          {"type", type},
          {"snapshot_at_ms", snapshot_at_ms},
          {"full_at_ms", full_at_ms},
          {"tolerated", tolerated}};
}

std::optional<WarmMark> WarmMark::from_json(const json& j) {
  if (!j.is_object() || !j.contains("index") || !j["index"].is_string()) return std::nullopt;
  WarmMark m;
  m.index = j["index"].get<std::string>();
  if (j.contains("newest") && j["newest"].is_string()) m.newest = j["newest"].get<std::string>();
  m.type = j.value("type", "");
  m.snapshot_at_ms = j.value("snapshot_at_ms", std::int64_t{0});
  m.full_at_ms = j.value("full_at_ms", std::int64_t{0});
  m.tolerated = j.value("tolerated", std::uint64_t{0});
  // A mark with a value but no type cannot build its query: treat as none.
  if (m.newest && m.type.empty()) return std::nullopt;
  return m;
}

std::optional<WarmMark> load_warm_mark(sdk::StateStore& state, const std::string& alias) {
  auto text = state.get(mark_key(alias));
  if (!text) return std::nullopt;
  return WarmMark::from_json(json::parse(*text, nullptr, false));
}

void save_warm_mark(sdk::StateStore& state, const std::string& alias, const WarmMark& mark) {
  state.put(mark_key(alias), mark.to_json().dump());
}

void erase_warm_mark(sdk::StateStore& state, const std::string& alias) { state.erase(mark_key(alias)); }

WarmRefresher::WarmRefresher(const EsRebuildConfig& config, const IndexSpec& spec,
                             std::shared_ptr<const EsTarget> target, std::string source_password,
                             const std::atomic<bool>& cancelled)
    : config_(config),
      spec_(spec),
      target_(std::move(target)),
      source_password_(std::move(source_password)),
      cancelled_(cancelled) {}

sdk::Result<WarmRoundOutcome> WarmRefresher::run(const WarmMark& from) {
  using R = sdk::Result<WarmRoundOutcome>;
  auto started = std::chrono::steady_clock::now();
  WarmRoundOutcome out;
  EsApi api(target_, config_.retry, cancelled_);
  auto targets = api.alias_targets(spec_.alias);
  if (!targets.ok()) return R::failure(targets.message());
  if (targets->size() != 1 || targets->front() != from.index) {
    out.needs_full = "alias " + spec_.alias + " no longer points at the warm index " + from.index;
    return out;
  }

  std::int64_t snapshot_at = wall_ms_now();
  PgSource source(spec_.source_conninfo, source_password_, config_.source_connect_timeout);
  auto measured = source.begin_snapshot_and_measure(spec_.query, spec_.updated_column);
  if (!measured.ok()) return R::failure(measured.message());
  out.source_rows = measured->rows;
  PgSource::Measure since;
  since.newest = from.newest;
  since.type = from.type.empty() ? measured->type : from.type;
  if (since.type != measured->type) {
    out.needs_full = spec_.updated_column + " changed type from " + since.type + " to " + measured->type;
    return out;
  }

  BulkSettings bulk{from.index,        config_.batch_bytes, config_.batch_docs,
                    config_.in_flight, config_.retry,       config_.error_threshold};
  BulkLoader loader(target_, bulk, cancelled_);
  std::uint64_t null_ids = 0;
  auto streamed = source.stream(
      PgSource::rows_updated_since(spec_.query, spec_.updated_column, since, config_.warm_overlap), spec_.id_column,
      [&](std::optional<std::string_view> id, std::string_view row) {
        if (id) return loader.add(*id, row);
        ++null_ids;
        return true;
      },
      cancelled_);
  auto loaded = loader.finish();
  if (!loaded) return R::failure("upserting into " + from.index + ": " + loaded.message());
  if (!streamed.ok()) return R::failure(streamed.message());
  out.rows_read = loader.documents_ok();
  if (null_ids > 0) {
    out.needs_full = std::to_string(null_ids) + " rows have a NULL " + spec_.id_column;
    return out;
  }
  if (auto st = api.refresh(from.index); !st) return R::failure(st.message());
  auto count = api.count(from.index);
  if (!count.ok()) return R::failure(count.message());
  out.documents = *count;
  std::uint64_t tolerated = from.tolerated + loader.item_errors();
  if (out.documents > out.source_rows || out.documents + tolerated < out.source_rows) {
    out.needs_full =
        "the warm index holds " + std::to_string(out.documents) + " documents and the standby " +
        std::to_string(out.source_rows) + " rows at the same snapshot (" +
        (out.documents > out.source_rows ? "rows were deleted"
                                         : "rows an incremental refresh cannot see: a NULL " + spec_.updated_column +
                                               ", or a transaction open longer than warm_overlap") +
        ")";
    return out;
  }
  out.mark = from;
  out.mark.snapshot_at_ms = snapshot_at;
  out.mark.type = measured->type;
  // The newest value only moves forward: an empty snapshot keeps the old one.
  if (measured->newest) out.mark.newest = measured->newest;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

}  // namespace tandem::esrebuild
