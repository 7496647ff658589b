#include "es_store.h"

#include <tuple>

#include <algorithm>

namespace tandem::esstandin {
namespace {

using json = nlohmann::json;

Reply json_reply(unsigned status, const json& body) { return {status, body.dump()}; }

const json kShards = {{"total", 1}, {"successful", 1}, {"failed", 0}};

// Settings arrive nested ({"index":{"refresh_interval":"1s"}}), dotted
// ({"index.refresh_interval":"1s"}) or bare ({"refresh_interval":"1s"}):
// flatten to dotted keys without the "index." prefix, values as strings.
void flatten_settings(const json& node, const std::string& prefix,
                      std::map<std::string, std::optional<std::string>>& out) {
  for (auto& [key, value] : node.items()) {
    std::string full = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      flatten_settings(value, full, out);
      continue;
    }
    if (full.rfind("index.", 0) == 0) full = full.substr(6);
    if (value.is_null())
      out[full] = std::nullopt;
    else
      out[full] = value.is_string() ? value.get<std::string>() : value.dump();
  }
}

json nest_settings(const std::map<std::string, std::string>& flat) {
  json index = json::object();
  for (auto& [key, value] : flat) {
    json* node = &index;
    std::size_t start = 0;
    for (std::size_t dot; (dot = key.find('.', start)) != std::string::npos; start = dot + 1)
      node = &(*node)[key.substr(start, dot - start)];
    (*node)[key.substr(start)] = value;
  }
  return index;
}

bool matches_pattern(const std::string& name, const std::string& pattern) {
  auto star = pattern.find('*');
  if (star == std::string::npos) return name == pattern;
  // Only the common `prefix*` / `prefix*suffix` forms are needed.
  std::string prefix = pattern.substr(0, star), suffix = pattern.substr(star + 1);
  if (suffix.find('*') != std::string::npos) suffix = suffix.substr(suffix.rfind('*') + 1);
  return name.size() >= prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool valid_index_name(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '_' || name[0] == '-' || name[0] == '+') return false;
  for (char c : name)
    if ((c >= 'A' && c <= 'Z') || std::string_view("\\/*?\"<>| ,#:").find(c) != std::string_view::npos) return false;
  return true;
}

}  // namespace

Reply es_error(unsigned status, const std::string& type, const std::string& reason, const std::string& index) {
  json cause = {{"type", type}, {"reason", reason}};
  if (!index.empty()) cause["index"] = index;
  json err = cause;
  err["root_cause"] = json::array({cause});
  return json_reply(status, {{"error", err}, {"status", status}});
}

EsStore::EsStore(StoreOptions options) : options_(options) {}

std::optional<std::vector<EsStore::Index*>> EsStore::resolve(const std::string& target, Reply& error,
                                                             bool allow_aliases) {
  std::vector<Index*> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& name) {
    if (seen.insert(name).second) out.push_back(indices_.at(name).get());
  };
  auto parts = target.empty() || target == "_all" ? std::vector<std::string>{"*"} : split_commas(target);
  for (auto& part : parts) {
    if (part.find('*') != std::string::npos) {
      for (auto& [name, _] : indices_)
        if (matches_pattern(name, part)) add(name);
      if (allow_aliases)
        for (auto& [alias, members] : aliases_)
          if (matches_pattern(alias, part))
            for (auto& m : members) add(m);
      continue;
    }
    if (indices_.count(part)) {
      add(part);
    } else if (allow_aliases && aliases_.count(part)) {
      for (auto& m : aliases_[part]) add(m);
    } else {
      error = es_error(404, "index_not_found_exception", "no such index [" + part + "]", part);
      return std::nullopt;
    }
  }
  return out;
}

void EsStore::refresh_now(Index& index) {
  index.searchable = index.docs;
  index.discarded_visible = index.discarded;
  index.dirty = false;
}

// With refresh_interval -1 only an explicit _refresh publishes documents;
// with any other interval they are published at the next read (a stand-in
// for the periodic refresh).
const EsStore::Snapshot& EsStore::visible(Index& index) {
  auto it = index.settings.find("refresh_interval");
  bool manual = it != index.settings.end() && it->second == "-1";
  if (index.dirty && !manual) refresh_now(index);
  return *index.searchable;
}

