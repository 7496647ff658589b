// POST /_bulk and /<index>/_bulk: NDJSON action/document pairs, one result per
// item, and the top-level "errors" flag, as Elasticsearch's Bulk API documents.
// The hot path avoids a JSON parser for the common action line shape so the
// stand-in is never the bottleneck of a rebuild benchmark.
#include <chrono>
#include <thread>

#include "es_store.h"

namespace tandem::esstandin {
namespace {

using json = nlohmann::json;

struct BulkOp {
  std::string_view action;  // index, create, delete (static strings)
  std::string index;        // empty: the URL's index
  std::string id;
  std::string_view doc;
  std::string parse_error;  // non-empty: the item fails with this reason
};

std::string json_string(std::string_view s) {
  for (char c : s)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return json(std::string(s)).dump();
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// `{"index":{"_id":"42"}}` and friends without a JSON parser; nullopt means
// "not the simple shape", and the caller falls back to nlohmann::json.
bool parse_simple_action(std::string_view line, BulkOp& op) {
  static const std::string_view actions[] = {"index", "create", "delete"};
  static const std::string heads[] = {"{\"index\":{\"_id\":\"", "{\"create\":{\"_id\":\"", "{\"delete\":{\"_id\":\""};
  for (int a = 0; a < 3; ++a) {
    const std::string& head = heads[a];
    std::string_view action = actions[a];
    if (line.size() > head.size() + 3 && line.compare(0, head.size(), head) == 0 &&
        line.substr(line.size() - 3) == "\"}}") {
      auto id = line.substr(head.size(), line.size() - head.size() - 3);
      if (id.find('"') != std::string_view::npos || id.find('\\') != std::string_view::npos) return false;
      op.action = action;
      op.id = std::string(id);
      return true;
    }
  }
  return false;
}

bool parse_action(std::string_view line, BulkOp& op, std::string& fatal) {
  if (parse_simple_action(line, op)) return true;
  json doc = json::parse(line, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.size() != 1) {
    fatal =
        "Malformed action/metadata line [" + std::string(line.substr(0, 80)) + "], expected START_OBJECT or END_OBJECT";
    return false;
  }
  const std::string name = doc.begin().key();
  const json& meta = doc.begin().value();
  if (name != "index" && name != "create" && name != "delete") {
    fatal = "Malformed action/metadata line, expected one of [create, delete, index, update] but found [" + name + "]";
    return false;
  }
  op.action = name == "index" ? "index" : name == "create" ? "create" : "delete";
  if (meta.contains("_index")) op.index = meta["_index"].get<std::string>();
  if (meta.contains("_id")) op.id = meta["_id"].is_string() ? meta["_id"].get<std::string>() : meta["_id"].dump();
  return true;
}

struct ConcurrencyGauge {
  ConcurrencyGauge(std::atomic<int>& current, std::atomic<int>& max) : current_(current) {
    int now = ++current_;
    int seen = max.load();
    while (now > seen && !max.compare_exchange_weak(seen, now)) {}
  }
  ~ConcurrencyGauge() { --current_; }
  std::atomic<int>& current_;
};

}  // namespace

bool EsStore::item_fails(const std::string& id) {
  if (faults_.item_error_ids.count(id)) return true;
  if (faults_.item_error_rate <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < faults_.item_error_rate;
}

EsStore::Index* EsStore::resolve_write_index(const std::string& name, Reply& error) {
  if (auto it = indices_.find(name); it != indices_.end()) return it->second.get();
  if (auto it = aliases_.find(name); it != aliases_.end()) {
    if (it->second.size() != 1) {
      error = es_error(400, "illegal_argument_exception", "no write index is defined for alias [" + name + "]");
      return nullptr;
    }
    return indices_.at(*it->second.begin()).get();
  }
  // Elasticsearch creates a missing index on first write (action.auto_create_index).
  auto index = std::make_unique<Index>();
  index->name = name;
  index->settings = {{"number_of_shards", "1"}, {"number_of_replicas", "1"}};
  return (indices_[name] = std::move(index)).get();
}

Reply EsStore::bulk(const std::string& default_index, std::string_view body) {
  ConcurrencyGauge gauge(concurrent_bulk_, max_concurrent_bulk_);
  auto started = std::chrono::steady_clock::now();
  std::uint64_t number = ++bulk_requests_;
  int delay_ms, every_429, every_503;
  {
    std::lock_guard lock(mu_);
    delay_ms = faults_.delay_ms;
    every_429 = faults_.bulk_429_every;
    every_503 = faults_.bulk_503_every;
  }
  if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  if (every_429 > 0 && number % every_429 == 0) {
    ++bulk_rejected_429_;
    return es_error(
        429, "es_rejected_execution_exception",
        "rejected execution of coordinating operation [injected by the stand-in's fault switch bulk_429_every]");
  }
  if (every_503 > 0 && number % every_503 == 0) {
    ++bulk_rejected_5xx_;
    return es_error(503, "unavailable_shards_exception", "primary shard is not active [injected by bulk_503_every]");
  }

  std::vector<BulkOp> ops;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto nl = body.find('\n', pos);
    if (nl == std::string_view::npos) nl = body.size();
    auto line = trim(body.substr(pos, nl - pos));
    pos = nl + 1;
    if (line.empty()) continue;
    BulkOp op;
    std::string fatal;
    if (!parse_action(line, op, fatal)) return es_error(400, "illegal_argument_exception", fatal);
    if (op.index.empty() && default_index.empty())
      return es_error(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;");
    if (op.action != "delete") {
      if (pos >= body.size())
        return es_error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]");
      nl = body.find('\n', pos);
      if (nl == std::string_view::npos)
        return es_error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]");
      op.doc = trim(body.substr(pos, nl - pos));
      pos = nl + 1;
      if (op.doc.size() < 2 || op.doc.front() != '{' || op.doc.back() != '}')
        op.parse_error = "failed to parse: the document is not a JSON object";
    }
    ops.push_back(std::move(op));
  }

