// The stand-in answers the REST subset with Elasticsearch's documented shapes,
// and the plugin's HTTP client and EsApi read them correctly.
#include <gtest/gtest.h>

#include "bulk_loader.h"
#include "es_api.h"
#include "es_test_env.h"

namespace tandem::esrebuild::testing {
namespace {

TEST(EsRebuildStandin, IndexLifecycleSettingsAndRefreshSemantics) {
  Standin es;
  auto [st, created] = es.call(
      Verb::put, "/books-1",
      R"({"settings":{"index":{"refresh_interval":"-1","number_of_replicas":0}},"mappings":{"properties":{"t":{"type":"text"}}}})");
  EXPECT_EQ(st, 200u);
  EXPECT_EQ(created["acknowledged"], true);
  EXPECT_EQ(created["index"], "books-1");
  EXPECT_EQ(es.call(Verb::put, "/books-1", "{}").first, 400u);  // resource_already_exists_exception
  EXPECT_EQ(es.call(Verb::put, "/books-1", "{}").second["error"]["type"], "resource_already_exists_exception");
  EXPECT_EQ(es.call(Verb::head, "/books-1").first, 200u);
  EXPECT_EQ(es.call(Verb::head, "/nothing").first, 404u);

  auto [bst, bulk] = es.call(Verb::post, "/books-1/_bulk",
                             "{\"index\":{\"_id\":\"1\"}}\n{\"t\":\"a\"}\n{\"create\":{\"_id\":\"1\"}}\n{\"t\":\"b\"}"
                             "\n{\"index\":{\"_id\":\"2\"}}\nnot-json\n");
  EXPECT_EQ(bst, 200u);
  EXPECT_EQ(bulk["errors"], true);
  ASSERT_EQ(bulk["items"].size(), 3u);
  EXPECT_EQ(bulk["items"][0]["index"]["status"], 201);
  EXPECT_EQ(bulk["items"][0]["index"]["result"], "created");
  EXPECT_EQ(bulk["items"][1]["create"]["status"], 409);
  EXPECT_EQ(bulk["items"][1]["create"]["error"]["type"], "version_conflict_engine_exception");
  EXPECT_EQ(bulk["items"][2]["index"]["status"], 400);

  // refresh_interval -1: nothing is searchable until an explicit refresh.
  EXPECT_EQ(es.count("books-1"), 0u);
  EXPECT_EQ(es.call(Verb::post, "/books-1/_refresh").first, 200u);
  EXPECT_EQ(es.count("books-1"), 1u);

  auto settings = es.get("/books-1/_settings");
  EXPECT_EQ(settings["books-1"]["settings"]["index"]["refresh_interval"], "-1");
  EXPECT_EQ(settings["books-1"]["settings"]["index"]["number_of_replicas"], "0");
  EXPECT_EQ(es.call(Verb::put, "/books-1/_settings", R"({"index":{"refresh_interval":"1s"}})").first, 200u);
  EXPECT_EQ(es.get("/books-1/_settings")["books-1"]["settings"]["index"]["refresh_interval"], "1s");
  // With a refresh interval, new documents become visible without _refresh.
  es.call(Verb::post, "/books-1/_bulk", "{\"index\":{\"_id\":\"3\"}}\n{\"t\":\"c\"}\n");
  EXPECT_EQ(es.count("books-1"), 2u);

  auto search = es.get("/books-1/_search?size=1");
  EXPECT_EQ(search["hits"]["total"]["value"], 2);
  EXPECT_EQ(search["hits"]["hits"].size(), 1u);
  EXPECT_TRUE(search["hits"]["hits"][0].contains("_source"));
  // An ids query finds exactly the given documents (a missing id is no hit);
  // a query the stand-in does not implement is refused, not answered as match_all.
  auto [ist, by_ids] = es.call(Verb::post, "/books-1/_search", R"({"query":{"ids":{"values":["3","7"]}}})");
  EXPECT_EQ(ist, 200u);
  EXPECT_EQ(by_ids["hits"]["total"]["value"], 1);
  ASSERT_EQ(by_ids["hits"]["hits"].size(), 1u);
  EXPECT_EQ(by_ids["hits"]["hits"][0]["_id"], "3");
  EXPECT_EQ(by_ids["hits"]["hits"][0]["_source"]["t"], "c");
  EXPECT_EQ(
      es.call(Verb::post, "/books-1/_search", R"({"query":{"ids":{"values":["7"]}}})").second["hits"]["total"]["value"],
      0);
  EXPECT_EQ(es.call(Verb::post, "/books-1/_search", R"({"query":{"match":{"t":"c"}}})").first, 400u);
  EXPECT_EQ(es.call(Verb::delete_, "/books-1").second["acknowledged"], true);
  EXPECT_EQ(es.call(Verb::get, "/books-1/_count").second["error"]["type"], "index_not_found_exception");
}

TEST(EsRebuildStandin, AliasActionsAreAtomic) {
  Standin es;
  es.call(Verb::put, "/a-1", "{}");
  es.call(Verb::put, "/a-2", "{}");
  EXPECT_EQ(
      es.call(Verb::post, "/_aliases", R"({"actions":[{"add":{"index":"a-1","alias":"a"}}]})").second["acknowledged"],
      true);
  EXPECT_EQ(es.alias_targets("a"), std::vector<std::string>{"a-1"});
  // One bad action (removing a missing alias) rejects the whole request.
  auto [st, body] = es.call(
      Verb::post, "/_aliases",
      R"({"actions":[{"remove":{"index":"a-1","alias":"a"}},{"add":{"index":"a-2","alias":"a"}},{"remove":{"index":"a-2","alias":"zzz"}}]})");
  EXPECT_EQ(st, 404u);
  EXPECT_EQ(body["error"]["type"], "aliases_not_found_exception");
  EXPECT_EQ(es.alias_targets("a"), std::vector<std::string>{"a-1"});
  // remove + add + remove_index in one request.
  EXPECT_EQ(
      es.call(
            Verb::post, "/_aliases",
            R"({"actions":[{"remove":{"index":"a-1","alias":"a"}},{"add":{"index":"a-2","alias":"a"}},{"remove_index":{"index":"a-1"}}]})")
          .first,
      200u);
  EXPECT_EQ(es.alias_targets("a"), std::vector<std::string>{"a-2"});
  EXPECT_EQ(es.indices("a-*"), std::vector<std::string>{"a-2"});
  EXPECT_EQ(es.call(Verb::get, "/_alias/nope").first, 404u);
  EXPECT_EQ(es.get("/a-2/_alias")["a-2"]["aliases"].contains("a"), true);
  EXPECT_EQ(es.get("/_cluster/health")["status"], "green");
}

TEST(EsRebuildStandin, EsApiReadsTheAnswers) {
  Standin es;
  std::atomic<bool> no_cancel{false};
  EsApi api(es.target(), RetryPolicy{3, std::chrono::milliseconds(10), std::chrono::milliseconds(50)}, no_cancel);
  ASSERT_TRUE(api.create_index("x-e1-20260101000000", {{"settings", {{"index.refresh_interval", "-1"}}}}).ok());
  EXPECT_FALSE(api.create_index("x-e1-20260101000000", nlohmann::json::object()).ok());
  auto none = api.alias_targets("x");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(api.update_aliases({{{"add", {{"index", "x-e1-20260101000000"}, {"alias", "x"}}}}}).ok());
  auto targets = api.alias_targets("x");
  ASSERT_TRUE(targets.ok());
  EXPECT_EQ(*targets, std::vector<std::string>{"x-e1-20260101000000"});
  auto listed = api.indices_matching("x-e*");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->at("x-e1-20260101000000").count("x"), 1u);
  auto c = api.count("x");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 0u);
  auto missing = api.count("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("index_not_found_exception"), std::string::npos);
}

TEST(EsRebuildStandin, BulkLoaderRetries429AndCountsItemErrors) {
  Standin es;
  es.call(Verb::put, "/b", R"({"settings":{"index":{"refresh_interval":"-1"}}})");
  es.set_faults({{"bulk_429_every", 2}, {"item_error_ids", {"7", "8"}}});
  std::atomic<bool> no_cancel{false};
  BulkSettings s{"b", 4096, 10, 2, RetryPolicy{6, std::chrono::milliseconds(5), std::chrono::milliseconds(20)}, 5};
  BulkLoader loader(es.target(), s, no_cancel);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(loader.add(std::to_string(i), "{\"n\":" + std::to_string(i) + "}"));
  auto st = loader.finish();
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(loader.documents_ok(), 98u);
  EXPECT_EQ(loader.item_errors(), 2u);
  EXPECT_GT(loader.retries(), 0u);
  EXPECT_GT(es.get("/_standin/stats")["bulk_rejected_429"].get<int>(), 0);
  es.call(Verb::post, "/b/_refresh");
  EXPECT_EQ(es.count("b"), 98u);
}

TEST(EsRebuildStandin, BulkLoaderFailsPastThresholdNamingDocuments) {
  Standin es;
  es.set_faults({{"item_error_ids", {"3", "4", "5"}}});
  std::atomic<bool> no_cancel{false};
  BulkSettings s{"c", 1 << 20, 50, 2, RetryPolicy{2, std::chrono::milliseconds(5), std::chrono::milliseconds(5)}, 2};
  BulkLoader loader(es.target(), s, no_cancel);
  for (int i = 0; i < 40; ++i) loader.add(std::to_string(i), "{}");
  auto st = loader.finish();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("3 documents failed"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("first failing documents: 3 (mapper_parsing_exception"), std::string::npos)
      << st.message();
}

TEST(EsRebuildStandin, ClientFailsOverToTheNextUrl) {
  Standin es;
  auto target = std::make_shared<EsTarget>();
  target->endpoints = {
      sdk::net::Url{sdk::net::Scheme::http, "127.0.0.1", static_cast<std::uint16_t>(sdkt::free_port()), ""},
      sdk::net::Url{sdk::net::Scheme::http, "127.0.0.1", static_cast<std::uint16_t>(es.port()), ""}};
  target->timeout = std::chrono::seconds(5);
  EsConnection conn(target);
  auto r = conn.request(Verb::get, "/_cluster/health");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status, 200u);
}

}  // namespace
}  // namespace tandem::esrebuild::testing