std::set<std::string> EsStore::aliases_of(const std::string& index) const {
  std::set<std::string> out;
  for (auto& [alias, members] : aliases_)
    if (members.count(index)) out.insert(alias);
  return out;
}

Reply EsStore::create_index(const std::string& name, std::string_view body) {
  if (!valid_index_name(name))
    return es_error(400, "invalid_index_name_exception", "Invalid index name [" + name + "]", name);
  json doc = json::object();
  if (!body.empty()) {
    doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
      return es_error(400, "parse_exception", "request body is not a JSON object");
  }
  std::lock_guard lock(mu_);
  if (indices_.count(name))
    return es_error(400, "resource_already_exists_exception", "index [" + name + "] already exists", name);
  if (aliases_.count(name))
    return es_error(400, "invalid_index_name_exception", "Invalid index name [" + name + "], already exists as alias",
                    name);
  auto index = std::make_unique<Index>();
  index->name = name;
  index->settings = {{"number_of_shards", "1"}, {"number_of_replicas", "1"}};
  if (doc.contains("settings")) {
    std::map<std::string, std::optional<std::string>> flat;
    flatten_settings(doc["settings"], "", flat);
    for (auto& [k, v] : flat)
      if (v) index->settings[k] = *v;
  }
  if (doc.contains("mappings")) index->mappings = doc["mappings"];
  if (doc.contains("aliases"))
    for (auto& [alias, _] : doc["aliases"].items()) aliases_[alias].insert(name);
  indices_[name] = std::move(index);
  return json_reply(200, {{"acknowledged", true}, {"shards_acknowledged", true}, {"index", name}});
}

Reply EsStore::delete_indices(const std::string& names) {
  std::lock_guard lock(mu_);
  std::vector<std::string> doomed;
  for (auto& name : split_commas(names)) {
    if (name.find('*') != std::string::npos)
      return es_error(400, "illegal_argument_exception", "Wildcard expressions or all indices are not allowed");
    if (aliases_.count(name) && !indices_.count(name))
      return es_error(400, "illegal_argument_exception",
                      "The provided expression [" + name +
                          "] matches an alias, specify the corresponding concrete indices instead.");
    if (!indices_.count(name)) return es_error(404, "index_not_found_exception", "no such index [" + name + "]", name);
    doomed.push_back(name);
  }
  for (auto& name : doomed) {
    indices_.erase(name);
    for (auto it = aliases_.begin(); it != aliases_.end();) {
      it->second.erase(name);
      it = it->second.empty() ? aliases_.erase(it) : std::next(it);
    }
  }
  return json_reply(200, {{"acknowledged", true}});
}

Reply EsStore::index_exists(const std::string& name) {
  std::lock_guard lock(mu_);
  return {indices_.count(name) || aliases_.count(name) ? 200u : 404u, ""};
}

Reply EsStore::get_settings(const std::string& target) {
  std::lock_guard lock(mu_);
  Reply error;
  auto found = resolve(target, error);
  if (!found) return error;
  json out = json::object();
  for (Index* index : *found) {
    auto flat = index->settings;
    flat["provided_name"] = index->name;
    out[index->name] = {{"settings", {{"index", nest_settings(flat)}}}};
  }
  return json_reply(200, out);
}

Reply EsStore::put_settings(const std::string& target, std::string_view body) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return es_error(400, "parse_exception", "request body is not a JSON object");
  std::map<std::string, std::optional<std::string>> flat;
  flatten_settings(doc, "", flat);
  std::lock_guard lock(mu_);
  Reply error;
  auto found = resolve(target, error);
  if (!found) return error;
  for (Index* index : *found) {
    if (flat.count("number_of_shards"))
      return es_error(400, "illegal_argument_exception",
                      "Can't update non dynamic settings [[index.number_of_shards]]");
    for (auto& [k, v] : flat) {
      if (v)
        index->settings[k] = *v;
      else
        index->settings.erase(k);
    }
  }
  return json_reply(200, {{"acknowledged", true}});
}

Reply EsStore::refresh(const std::string& target) {
  std::lock_guard lock(mu_);
  Reply error;
  auto found = resolve(target, error);
  if (!found) return error;
  for (Index* index : *found) refresh_now(*index);
  json shards = {{"total", found->size()}, {"successful", found->size()}, {"failed", 0}};
  return json_reply(200, {{"_shards", shards}});
}

