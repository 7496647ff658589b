#include "es_config.h"

#include "tandem/sdk/net/http_client.h"

#include <libpq-fe.h>

#include <fstream>
#include <memory>
#include <regex>
#include <sstream>

namespace tandem::esrebuild {
namespace {

using sdk::ConfigKey;
using sdk::ValueType;
using json = nlohmann::json;

// The value of an index setting in whichever form the mapping file wrote it
// (nested "index": {...}, dotted "index.x" or bare "x"), after removing it so
// the rebuild can set its own load-time value.
std::optional<std::string> take_setting(json& settings, const std::string& key) {
  std::optional<std::string> found;
  auto take = [&](json& obj, const std::string& k) {
    if (!obj.is_object() || !obj.contains(k)) return;
    found = obj[k].is_string() ? obj[k].get<std::string>() : obj[k].dump();
    obj.erase(k);
  };
  take(settings, key);
  take(settings, "index." + key);
  if (settings.contains("index")) take(settings["index"], key);
  return found;
}

sdk::Result<std::string> check_conninfo(const sdk::StoreConfig& c, const std::string& key) {
  std::string conninfo = c.string(key);
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string why = err ? err : "unparsable";
    if (err) PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return c.error(key, "not a valid libpq connection string (" + why +
                            "); example: \"host=127.0.0.1 port=5432 dbname=app user=app\"");
  }
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> guard(opts, PQconninfoFree);
  for (auto* o = opts; o->keyword; ++o)
    if (std::string(o->keyword) == "password" && o->val && *o->val)
      return c.error(key, "must not contain a password: put it in a file and name it with source_password_file");
  return conninfo;
}

sdk::Result<IndexSpec> parse_index(const sdk::StoreConfig& c, const std::string& default_source) {
  IndexSpec spec;
  spec.alias = c.string("alias");
  static const std::regex alias_re("^[a-z0-9][a-z0-9_.+]*(-[a-z0-9_.+]+)*$");
  if (!std::regex_match(spec.alias, alias_re) || spec.alias.size() > 200)
    return c.error("alias",
                   "'" + spec.alias +
                       "' is not a usable alias name: lowercase letters, digits, '_', '.', '-' only, not starting "
                       "with '-' or '_'");
  spec.query = c.string("query");
  if (spec.query.find_first_not_of(" \t\r\n") == std::string::npos)
    return c.error("query", "is empty: give the SELECT whose rows become documents");
  if (spec.query.find(';') != std::string::npos)
    return c.error("query", "must be one SELECT without ';' (it is wrapped as a subquery)");
  spec.id_column = c.string("id_column");
  if (spec.id_column.empty() || spec.id_column.find('"') != std::string::npos)
    return c.error("id_column", "must name a column of the query's result (no double quotes)");
  if (c.has("updated_column")) {
    spec.updated_column = c.string("updated_column");
    if (spec.updated_column.empty() || spec.updated_column.find('"') != std::string::npos)
      return c.error("updated_column", "must name a timestamp column of the query's result (no double quotes)");
  }
  spec.source_conninfo = default_source;
  if (c.has("source")) TANDEM_TRY_ASSIGN(spec.source_conninfo, check_conninfo(c, "source"));
  spec.keep_old = static_cast<int>(c.integer("keep_old"));

  json settings = json::object();
  if (c.has("mapping_file")) {
    std::filesystem::path p = c.string("mapping_file");
    std::ifstream in(p);
    if (!in) return c.error("mapping_file", "cannot read '" + p.string() + "'");
    std::stringstream text;
    text << in.rdbuf();
    json body = json::parse(text.str(), nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return c.error("mapping_file",
                     "'" + p.string() + "' is not a JSON object like {\"settings\": {...}, \"mappings\": {...}}");
    for (auto& [k, _] : body.items())
      if (k != "settings" && k != "mappings")
        return c.error("mapping_file",
                       "'" + p.string() + "' has key '" + k + "': only \"settings\" and \"mappings\" are allowed");
    if (body.contains("settings")) {
      if (!body["settings"].is_object())
        return c.error("mapping_file", "\"settings\" in '" + p.string() + "' must be an object");
      settings = body["settings"];
    }
    if (body.contains("mappings")) spec.create_body["mappings"] = body["mappings"];
  }
  if (auto v = take_setting(settings, "refresh_interval")) spec.final_refresh_interval = *v;
  if (auto v = take_setting(settings, "number_of_replicas")) spec.final_replicas = *v;
  // Load fast: no periodic refresh, no replicas; restored before the swap.
  settings["index.refresh_interval"] = "-1";
  settings["index.number_of_replicas"] = 0;
  spec.create_body["settings"] = settings;
  return spec;
}

}  // namespace

sdk::ConfigSchema es_rebuild_schema() {
  std::vector<ConfigKey> index_keys = {
      {.name = "alias",
       .type = ValueType::string,
       .required = true,
       .description =
           "Alias searches use; each rebuild creates <alias>-e<epoch>-<yyyymmddhhmmss> and swaps the alias to it"},
      {.name = "query",
       .type = ValueType::string,
       .required = true,
       .description = "SQL SELECT whose rows become the documents (one row = one document, columns = fields)"},
      {.name = "id_column",
       .type = ValueType::string,
       .default_value = "id",
       .description = "Column of the query giving each document's _id (must be unique)"},
      {.name = "mapping_file",
       .type = ValueType::path,
       .description = "JSON file {\"settings\": {...}, \"mappings\": {...}} used to create each new index"},
      {.name = "keep_old",
       .type = ValueType::integer,
       .default_value = "1",
       .description =
           "How many previous indices to keep after a successful swap (for rollback); older ones are deleted",
       .min = "0",
       .max = "100"},
      {.name = "source",
       .type = ValueType::string,
       .description = "libpq connection string for this index's query; defaults to the store's source"},
      {.name = "updated_column",
       .type = ValueType::string,
       .description = "Timestamp column of the query set on every insert and update; with warm_standby the "
                      "secondary refreshes the index incrementally by it (without it: a full rebuild every "
                      "warm_full_interval)"},
  };
  return {
      {.name = "urls",
       .type = ValueType::string_array,
       .required = true,
       .description = "Elasticsearch base URLs (http://host:port), tried in turn"},
      {.name = "username", .type = ValueType::string, .description = "User for HTTP basic auth (with password_file)"},
      {.name = "password_file",
       .type = ValueType::path,
       .description = "File holding the basic-auth password",
       .secret = true},
      {.name = "api_key_file",
       .type = ValueType::path,
       .description =
           "File holding an API key (sent as 'Authorization: ApiKey ...'); instead of username/password_file",
       .secret = true},
      {.name = "source",
       .type = ValueType::string,
       .required = true,
       .description = "libpq connection string of the PostgreSQL source of truth (no password inline)"},
      {.name = "source_password_file",
       .type = ValueType::path,
       .description = "File holding the PostgreSQL password for source",
       .secret = true},
      {.name = "source_connect_timeout",
       .type = ValueType::duration,
       .default_value = "10s",
       .description = "Timeout for connecting to PostgreSQL",
       .min = "1s",
       .max = "1h"},
      {.name = "indices",
       .type = ValueType::table_array,
       .required = true,
       .description = "The indices to rebuild, one [[stores.NAME.indices]] table each",
       .children = index_keys},
      {.name = "batch_bytes",
       .type = ValueType::size,
       .default_value = "5MiB",
       .description = "Upper bound of one _bulk request body",
       .min = "1KiB",
       .max = "512MiB"},
      {.name = "batch_docs",
       .type = ValueType::integer,
       .default_value = "5000",
       .description = "Upper bound of documents in one _bulk request",
       .min = "1",
       .max = "1000000"},
      {.name = "in_flight",
       .type = ValueType::integer,
       .default_value = "4",
       .description = "_bulk requests in flight at once (one keep-alive connection each)",
       .min = "1",
       .max = "64"},
      {.name = "retry_max_attempts",
       .type = ValueType::integer,
       .default_value = "8",
       .description = "Attempts per request on 429, 5xx or connection errors (including the first)",
       .min = "1",
       .max = "100"},
      {.name = "retry_initial_backoff",
       .type = ValueType::duration,
       .default_value = "200ms",
       .description = "First retry delay; doubles on each retry",
       .min = "1ms",
       .max = "1h"},
      {.name = "retry_max_backoff",
       .type = ValueType::duration,
       .default_value = "10s",
       .description = "Largest retry delay",
       .min = "1ms",
       .max = "1h"},
      {.name = "request_timeout",
       .type = ValueType::duration,
       .default_value = "60s",
       .description = "Timeout of one HTTP request to Elasticsearch",
       .min = "1s",
       .max = "1d"},
      {.name = "error_threshold",
       .type = ValueType::integer,
       .default_value = "0",
       .description =
           "Document (item) errors tolerated per rebuild; one more fails it and the alias stays where it was",
       .min = "0"},
      {.name = "rebuild_on_start_if_missing",
       .type = ValueType::boolean,
       .default_value = "true",
       .description = "On the primary, rebuild at start-up any index whose alias is missing"},
      {.name = "rebuild_on_promote",
       .type = ValueType::boolean,
       .default_value = "true",
       .description = "Rebuild every index in the background when this node is promoted"},
      {.name = "warm_standby",
       .type = ValueType::boolean,
       .default_value = "false",
       .description = "On the secondary, keep every index current from the local standby in this node's own "
                      "Elasticsearch (urls must not be the primary's cluster); promote then only catches up"},
      {.name = "warm_interval",
       .type = ValueType::duration,
       .default_value = "10s",
       .description = "How often the secondary refreshes a warm index by updated_column",
       .min = "1s",
       .max = "1d"},
      {.name = "warm_overlap",
       .type = ValueType::duration,
       .default_value = "1m",
       .description = "How far before the last refresh's newest updated_column value the next one re-reads "
                      "(covers transactions committed after a newer one began); longer ones wait for the full rebuild",
       .min = "0s",
       .max = "1d"},
      {.name = "warm_full_interval",
       .type = ValueType::duration,
       .default_value = "24h",
       .description = "How often the secondary rebuilds a warm index from scratch (the only refresh of an index "
                      "without updated_column)",
       .min = "1m",
       .max = "365d"},
      {.name = "progress_log_interval",
       .type = ValueType::duration,
       .default_value = "5s",
       .description = "How often a running rebuild logs its progress",
       .min = "100ms",
       .max = "1d"},
  };
}

sdk::Result<EsRebuildConfig> parse_es_rebuild_config(const sdk::StoreConfig& c) {
  EsRebuildConfig out;
  auto urls = c.strings("urls");
  if (urls.empty()) return c.error("urls", "needs at least one URL, e.g. [\"http://127.0.0.1:9200\"]");
  for (auto& url : urls) {
    // The SDK client's own test: what is accepted here is what it connects to.
    auto e = sdk::net::parse_reachable_url(url, 9200);
    if (!e) return c.error("urls", e.message());
    out.endpoints.push_back(*e);
  }
  if (c.has("username")) out.username = c.string("username");
  if (c.has("password_file")) out.password_file = c.path("password_file");  // a secret key: the schema checked the file
  if (c.has("api_key_file")) out.api_key_file = c.path("api_key_file");     // a secret key: the schema checked the file
  if (out.username.has_value() != out.password_file.has_value())
    return c.error(out.username ? "username" : "password_file", "username and password_file go together (basic auth)");
  if (out.username && out.api_key_file)
    return c.error("api_key_file", "use either api_key_file or username/password_file, not both");

  auto source = check_conninfo(c, "source");
  TANDEM_TRY(source);
  if (c.has("source_password_file"))
    out.source_password_file = c.path("source_password_file");  // a secret key: the schema checked the file
  out.source_connect_timeout = c.duration("source_connect_timeout");

  auto tables = c.tables("indices");
  if (tables.empty())
    return c.error("indices", "declare at least one [[stores.NAME.indices]] table with alias and query");
  for (auto& t : tables) {
    auto index = parse_index(t, *source);
    TANDEM_TRY(index);
    out.indices.push_back(std::move(*index));
    for (std::size_t i = 0; i + 1 < out.indices.size(); ++i)
      if (out.indices[i].alias == out.indices.back().alias)
        return t.error("alias", "'" + out.indices.back().alias + "' is declared twice");
  }

  // Ranges are checked by the schema (min/max) before this runs.
  out.batch_bytes = c.size("batch_bytes");
  out.batch_docs = static_cast<std::size_t>(c.integer("batch_docs"));
  out.in_flight = static_cast<int>(c.integer("in_flight"));
  out.retry.max_attempts = static_cast<int>(c.integer("retry_max_attempts"));
  out.retry.initial_backoff = c.duration("retry_initial_backoff");
  out.retry.max_backoff = c.duration("retry_max_backoff");
  if (out.retry.max_backoff < out.retry.initial_backoff)
    return c.error("retry_max_backoff", "must not be smaller than retry_initial_backoff");
  out.request_timeout = c.duration("request_timeout");
  out.error_threshold = static_cast<std::uint64_t>(c.integer("error_threshold"));
  out.rebuild_on_start_if_missing = c.boolean("rebuild_on_start_if_missing");
  out.rebuild_on_promote = c.boolean("rebuild_on_promote");
  out.progress_log_interval = c.duration("progress_log_interval");
  out.warm_standby = c.boolean("warm_standby");
  out.warm_interval = c.duration("warm_interval");
  out.warm_overlap = c.duration("warm_overlap");
  out.warm_full_interval = c.duration("warm_full_interval");
  return out;
}

}  // namespace tandem::esrebuild
