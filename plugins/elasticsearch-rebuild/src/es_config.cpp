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

void check_readable(const sdk::StoreConfig& c, const std::string& key) {
  std::filesystem::path p = c.string(key);
  std::ifstream in(p);
  if (!in) c.fail(key, "cannot read '" + p.string() + "': create it (mode 0600) or fix the path");
}

std::string check_conninfo(const sdk::StoreConfig& c, const std::string& key) {
  std::string conninfo = c.string(key);
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string why = err ? err : "unparsable";
    if (err) PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    c.fail(key, "not a valid libpq connection string (" + why +
                    "); example: \"host=127.0.0.1 port=5432 dbname=app user=app\"");
  }
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> guard(opts, PQconninfoFree);
  for (auto* o = opts; o->keyword; ++o)
    if (std::string(o->keyword) == "password" && o->val && *o->val)
      c.fail(key, "must not contain a password: put it in a file and name it with source_password_file");
  return conninfo;
}

IndexSpec parse_index(const sdk::StoreConfig& c, const std::string& default_source) {
  IndexSpec spec;
  spec.alias = c.string("alias");
  static const std::regex alias_re("^[a-z0-9][a-z0-9_.+]*(-[a-z0-9_.+]+)*$");
  if (!std::regex_match(spec.alias, alias_re) || spec.alias.size() > 200)
    c.fail("alias", "'" + spec.alias +
                        "' is not a usable alias name: lowercase letters, digits, '_', '.', '-' only, not starting "
                        "with '-' or '_'");
  spec.query = c.string("query");
  if (spec.query.find_first_not_of(" \t\r\n") == std::string::npos)
    c.fail("query", "is empty: give the SELECT whose rows become documents");
  if (spec.query.find(';') != std::string::npos)
    c.fail("query", "must be one SELECT without ';' (it is wrapped as a subquery)");
  spec.id_column = c.string("id_column");
  if (spec.id_column.empty() || spec.id_column.find('"') != std::string::npos)
    c.fail("id_column", "must name a column of the query's result (no double quotes)");
  spec.source_conninfo = c.has("source") ? check_conninfo(c, "source") : default_source;
  spec.keep_old = static_cast<int>(c.integer("keep_old"));
  if (spec.keep_old < 0 || spec.keep_old > 100) c.fail("keep_old", "must be between 0 and 100");

  json settings = json::object();
  if (c.has("mapping_file")) {
    std::filesystem::path p = c.string("mapping_file");
    std::ifstream in(p);
    if (!in) c.fail("mapping_file", "cannot read '" + p.string() + "'");
    std::stringstream text;
    text << in.rdbuf();
    json body = json::parse(text.str(), nullptr, false);
    if (body.is_discarded() || !body.is_object())
      c.fail("mapping_file",
             "'" + p.string() + "' is not a JSON object like {\"settings\": {...}, \"mappings\": {...}}");
    for (auto& [k, _] : body.items())
      if (k != "settings" && k != "mappings")
        c.fail("mapping_file",
               "'" + p.string() + "' has key '" + k + "': only \"settings\" and \"mappings\" are allowed");
    if (body.contains("settings")) {
      if (!body["settings"].is_object())
        c.fail("mapping_file", "\"settings\" in '" + p.string() + "' must be an object");
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
      {"alias",
       ValueType::string,
       "",
       true,
       "Alias searches use; each rebuild creates <alias>-e<epoch>-<yyyymmddhhmmss> and swaps the alias to it",
       {}},
      {"query",
       ValueType::string,
       "",
       true,
       "SQL SELECT whose rows become the documents (one row = one document, columns = fields)",
       {}},
      {"id_column",
       ValueType::string,
       "id",
       false,
       "Column of the query giving each document's _id (must be unique)",
       {}},
      {"mapping_file",
       ValueType::path,
       "",
       false,
       "JSON file {\"settings\": {...}, \"mappings\": {...}} used to create each new index",
       {}},
      {"keep_old",
       ValueType::integer,
       "1",
       false,
       "How many previous indices to keep after a successful swap (for rollback); older ones are deleted",
       {}},
      {"source",
       ValueType::string,
       "",
       false,
       "libpq connection string for this index's query; defaults to the store's source",
       {}},
  };
  return {
      {"urls", ValueType::string_array, "", true, "Elasticsearch base URLs (http://host:port), tried in turn", {}},
      {"username", ValueType::string, "", false, "User for HTTP basic auth (with password_file)", {}},
      {"password_file", ValueType::path, "", false, "File holding the basic-auth password", {}},
      {"api_key_file",
       ValueType::path,
       "",
       false,
       "File holding an API key (sent as 'Authorization: ApiKey ...'); instead of username/password_file",
       {}},
      {"source",
       ValueType::string,
       "",
       true,
       "libpq connection string of the PostgreSQL source of truth (no password inline)",
       {}},
      {"source_password_file", ValueType::path, "", false, "File holding the PostgreSQL password for source", {}},
      {"source_connect_timeout", ValueType::duration, "10s", false, "Timeout for connecting to PostgreSQL", {}},
      {"indices", ValueType::table_array, "", true, "The indices to rebuild, one [[stores.NAME.indices]] table each",
       index_keys},
      {"batch_bytes", ValueType::size, "5MiB", false, "Upper bound of one _bulk request body", {}},
      {"batch_docs", ValueType::integer, "5000", false, "Upper bound of documents in one _bulk request", {}},
      {"in_flight",
       ValueType::integer,
       "4",
       false,
       "_bulk requests in flight at once (one keep-alive connection each)",
       {}},
      {"retry_max_attempts",
       ValueType::integer,
       "8",
       false,
       "Attempts per request on 429, 5xx or connection errors (including the first)",
       {}},
      {"retry_initial_backoff", ValueType::duration, "200ms", false, "First retry delay; doubles on each retry", {}},
      {"retry_max_backoff", ValueType::duration, "10s", false, "Largest retry delay", {}},
      {"request_timeout", ValueType::duration, "60s", false, "Timeout of one HTTP request to Elasticsearch", {}},
      {"error_threshold",
       ValueType::integer,
       "0",
       false,
       "Document (item) errors tolerated per rebuild; one more fails it and the alias stays where it was",
       {}},
      {"rebuild_on_start_if_missing",
       ValueType::boolean,
       "true",
       false,
       "On the primary, rebuild at start-up any index whose alias is missing",
       {}},
      {"rebuild_on_promote",
       ValueType::boolean,
       "true",
       false,
       "Rebuild every index in the background when this node is promoted",
       {}},
      {"sync_interval",
       ValueType::duration,
       "30s",
       false,
       "How often health is measured (cluster health, alias, document count vs source rows)",
       {}},
      {"progress_log_interval", ValueType::duration, "5s", false, "How often a running rebuild logs its progress", {}},
  };
}

EsRebuildConfig parse_es_rebuild_config(const sdk::StoreConfig& c) {
  EsRebuildConfig out;
  auto urls = c.strings("urls");
  if (urls.empty()) c.fail("urls", "needs at least one URL, e.g. [\"http://127.0.0.1:9200\"]");
  for (auto& url : urls) {
    // The SDK client's own test: what is accepted here is what it connects to.
    auto e = sdk::net::parse_reachable_url(url, 9200);
    if (!e) c.fail("urls", e.message());
    out.endpoints.push_back(*e);
  }
  if (c.has("username")) out.username = c.string("username");
  if (c.has("password_file")) {
    check_readable(c, "password_file");
    out.password_file = c.string("password_file");
  }
  if (c.has("api_key_file")) {
    check_readable(c, "api_key_file");
    out.api_key_file = c.string("api_key_file");
  }
  if (out.username.has_value() != out.password_file.has_value())
    c.fail(out.username ? "username" : "password_file", "username and password_file go together (basic auth)");
  if (out.username && out.api_key_file)
    c.fail("api_key_file", "use either api_key_file or username/password_file, not both");

  std::string source = check_conninfo(c, "source");
  if (c.has("source_password_file")) {
    check_readable(c, "source_password_file");
    out.source_password_file = c.string("source_password_file");
  }
  out.source_connect_timeout = c.duration("source_connect_timeout");
  if (out.source_connect_timeout < std::chrono::seconds(1)) c.fail("source_connect_timeout", "must be at least 1s");

  auto tables = c.tables("indices");
  if (tables.empty()) c.fail("indices", "declare at least one [[stores.NAME.indices]] table with alias and query");
  for (auto& t : tables) {
    out.indices.push_back(parse_index(t, source));
    for (std::size_t i = 0; i + 1 < out.indices.size(); ++i)
      if (out.indices[i].alias == out.indices.back().alias)
        t.fail("alias", "'" + out.indices.back().alias + "' is declared twice");
  }

  out.batch_bytes = c.size("batch_bytes");
  if (out.batch_bytes < 1024 || out.batch_bytes > (512u << 20))
    c.fail("batch_bytes",
           "must be between 1KiB and 512MiB (Elasticsearch refuses bodies over http.max_content_length, 100mb by "
           "default)");
  auto docs = c.integer("batch_docs");
  if (docs < 1 || docs > 1000000) c.fail("batch_docs", "must be between 1 and 1000000");
  out.batch_docs = static_cast<std::size_t>(docs);
  auto in_flight = c.integer("in_flight");
  if (in_flight < 1 || in_flight > 64) c.fail("in_flight", "must be between 1 and 64");
  out.in_flight = static_cast<int>(in_flight);
  auto attempts = c.integer("retry_max_attempts");
  if (attempts < 1 || attempts > 100) c.fail("retry_max_attempts", "must be between 1 and 100");
  out.retry.max_attempts = static_cast<int>(attempts);
  out.retry.initial_backoff = c.duration("retry_initial_backoff");
  out.retry.max_backoff = c.duration("retry_max_backoff");
  if (out.retry.max_backoff < out.retry.initial_backoff)
    c.fail("retry_max_backoff", "must not be smaller than retry_initial_backoff");
  out.request_timeout = c.duration("request_timeout");
  if (out.request_timeout < std::chrono::seconds(1)) c.fail("request_timeout", "must be at least 1s");
  auto threshold = c.integer("error_threshold");
  if (threshold < 0) c.fail("error_threshold", "cannot be negative");
  out.error_threshold = static_cast<std::uint64_t>(threshold);
  out.rebuild_on_start_if_missing = c.boolean("rebuild_on_start_if_missing");
  out.rebuild_on_promote = c.boolean("rebuild_on_promote");
  out.sync_interval = c.duration("sync_interval");
  if (out.sync_interval < std::chrono::seconds(1)) c.fail("sync_interval", "must be at least 1s");
  out.progress_log_interval = c.duration("progress_log_interval");
  if (out.progress_log_interval < std::chrono::milliseconds(100))
    c.fail("progress_log_interval", "must be at least 100ms");
  return out;
}

}  // namespace tandem::esrebuild
