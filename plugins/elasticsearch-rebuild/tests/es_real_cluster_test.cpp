// The rebuild scenario against a real Elasticsearch cluster, when one is
// given with TANDEM_TEST_ES_URL (e.g. http://127.0.0.1:9200; optional
// TANDEM_TEST_ES_API_KEY_FILE). No cluster can be installed on these machines,
// so without the variable the test is skipped, saying why.
#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "es_api.h"
#include "es_rebuild_plugin.h"
#include "es_test_env.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::esrebuild::testing {
namespace {

TEST(EsRebuildRealCluster, RebuildAndAliasSwapOnARealCluster) {
  const char* url = std::getenv("TANDEM_TEST_ES_URL");
  if (!url || !*url) GTEST_SKIP() << "TANDEM_TEST_ES_URL is not set: no real Elasticsearch cluster to test against";
  testsupport::PostgresServer pg;
  add_items(pg, 1, 5000);
  sdk::testing::TempDir dir("es-real");
  auto mapping = write_mapping(dir.path());
  std::string alias = "tandem-test-" + std::to_string(std::random_device{}() % 1000000);
  json values = {{"urls", {url}},
                 {"source", pg.conninfo()},
                 {"indices",
                  {{{"alias", alias},
                    {"query", "SELECT id, title, body, price FROM items"},
                    {"mapping_file", mapping.string()},
                    {"keep_old", 0}}}},
                 {"rebuild_on_start_if_missing", false}};
  if (const char* key = std::getenv("TANDEM_TEST_ES_API_KEY_FILE")) values["api_key_file"] = key;
  sdk::testing::TestHostOptions options;
  options.role = sdk::Role::primary;
  sdk::testing::TestHost host(options);
  EsRebuildPlugin plugin;
  ASSERT_TRUE(
      plugin.configure(sdk::StoreConfig::from_json("search", tandem::sdk::store_schema(plugin), values), host).ok());
  ASSERT_TRUE(plugin.start().ok());
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(plugin.run_action("rebuild", json::object()).ok());
    ASSERT_TRUE(
        sdkt::eventually([&] { return !plugin.health().details.value("rebuilding", false); }, std::chrono::minutes(4)));
    auto last = plugin.health().details["last_rebuild"];
    ASSERT_EQ(last.value("result", ""), "success") << last.dump();
    EXPECT_EQ(last["indices"][0]["documents"], 5000);
  }
  ASSERT_TRUE(plugin.sync().ok());
  auto h = plugin.health();
  EXPECT_EQ(h.details["indices"][0]["drift"], 0) << h.details.dump();
  // Clean up what the test created on the cluster.
  std::atomic<bool> no_cancel{false};
  auto c =
      parse_es_rebuild_config(sdk::StoreConfig::from_json("search", tandem::sdk::store_schema(plugin), values)).value();
  auto target = std::make_shared<EsTarget>(EsTarget{c.endpoints, authorization_header(c), std::chrono::seconds(30)});
  EsApi api(target, c.retry, no_cancel);
  auto targets = api.alias_targets(alias);
  ASSERT_TRUE(targets.ok());
  for (auto& t : *targets) EXPECT_TRUE(api.delete_index(t).ok());
  plugin.stop();
}

}  // namespace
}  // namespace tandem::esrebuild::testing