  std::string items;
  items.reserve(ops.size() * 160);
  bool errors = false;
  {
    std::lock_guard lock(mu_);
    const std::string* resolved_name = nullptr;  // consecutive items mostly share their index
    Index* index = nullptr;
    std::string quoted_index;
    for (auto& op : ops) {
      const std::string& name = op.index.empty() ? default_index : op.index;
      if (!resolved_name || *resolved_name != name) {
        Reply error;
        index = resolve_write_index(name, error);
        resolved_name = &name;
        quoted_index = json_string(index ? index->name : name);
      }
      if (op.id.empty() && op.action != "delete") op.id = "auto-" + std::to_string(rng_());
      auto head = [&] {
        items += "{\"";
        items += op.action;
        items += "\":{\"_index\":";
        items += quoted_index;
        items += ",\"_id\":";
        items += json_string(op.id);
      };
      auto fail = [&](unsigned status, const std::string& type, const std::string& reason) {
        errors = true;
        ++item_errors_;
        head();
        items += ",\"status\":" + std::to_string(status) + ",\"error\":{\"type\":\"" + type +
                 "\",\"reason\":" + json_string(reason) + "}}},";
      };
      auto ok = [&](const char* result, const char* status) {
        head();
        items += ",\"_version\":1,\"result\":\"";
        items += result;
        items += "\",\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":";
        items += std::to_string(index->seq_no++);
        items += ",\"_primary_term\":1,\"status\":";
        items += status;
        items += "}},";
      };
      if (!index) {
        fail(400, "illegal_argument_exception", "cannot resolve the target index");
      } else if (!op.parse_error.empty()) {
        fail(400, "mapper_parsing_exception", op.parse_error);
      } else if (item_fails(op.id)) {
        fail(400, "mapper_parsing_exception",
             "failed to parse document [" + op.id + "] (injected by the stand-in's item fault switch)");
      } else if (op.action == "delete") {
        bool found = index->writable_docs().erase(op.id) > 0;
        index->dirty = true;
        ok(found ? "deleted" : "not_found", found ? "200" : "404");
      } else if (op.action == "create" && index->docs->count(op.id)) {
        fail(409, "version_conflict_engine_exception",
             "[" + op.id + "]: version conflict, document already exists (current version [1])");
      } else if (options_.discard_documents) {
        ++index->discarded;
        index->dirty = true;
        ok("created", "201");
      } else {
        auto [it, inserted] = index->writable_docs().try_emplace(op.id);
        if (options_.keep_sources) it->second.assign(op.doc);
        index->dirty = true;
        ok(inserted ? "created" : "updated", inserted ? "201" : "200");
      }
    }
  }
  items_ += ops.size();
  if (!items.empty()) items.pop_back();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  return {200, "{\"took\":" + std::to_string(took) + ",\"errors\":" + (errors ? "true" : "false") + ",\"items\":[" +
                   items + "]}"};
}

}  // namespace tandem::esstandin