Reply EsStore::count(const std::string& target) {
  std::lock_guard lock(mu_);
  Reply error;
  auto found = resolve(target, error);
  if (!found) return error;
  std::size_t n = 0;
  for (Index* index : *found) n += visible(*index).size() + index->discarded_visible;
  json shards = {{"total", found->size()}, {"successful", found->size()}, {"skipped", 0}, {"failed", 0}};
  return json_reply(200, {{"count", n}, {"_shards", shards}});
}

Reply EsStore::search(const std::string& target, std::size_t from, std::size_t size, bool with_source,
                      const std::vector<std::string>* ids) {
  std::vector<std::pair<std::string, std::shared_ptr<const Snapshot>>> snaps;
  {
    std::lock_guard lock(mu_);
    Reply error;
    auto found = resolve(target, error);
    if (!found) return error;
    for (Index* index : *found) {
      visible(*index);
      snaps.emplace_back(index->name, index->searchable);
    }
  }
  // Hits are built outside the lock from immutable snapshots.
  std::vector<std::tuple<const std::string*, const std::string*, const std::string*>> matched;  // index, id, source
  for (auto& [name, snap] : snaps) {
    if (!ids) {
      for (auto& [id, source] : *snap) matched.emplace_back(&name, &id, &source);
      continue;
    }
    for (auto& id : *ids)
      if (auto it = snap->find(id); it != snap->end()) matched.emplace_back(&name, &it->first, &it->second);
  }
  json hits = json::array();
  for (std::size_t i = from; i < matched.size() && hits.size() < size; ++i) {
    auto [name, id, source] = matched[i];
    json hit = {{"_index", *name}, {"_id", *id}, {"_score", 1.0}};
    if (with_source) {
      json parsed = json::parse(*source, nullptr, false);
      hit["_source"] = parsed.is_discarded() ? json::object() : parsed;
    }
    hits.push_back(std::move(hit));
  }
  const std::size_t total = matched.size();
  json body = {
      {"took", 1},
      {"timed_out", false},
      {"_shards", {{"total", snaps.size()}, {"successful", snaps.size()}, {"skipped", 0}, {"failed", 0}}},
      {"hits",
       {{"total", {{"value", total}, {"relation", "eq"}}}, {"max_score", total ? json(1.0) : json()}, {"hits", hits}}}};
  return json_reply(200, body);
}

Reply EsStore::update_aliases(std::string_view body) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("actions") || !doc["actions"].is_array())
    return es_error(400, "action_request_validation_exception", "Validation Failed: 1: no actions specified;");
  auto names = [](const json& spec, const char* one, const char* many) {
    std::vector<std::string> out;
    if (spec.contains(one) && spec[one].is_string()) out.push_back(spec[one].get<std::string>());
    if (spec.contains(many) && spec[many].is_array())
      for (auto& v : spec[many])
        if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
  };
  std::lock_guard lock(mu_);
  // Validate everything against a copy, then publish the copy: all or nothing.
  auto aliases = aliases_;
  std::vector<std::string> removed_indices;
  for (auto& action : doc["actions"]) {
    if (!action.is_object() || action.size() != 1)
      return es_error(400, "illegal_argument_exception",
                      "each action must be an object with one key: add, remove or remove_index");
    const std::string type = action.begin().key();
    const json& spec = action.begin().value();
    auto indices = names(spec, "index", "indices");
    if (indices.empty())
      return es_error(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;");
    for (auto& i : indices)
      if (!indices_.count(i) || std::count(removed_indices.begin(), removed_indices.end(), i))
        return es_error(404, "index_not_found_exception", "no such index [" + i + "]", i);
    if (type == "remove_index") {
      for (auto& i : indices) removed_indices.push_back(i);
      continue;
    }
    auto alias_names = names(spec, "alias", "aliases");
    if (alias_names.empty())
      return es_error(400, "action_request_validation_exception", "Validation Failed: 1: alias is missing;");
    for (auto& a : alias_names) {
      if (type == "add") {
        if (indices_.count(a))
          return es_error(
              400, "invalid_alias_name_exception",
              "Invalid alias name [" + a + "]: an index or data stream exists with the same name as the alias", a);
        for (auto& i : indices) aliases[a].insert(i);
      } else if (type == "remove") {
        for (auto& i : indices) {
          if (!aliases.count(a) || !aliases[a].erase(i))
            return es_error(404, "aliases_not_found_exception", "aliases [" + a + "] missing", i);
          if (aliases[a].empty()) aliases.erase(a);
        }
      } else {
        return es_error(400, "illegal_argument_exception", "unknown alias action [" + type + "]");
      }
    }
  }
  for (auto& i : removed_indices) {
    indices_.erase(i);
    for (auto it = aliases.begin(); it != aliases.end();) {
      it->second.erase(i);
      it = it->second.empty() ? aliases.erase(it) : std::next(it);
    }
  }
  aliases_ = std::move(aliases);
  return json_reply(200, {{"acknowledged", true}, {"errors", false}});
}

