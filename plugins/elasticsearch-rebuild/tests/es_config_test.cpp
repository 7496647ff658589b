// configure(): good inputs are accepted with their defaults; bad inputs fail
// with an error naming the key and saying what to do.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "es_config.h"
#include "es_rebuild_plugin.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::esrebuild {
namespace {

using json = nlohmann::json;

class EsRebuildConfigCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    mapping_ = dir_.path() / "mapping.json";
    std::ofstream(mapping_)
        << R"({"settings":{"index":{"refresh_interval":"30s","number_of_replicas":2,"number_of_shards":3}},"mappings":{"properties":{"t":{"type":"text"}}}})";
    secret_ = dir_.path() / "secret";
    std::ofstream(secret_) << "s3cret\n";
    std::filesystem::permissions(secret_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  json good() const {
    return {{"urls", {"http://127.0.0.1:9200", "http://10.0.0.2:9201/es/"}},
            {"source", "host=127.0.0.1 port=5432 dbname=app user=app"},
            {"indices",
             {{{"alias", "items"}, {"query", "SELECT id, title FROM items"}, {"mapping_file", mapping_.string()}}}}};
  }
  sdk::Result<EsRebuildConfig> parse_result(const json& values) const {
    return parse_es_rebuild_config(sdk::StoreConfig::from_json("search", sdk::store_schema(EsRebuildPlugin()), values));
  }
  EsRebuildConfig parse(const json& values) const { return parse_result(values).value(); }
  // The error text the schema check or configure gives for these values ("" when accepted).
  std::string error_of(const json& values) const {
    try {
      auto r = parse_result(values);
      if (r.ok()) return "";
      EXPECT_EQ(r.code(), sdk::ErrorCode::invalid_config) << r.message();
      return r.message();
    } catch (const sdk::ConfigError& e) {
      return e.what();
    }
  }

  sdk::testing::TempDir dir_{"es-config"};
  std::filesystem::path mapping_, secret_;
};

TEST_F(EsRebuildConfigCheck, GoodConfigGetsDefaultsAndLoadSettings) {
  auto c = parse(good());
  ASSERT_EQ(c.endpoints.size(), 2u);
  EXPECT_EQ(c.endpoints[0].host, "127.0.0.1");
  EXPECT_EQ(c.endpoints[0].port, 9200);
  EXPECT_EQ(c.endpoints[1].port, 9201);
  EXPECT_EQ(c.endpoints[1].path, "/es");
  EXPECT_EQ(c.batch_bytes, 5u << 20);
  EXPECT_EQ(c.batch_docs, 5000u);
  EXPECT_EQ(c.in_flight, 4);
  EXPECT_EQ(c.error_threshold, 0u);
  EXPECT_TRUE(c.rebuild_on_promote);
  EXPECT_TRUE(c.rebuild_on_start_if_missing);
  ASSERT_EQ(c.indices.size(), 1u);
  auto& spec = c.indices[0];
  EXPECT_EQ(spec.id_column, "id");
  EXPECT_EQ(spec.keep_old, 1);
  EXPECT_EQ(spec.source_conninfo, "host=127.0.0.1 port=5432 dbname=app user=app");
  // The mapping's own values are restored after the load; the load runs without them.
  EXPECT_EQ(spec.final_refresh_interval, "30s");
  EXPECT_EQ(spec.final_replicas, "2");
  auto& settings = spec.create_body["settings"];
  EXPECT_EQ(settings["index.refresh_interval"], "-1");
  EXPECT_EQ(settings["index.number_of_replicas"], 0);
  EXPECT_FALSE(settings["index"].contains("refresh_interval"));
  EXPECT_EQ(settings["index"]["number_of_shards"], 3);
  EXPECT_EQ(spec.create_body["mappings"]["properties"]["t"]["type"], "text");
}

TEST_F(EsRebuildConfigCheck, ExplicitValuesAreRead) {
  auto v = good();
  v["batch_bytes"] = "1MiB";
  v["batch_docs"] = 100;
  v["in_flight"] = 8;
  v["error_threshold"] = 3;
  v["retry_max_attempts"] = 3;
  v["username"] = "elastic";
  v["password_file"] = secret_.string();
  v["indices"][0]["keep_old"] = 0;
  v["indices"][0]["id_column"] = "item_id";
  v["indices"][0]["source"] = "host=/tmp dbname=other";
  auto c = parse(v);
  EXPECT_EQ(c.batch_bytes, 1u << 20);
  EXPECT_EQ(c.batch_docs, 100u);
  EXPECT_EQ(c.in_flight, 8);
  EXPECT_EQ(c.error_threshold, 3u);
  EXPECT_EQ(c.retry.max_attempts, 3);
  EXPECT_EQ(c.indices[0].keep_old, 0);
  EXPECT_EQ(c.indices[0].id_column, "item_id");
  EXPECT_EQ(c.indices[0].source_conninfo, "host=/tmp dbname=other");
  EXPECT_EQ(authorization_header(c), "Basic ZWxhc3RpYzpzM2NyZXQ=");  // base64("elastic:s3cret")
}

TEST_F(EsRebuildConfigCheck, ApiKeyHeaderComesFromTheFile) {
  auto v = good();
  v["api_key_file"] = secret_.string();
  EXPECT_EQ(authorization_header(parse(v)), "ApiKey s3cret");
}

TEST_F(EsRebuildConfigCheck, BadInputsNameTheKey) {
  struct Case {
    std::function<void(json&)> edit;
    std::string key, fragment;
  };
  std::vector<Case> cases = {
      {[](json& v) { v["urls"] = json::array(); }, "urls", "at least one URL"},
      {[](json& v) { v["urls"] = {"127.0.0.1:9200"}; }, "urls", "is not a URL (no scheme)"},
      {[](json& v) { v["urls"] = {"ftp://es:9200"}; }, "urls", "only http:// and https:// URLs are supported"},
      {[](json& v) { v["source"] = "host=x password=inline"; }, "source", "must not contain a password"},
      {[](json& v) { v["source"] = "host=x nosuchoption=1"; }, "source", "not a valid libpq connection string"},
      {[](json& v) { v["username"] = "u"; }, "username", "go together"},
      {[&](json& v) { v["password_file"] = (dir_.path() / "missing").string(); }, "password_file", "does not exist"},
      {[&](json& v) {
         const auto open = dir_.path() / "open.pw";
         std::ofstream(open) << "s3cret\n";
         namespace fs = std::filesystem;
         fs::permissions(open, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
         v["username"] = "u";
         v["password_file"] = open.string();
       },
       "password_file", "run: chmod 600"},
      {[&](json& v) {
         v["username"] = "u";
         v["password_file"] = secret_.string();
         v["api_key_file"] = secret_.string();
       },
       "api_key_file", "not both"},
      {[](json& v) { v["indices"] = json::array(); }, "indices", "at least one"},
      {[](json& v) { v["indices"][0]["alias"] = "Bad Alias"; }, "indices[0].alias", "not a usable alias"},
      {[](json& v) { v["indices"][0]["query"] = "SELECT 1; DROP TABLE x"; }, "indices[0].query", "without ';'"},
      {[](json& v) { v["indices"][0]["query"] = "  "; }, "indices[0].query", "is empty"},
      {[](json& v) { v["indices"][0]["id_column"] = "a\"b"; }, "indices[0].id_column", "no double quotes"},
      {[](json& v) { v["indices"][0]["keep_old"] = -1; }, "indices[0].keep_old", "between 0 and 100"},
      {[&](json& v) { v["indices"][0]["mapping_file"] = (dir_.path() / "nope.json").string(); },
       "indices[0].mapping_file", "cannot read"},
      {[](json& v) { v["indices"].push_back(v["indices"][0]); }, "indices[1].alias", "declared twice"},
      {[](json& v) { v["batch_bytes"] = "10B"; }, "batch_bytes", "between 1KiB and 512MiB"},
      {[](json& v) { v["batch_docs"] = 0; }, "batch_docs", "between 1 and"},
      {[](json& v) { v["in_flight"] = 1000; }, "in_flight", "between 1 and 64"},
      {[](json& v) {
         v["retry_initial_backoff"] = "5s";
         v["retry_max_backoff"] = "1s";
       },
       "retry_max_backoff", "must not be smaller"},
      {[](json& v) { v["error_threshold"] = -2; }, "error_threshold", "cannot be negative"},
  };
  for (auto& c : cases) {
    auto v = good();
    c.edit(v);
    auto err = error_of(v);
    EXPECT_NE(err.find("key '" + c.key + "'"), std::string::npos) << "expected key " << c.key << " in: " << err;
    EXPECT_NE(err.find(c.fragment), std::string::npos) << "expected '" << c.fragment << "' in: " << err;
  }
}

TEST_F(EsRebuildConfigCheck, BadMappingFileIsRejected) {
  std::ofstream(mapping_) << "{not json";
  EXPECT_NE(error_of(good()).find("is not a JSON object"), std::string::npos);
  std::ofstream(mapping_, std::ios::trunc) << R"({"settings": {}, "aliases": {}})";
  EXPECT_NE(error_of(good()).find("only \"settings\" and \"mappings\""), std::string::npos);
}

TEST_F(EsRebuildConfigCheck, SyncIntervalIsTheHostsKeyWithThePluginsBounds) {
  auto v = good();
  v["sync_interval"] = "10ms";
  try {
    (void)sdk::StoreConfig::from_json("search", sdk::store_schema(EsRebuildPlugin()), v).sync_interval();
    FAIL() << "no error for sync_interval = 10ms";
  } catch (const sdk::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'sync_interval': must be between 1s and 1d"), std::string::npos)
        << e.what();
  }
}

TEST_F(EsRebuildConfigCheck, PluginConfigureReportsErrorsAsStatus) {
  sdk::testing::TestHost host;
  EsRebuildPlugin plugin;
  auto bad = good();
  bad["retry_initial_backoff"] = "5s";
  bad["retry_max_backoff"] = "1s";
  auto refused = plugin.configure(sdk::StoreConfig::from_json("search", tandem::sdk::store_schema(plugin), bad), host);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), sdk::ErrorCode::invalid_config);
  EXPECT_NE(refused.message().find("key 'retry_max_backoff': must not be smaller"), std::string::npos)
      << refused.message();
  auto config = sdk::StoreConfig::from_json("search", tandem::sdk::store_schema(plugin), good());
  EXPECT_TRUE(plugin.configure(config, host).ok());
  EXPECT_EQ(plugin.health().status, sdk::HealthStatus::stopped);
  EXPECT_EQ(config.sync_interval(), std::chrono::seconds(30));
}

TEST_F(EsRebuildConfigCheck, SchemaDeclaresEveryKeyOnce) {
  auto schema = es_rebuild_schema();
  std::set<std::string> names;
  for (auto& k : schema) {
    EXPECT_TRUE(names.insert(k.name).second) << k.name;
    EXPECT_FALSE(k.description.empty()) << k.name;
  }
  for (auto key :
       {"urls", "username", "password_file", "api_key_file", "source", "source_password_file", "indices", "batch_bytes",
        "batch_docs", "in_flight", "error_threshold", "rebuild_on_start_if_missing", "rebuild_on_promote"})
    EXPECT_TRUE(names.count(key)) << key;
}

}  // namespace
}  // namespace tandem::esrebuild
