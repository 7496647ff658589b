// One rebuild of one index: count the source rows, create a fresh index
// "<alias>-e<epoch>-<yyyymmddhhmmss>" tuned for loading, stream the rows in
// through _bulk, restore the settings, refresh, check the document count,
// swap the alias in one _aliases request, drop indices beyond keep_old.
// Until the swap the alias is untouched: searches see the previous complete
// index (or none), never a partial one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "es_config.h"
#include "es_http.h"
#include "tandem/sdk/host_context.h"
#include "tandem/sdk/result.h"
#include "warm_refresh.h"

namespace tandem::esrebuild {

// What `tandemctl rebuild --follow` and health.details.progress show.
struct RebuildProgress {
  std::string alias;
  std::string index;
  std::string phase = "starting";  // starting, counting, creating, loading, finalizing, swapping, cleanup, done, failed
  std::uint64_t done = 0;
  std::uint64_t total = 0;
  bool total_estimated = false;  // the planner's estimate until every row is read
  double rate = 0;               // documents per second since loading began
  double eta_seconds = 0;        // at the current rate
  nlohmann::json to_json() const;
};

struct RebuildOutcome {
  std::string alias;
  std::string index;
  std::uint64_t source_rows = 0;
  std::uint64_t documents = 0;
  std::uint64_t item_errors = 0;
  std::uint64_t retries = 0;
  std::vector<std::string> previous;  // what the alias pointed at before
  std::vector<std::string> deleted;   // old and orphaned indices dropped
  double seconds = 0;
  WarmMark mark;  // where a warm refresh of the new index goes on from
};

// Name part between "<alias>-" and the end, e.g. "e3-20261125180102"; empty when
// `index` is not one of this alias's rebuilt indices.
std::string rebuilt_index_suffix(const std::string& alias, const std::string& index);

class IndexRebuilder {
 public:
  using ProgressFn = std::function<void(const RebuildProgress&)>;

  IndexRebuilder(const EsRebuildConfig& config, const IndexSpec& spec, std::shared_ptr<const EsTarget> target,
                 std::string source_password, sdk::StateStore& state, sdk::Logger& log,
                 const std::atomic<bool>& cancelled, ProgressFn on_progress);

  sdk::Result<RebuildOutcome> run(std::uint64_t epoch);

 private:
  sdk::Status drop_orphans(class EsApi& api, std::vector<std::string>& deleted);
  std::string new_index_name(std::uint64_t epoch, const std::vector<std::string>& existing) const;
  void set_phase(const std::string& phase);
  void publish();

  const EsRebuildConfig& config_;
  const IndexSpec& spec_;
  std::shared_ptr<const EsTarget> target_;
  std::string source_password_;
  sdk::StateStore& state_;
  sdk::Logger& log_;
  const std::atomic<bool>& cancelled_;
  ProgressFn on_progress_;
  RebuildProgress progress_;
  std::chrono::steady_clock::time_point load_started_{};
};

}  // namespace tandem::esrebuild
