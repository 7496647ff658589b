// Shared pieces of the elasticsearch-rebuild tests: the stand-in server as an
// RAII process on a free port, a small JSON HTTP helper, a PostgreSQL table
// of N generated rows, and the plugin configuration pointing at both.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "es_config.h"
#include "es_http.h"
#include "support/background_process.h"
#include "support/postgres_server.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::esrebuild::testing {

using json = nlohmann::json;
namespace sdkt = tandem::sdk::testing;

// The stand-in binary and the runner are passed in by CMake.
inline std::string standin_binary() { return TANDEM_ES_STANDIN_BINARY; }

class Standin {
 public:
  explicit Standin(const std::vector<std::string>& extra_args = {}) : dir_("es-standin") {
    port_ = sdkt::free_port();
    sdk::ChildSpec spec;
    spec.argv = {standin_binary(), "--port", std::to_string(port_)};
    for (auto& a : extra_args) spec.argv.push_back(a);
    spec.log_file = dir_.path() / "standin.log";
    process_ = testsupport::start_background(spec);
    if (!sdkt::wait_for_port("127.0.0.1", port_, std::chrono::seconds(20)))
      throw std::runtime_error("the ES stand-in did not start: " + process_.log_tail());
    auto target = std::make_shared<EsTarget>();
    target->endpoints = {sdk::net::Url{sdk::net::Scheme::http, "127.0.0.1", static_cast<std::uint16_t>(port_), ""}};
    target->timeout = std::chrono::seconds(60);
    target_ = target;
  }
  int port() const { return port_; }
  pid_t pid() const { return process_.pid(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::shared_ptr<const EsTarget> target() const { return target_; }

  // One request on a fresh connection; the body parsed as JSON (null when empty).
  std::pair<unsigned, json> call(Verb method, const std::string& path, const std::string& body = {}) const {
    EsConnection conn(target_);
    auto r = conn.request(method, path, body);
    if (!r.ok()) throw std::runtime_error(r.message());
    return {r->status, r->body.empty() ? json() : json::parse(r->body)};
  }
  json get(const std::string& path) const { return call(Verb::get, path).second; }
  void set_faults(const json& faults) const {
    auto [status, body] = call(Verb::post, "/_standin/faults", faults.dump());
    if (status != 200) throw std::runtime_error("setting faults: " + body.dump());
  }
  // Indices the alias points at.
  std::vector<std::string> alias_targets(const std::string& alias) const {
    auto [status, body] = call(Verb::get, "/_alias/" + alias);
    std::vector<std::string> out;
    if (status == 200)
      for (auto& [index, _] : body.items()) out.push_back(index);
    return out;
  }
  std::vector<std::string> indices(const std::string& pattern) const {
    std::vector<std::string> out;
    json listed = get("/" + pattern + "/_alias");
    for (auto& [index, _] : listed.items()) out.push_back(index);
    return out;
  }
  std::uint64_t count(const std::string& target) const {
    return get("/" + target + "/_count").at("count").get<std::uint64_t>();
  }

 private:
  sdkt::TempDir dir_;
  int port_ = 0;
  sdk::ChildProcess process_;
  std::shared_ptr<const EsTarget> target_;
};

// Table items(id bigint primary key, title text, body text, price int) with ids from..to.
inline void add_items(const testsupport::PostgresServer& pg, std::uint64_t from, std::uint64_t to) {
  pg.psql(
      "CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, title text NOT NULL, body text, price int);"
      "INSERT INTO items SELECT g, 'item \"' || g || '\"', md5(g::text), (g % 1000)::int FROM generate_series(" +
      std::to_string(from) + ", " + std::to_string(to) + ") AS g;");
}

inline std::filesystem::path write_mapping(const std::filesystem::path& dir) {
  auto path = dir / "items-mapping.json";
  std::ofstream(path)
      << R"({"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}},
    "mappings": {"properties": {"id": {"type": "long"}, "title": {"type": "text"}, "body": {"type": "keyword"}, "price": {"type": "integer"}}}})";
  return path;
}

// Store table values (as JSON) for the plugin, fast retries for tests.
inline json store_values(const Standin& es, const testsupport::PostgresServer& pg,
                         const std::filesystem::path& mapping) {
  return json{{"urls", {es.url()}},
              {"source", pg.conninfo()},
              {"indices",
               {{{"alias", "items"},
                 {"query", "SELECT id, title, body, price FROM items"},
                 {"id_column", "id"},
                 {"mapping_file", mapping.string()},
                 {"keep_old", 1}}}},
              {"batch_docs", 1000},
              {"in_flight", 3},
              {"retry_initial_backoff", "20ms"},
              {"retry_max_backoff", "500ms"},
              {"sync_interval", "1s"},
              {"rebuild_on_start_if_missing", false}};
}

}  // namespace tandem::esrebuild::testing