Reply EsStore::get_aliases(const std::string& target, const std::string& alias_name) {
  std::lock_guard lock(mu_);
  std::vector<Index*> candidates;
  if (target.empty()) {
    for (auto& [_, index] : indices_) candidates.push_back(index.get());
  } else {
    Reply error;
    auto found = resolve(target, error);
    if (!found) return error;
    candidates = *found;
  }
  json out = json::object();
  for (Index* index : candidates) {
    json aliases = json::object();
    for (auto& a : aliases_of(index->name))
      if (alias_name.empty() || matches_pattern(a, alias_name)) aliases[a] = json::object();
    if (!alias_name.empty() && aliases.empty()) continue;
    out[index->name] = {{"aliases", aliases}};
  }
  if (!alias_name.empty() && out.empty() && alias_name.find('*') == std::string::npos)
    return json_reply(404, {{"error", "alias [" + alias_name + "] missing"}, {"status", 404}});
  return json_reply(200, out);
}

Reply EsStore::cluster_health() {
  std::lock_guard lock(mu_);
  auto n = indices_.size();
  return json_reply(200, {{"cluster_name", "tandem-es-standin"},
                          {"status", faults_.cluster_status},
                          {"timed_out", false},
                          {"number_of_nodes", 1},
                          {"number_of_data_nodes", 1},
                          {"active_primary_shards", n},
                          {"active_shards", n},
                          {"relocating_shards", 0},
                          {"initializing_shards", 0},
                          {"unassigned_shards", 0},
                          {"delayed_unassigned_shards", 0},
                          {"number_of_pending_tasks", 0},
                          {"number_of_in_flight_fetch", 0},
                          {"task_max_waiting_in_queue_millis", 0},
                          {"active_shards_percent_as_number", 100.0}});
}

Reply EsStore::set_faults(std::string_view body) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return es_error(400, "parse_exception", "faults body must be a JSON object");
  Faults f;
  try {
    f.bulk_429_every = doc.value("bulk_429_every", 0);
    f.bulk_503_every = doc.value("bulk_503_every", 0);
    f.item_error_rate = doc.value("item_error_rate", 0.0);
    f.delay_ms = doc.value("delay_ms", 0);
    f.cluster_status = doc.value("cluster_status", std::string("green"));
    if (doc.contains("item_error_ids"))
      for (auto& id : doc["item_error_ids"])
        f.item_error_ids.insert(id.is_string() ? id.get<std::string>() : id.dump());
  } catch (const std::exception& e) {
    return es_error(400, "illegal_argument_exception", std::string("bad faults body: ") + e.what());
  }
  std::lock_guard lock(mu_);
  faults_ = std::move(f);
  return json_reply(200, {{"acknowledged", true}});
}

Reply EsStore::stats() {
  json indices = json::object();
  {
    std::lock_guard lock(mu_);
    for (auto& [name, index] : indices_)
      indices[name] = {{"docs", index->docs->size() + index->discarded}, {"searchable", index->searchable->size()}};
  }
  return json_reply(200, {{"bulk_requests", bulk_requests_.load()},
                          {"bulk_rejected_429", bulk_rejected_429_.load()},
                          {"bulk_rejected_5xx", bulk_rejected_5xx_.load()},
                          {"items", items_.load()},
                          {"item_errors", item_errors_.load()},
                          {"max_concurrent_bulk", max_concurrent_bulk_.load()},
                          {"bulk_in_flight", concurrent_bulk_.load()},
                          {"indices", indices}});
}

}  // namespace tandem::esstandin
