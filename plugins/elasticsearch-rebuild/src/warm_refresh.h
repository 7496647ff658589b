// The warm index on a secondary: the secondary keeps each index current from
// its own hot-standby PostgreSQL into its own Elasticsearch, so that a
// promotion only has to catch up (see README "Warm index on the secondary").
//
// A round reads, in one REPEATABLE READ snapshot of the standby, the row count
// and every row whose updated_column is at least the previous round's newest
// value minus warm_overlap, upserts them by id, refreshes, and compares the
// index's document count with the snapshot's row count. Every insert and
// update is read (its updated_column is newer than the mark, or within the
// overlap), so the index holds every id of the snapshot; the counts are then
// equal exactly when no deleted row is left behind. Any difference asks for a
// full rebuild instead of a guess.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "es_config.h"
#include "es_http.h"
#include "tandem/sdk/host_context.h"
#include "tandem/sdk/result.h"

namespace tandem::esrebuild {

// How far a warm index is: kept in the store state ("warm.<alias>") so a
// restarted secondary goes on from it. Only a node that stayed secondary has
// one: promote, demote and rejoin erase it (the index then belongs to the
// primary's application, which may write what the standby never had).
struct WarmMark {
  std::string index;                  // the alias's target the mark describes
  std::optional<std::string> newest;  // max(updated_column) at the snapshot, as PostgreSQL prints it
  std::string type;                   // that column's type ("timestamp with time zone", ...)
  std::int64_t snapshot_at_ms = 0;    // wall clock when the snapshot began: the index shows the standby as of then
  std::int64_t full_at_ms = 0;        // when the snapshot of its last full rebuild began
  std::uint64_t tolerated = 0;        // item errors that full rebuild tolerated (error_threshold)

  nlohmann::json to_json() const;
  static std::optional<WarmMark> from_json(const nlohmann::json& j);
};

std::optional<WarmMark> load_warm_mark(sdk::StateStore& state, const std::string& alias);
void save_warm_mark(sdk::StateStore& state, const std::string& alias, const WarmMark& mark);
void erase_warm_mark(sdk::StateStore& state, const std::string& alias);
std::int64_t wall_ms_now();

struct WarmRoundOutcome {
  std::uint64_t rows_read = 0;    // rows the round upserted
  std::uint64_t source_rows = 0;  // rows of the snapshot
  std::uint64_t documents = 0;    // documents of the index after the round
  double seconds = 0;
  WarmMark mark;           // the index's new mark (valid when needs_full is empty)
  std::string needs_full;  // why only a full rebuild can make the index right; empty when it is
};

class WarmRefresher {
 public:
  WarmRefresher(const EsRebuildConfig& config, const IndexSpec& spec, std::shared_ptr<const EsTarget> target,
                std::string source_password, const std::atomic<bool>& cancelled);
  // One round into from.index, from `from`'s newest value minus warm_overlap.
  // A failure (PostgreSQL, Elasticsearch, cancelled) changes no mark: the next
  // round reads the same rows again (upserts by id are idempotent).
  sdk::Result<WarmRoundOutcome> run(const WarmMark& from);

 private:
  const EsRebuildConfig& config_;
  const IndexSpec& spec_;
  std::shared_ptr<const EsTarget> target_;
  std::string source_password_;
  const std::atomic<bool>& cancelled_;
};

}  // namespace tandem::esrebuild
