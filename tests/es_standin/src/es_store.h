// The in-memory state of the Elasticsearch stand-in: indices with their
// settings, mappings and documents, aliases, and the injected faults.
//
// Every public method is thread-safe and returns a ready HTTP reply whose body
// has the shape Elasticsearch's REST documentation gives for that API.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::esstandin {

struct Reply {
  unsigned status = 200;
  std::string body;  // JSON text (empty for HEAD)
};

// Switches set with POST /_standin/faults (or --faults at start-up).
struct Faults {
  int bulk_429_every = 0;                          // every Nth _bulk request is rejected whole with 429
  int bulk_503_every = 0;                          // every Nth _bulk request fails whole with 503
  std::unordered_set<std::string> item_error_ids;  // these _ids fail with a 400 item error
  double item_error_rate = 0.0;                    // fraction of items failing at random
  int delay_ms = 0;                                // sleep before answering each _bulk
  std::string cluster_status = "green";            // what _cluster/health reports
};

struct StoreOptions {
  bool keep_sources = true;        // false: keep only _ids (lean memory for big loads)
  bool discard_documents = false;  // benchmark mode: count indexed documents, keep nothing
                                   // (no _search hits, no create conflicts; ids assumed unique)
};

class EsStore {
 public:
  explicit EsStore(StoreOptions options);

  Reply create_index(const std::string& name, std::string_view body);
  Reply delete_indices(const std::string& names);
  Reply index_exists(const std::string& name);
  Reply get_settings(const std::string& target);
  Reply put_settings(const std::string& target, std::string_view body);
  Reply refresh(const std::string& target);
  Reply count(const std::string& target);
  // match_all, or (ids non-null) an `ids` query: only the hits with those _ids.
  Reply search(const std::string& target, std::size_t from, std::size_t size, bool with_source,
               const std::vector<std::string>* ids = nullptr);
  Reply bulk(const std::string& default_index, std::string_view body);
  Reply update_aliases(std::string_view body);
  // GET /_alias/<name>, /<target>/_alias, /<target>/_alias/<name>; empty means "all".
  Reply get_aliases(const std::string& target, const std::string& alias_name);
  Reply cluster_health();

  Reply set_faults(std::string_view body);
  Reply stats();

 private:
  using DocMap = std::unordered_map<std::string, std::string>;  // _id -> _source
  using Snapshot = DocMap;
  struct Index {
    std::string name;
    nlohmann::json mappings = nlohmann::json::object();
    std::map<std::string, std::string> settings;  // flat keys without the "index." prefix
    // Realtime documents. A refresh publishes them by sharing the map with
    // `searchable` (no copy); the next write after a refresh copies it first
    // (copy-on-write), so a refresh after a bulk load costs nothing.
    std::shared_ptr<DocMap> docs = std::make_shared<DocMap>();
    std::shared_ptr<const Snapshot> searchable = std::make_shared<Snapshot>();
    std::uint64_t discarded = 0;          // documents counted in discard_documents mode
    std::uint64_t discarded_visible = 0;  // ... as of the last refresh
    bool dirty = false;                   // docs changed since the last refresh
    std::uint64_t seq_no = 0;
    DocMap& writable_docs() {
      if (docs.use_count() > 1) docs = std::make_shared<DocMap>(*docs);
      return *docs;
    }
  };

  // Index names a target (comma list of names, aliases, `*` patterns, _all)
  // resolves to; nullopt plus an error reply when a concrete name is missing.
  std::optional<std::vector<Index*>> resolve(const std::string& target, Reply& error, bool allow_aliases = true);
  Index* resolve_write_index(const std::string& name, Reply& error);
  const Snapshot& visible(Index& index);
  static void refresh_now(Index& index);
  std::set<std::string> aliases_of(const std::string& index) const;
  bool item_fails(const std::string& id);

  StoreOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Index>> indices_;
  std::map<std::string, std::set<std::string>> aliases_;  // alias -> indices
  Faults faults_;
  std::mt19937_64 rng_{42};

  std::atomic<std::uint64_t> bulk_requests_{0};
  std::atomic<std::uint64_t> bulk_rejected_429_{0};
  std::atomic<std::uint64_t> bulk_rejected_5xx_{0};
  std::atomic<std::uint64_t> items_{0};
  std::atomic<std::uint64_t> item_errors_{0};
  std::atomic<int> concurrent_bulk_{0};
  std::atomic<int> max_concurrent_bulk_{0};
};

// The {"error":{...},"status":N} body Elasticsearch answers failures with.
Reply es_error(unsigned status, const std::string& type, const std::string& reason, const std::string& index = {});

}  // namespace tandem::esstandin
