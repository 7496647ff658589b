// The warm index on the secondary, against a real PostgreSQL primary and its
// streaming hot standby, and one Elasticsearch stand-in per node (as in the
// seed's topology): the secondary keeps its own index current from its own
// standby, and a promotion only catches up.
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "es_rebuild_plugin.h"
#include "es_test_env.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::esrebuild::testing {
namespace {

using sdk::Role;
using std::chrono::seconds;

class EsWarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    primary_ = std::make_unique<testsupport::PostgresServer>();
    primary_->psql(
        "CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, updated_at timestamptz NOT NULL DEFAULT "
        "clock_timestamp());"
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END$$;"
        "CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();");
    insert(1, 2000);
    testsupport::PostgresOptions standby;
    standby.init = false;
    standby.start = false;
    standby_ = std::make_unique<testsupport::PostgresServer>(standby);
    standby_->become_standby_of(*primary_);
    ASSERT_EQ(standby_->psql("SELECT pg_is_in_recovery()"), "t\n");
    mapping_ = write_mapping(dir_.path());
    sdk::testing::TestHostOptions options;
    options.store_name = "search";
    options.node_name = "beta";
    options.node_address = "127.0.0.2";
    options.role = Role::secondary;
    options.epoch = 1;
    options.data_dir = dir_.path() / "beta-state";
    host_ = std::make_unique<sdk::testing::TestHost>(options);
  }
  void TearDown() override {
    if (plugin_) plugin_->stop();
    plugin_.reset();
  }

  void insert(int from, int to) {
    primary_->psql("INSERT INTO items (id, title) SELECT g, 'item ' || g FROM generate_series(" + std::to_string(from) +
                   ", " + std::to_string(to) + ") AS g");
  }
  // Waits until the standby has replayed everything the primary wrote so far.
  void wait_for_replay() {
    std::string lsn = primary_->psql("SELECT pg_current_wal_lsn()");
    lsn.pop_back();
    ASSERT_TRUE(sdkt::eventually(
        [&] { return standby_->psql("SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn") == "t\n"; },
        seconds(30)));
  }
  std::uint64_t standby_rows() { return std::stoull(standby_->psql("SELECT count(*) FROM items")); }

  json values(const std::string& warm_interval) const {
    json v = store_values(es_, *standby_, mapping_);  // the secondary reads its own standby...
    v["indices"][0]["query"] = "SELECT id, title, updated_at FROM items";
    v["indices"][0]["updated_column"] = "updated_at";
    v["warm_standby"] = true;  // ...into its own Elasticsearch
    v["warm_interval"] = warm_interval;
    v["warm_overlap"] = "2s";
    return v;
  }
  void start_plugin(const json& v) {
    plugin_ = std::make_unique<EsRebuildPlugin>();
    auto st = plugin_->configure(sdk::StoreConfig::from_json("search", tandem::sdk::store_schema(*plugin_), v), *host_);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_TRUE(plugin_->start().ok());
  }
  json warm_index() const { return plugin_->health().details["warm"]["indices"][0]; }
  // Waits until a warm round that began at or after `after` (default: now)
  // has finished; returns it.
  json next_round(std::int64_t after = wall_ms_now()) {
    json round;
    EXPECT_TRUE(sdkt::eventually(
        [&] {
          round = warm_index().value("last_round", json());
          return round.is_object() && round.value("at_ms", std::int64_t{0}) >= after && round.value("result", "") != "";
        },
        seconds(60)))
        << warm_index().dump();
    return round;
  }
  // Titles by id of what the alias serves on this node's Elasticsearch.
  std::map<std::string, std::string> served() const {
    std::map<std::string, std::string> out;
    auto page = es_.get("/items/_search?size=10000");
    for (auto& hit : page["hits"]["hits"]) out[hit["_id"].get<std::string>()] = hit["_source"]["title"];
    return out;
  }

  sdk::testing::TempDir dir_{"es-warm-test"};
  std::unique_ptr<testsupport::PostgresServer> primary_, standby_;
  Standin es_;  // the secondary's own cluster; the primary's is not needed here
  std::filesystem::path mapping_;
  std::unique_ptr<sdk::testing::TestHost> host_;
  std::unique_ptr<EsRebuildPlugin> plugin_;
};

TEST_F(EsWarmTest, TheSecondaryKeepsItsOwnIndexCurrentAndAPromotionOnlyCatchesUp) {
  start_plugin(values("1s"));
  // The first round builds the warm index from the standby (it may have begun
  // before this line runs: any round counts).
  auto first = next_round(0);
  ASSERT_EQ(first.value("result", ""), "rebuilt") << first.dump();
  EXPECT_EQ(es_.count("items"), 2000u);
  auto warm_target = es_.alias_targets("items");
  ASSERT_EQ(warm_target.size(), 1u);

  // Inserts and updates on the primary reach the secondary's index through
  // its standby, in place (same index, no rebuild).
  insert(2001, 2500);
  primary_->psql("UPDATE items SET title = 'renamed ' || id WHERE id % 20 = 0");
  wait_for_replay();
  auto round = next_round();
  ASSERT_EQ(round.value("result", ""), "success") << round.dump();
  EXPECT_GE(round.value("rows_read", 0), 625) << "500 inserted + 125 updated rows at least";
  EXPECT_EQ(es_.alias_targets("items"), warm_target);
  auto docs = served();
  EXPECT_EQ(docs.size(), 2500u);
  EXPECT_EQ(docs["40"], "renamed 40");
  EXPECT_EQ(docs["41"], "item 41");
  EXPECT_EQ(docs["2499"], "item 2499");

  // Status: the index's age, on the replication page too, and healthy.
  ASSERT_TRUE(plugin_->sync().ok());
  auto h = plugin_->health();
  EXPECT_EQ(h.status, sdk::HealthStatus::ok) << h.summary;
  EXPECT_NE(h.summary.find("behind the standby"), std::string::npos) << h.summary;
  ASSERT_TRUE(h.lag_seconds.has_value());
  EXPECT_LT(*h.lag_seconds, 30.0);
  bool cell = false;
  for (auto& e : h.replication) cell = cell || (e.address == "127.0.0.2" && e.field == "search_index_age_seconds");
  EXPECT_TRUE(cell);

  // A delete leaves a document only a full rebuild can find: the round
  // sees the counts differ at its snapshot and rebuilds from the standby.
  // (Rounds begun before the delete was replayed may still succeed; the
  // rebuild must follow. Rounds are 1 s apart: the poll sees each one.)
  auto before_delete = wall_ms_now();
  primary_->psql("DELETE FROM items WHERE id <= 10");
  wait_for_replay();
  EXPECT_TRUE(sdkt::eventually(
      [&] {
        round = warm_index().value("last_round", json());
        return round.is_object() && round.value("at_ms", std::int64_t{0}) >= before_delete &&
               round.value("result", "") == "rebuilt";
      },
      seconds(60)))
      << round.dump();
  ASSERT_EQ(round.value("result", ""), "rebuilt") << round.dump();
  EXPECT_NE(round.value("full_because", "").find("rows were deleted"), std::string::npos) << round.dump();
  EXPECT_EQ(es_.count("items"), 2490u);
  warm_target = es_.alias_targets("items");

  // tandemd restarts on the secondary with a long interval: the mark is kept,
  // no round runs at start, and the primary writes meanwhile.
  plugin_->stop();
  start_plugin(values("1h"));
  EXPECT_TRUE(warm_index().contains("age_seconds")) << "the mark survived the restart";
  auto prep = plugin_->prepare({sdk::FailoverKind::failover, 2, false, true, json::object()});
  ASSERT_TRUE(prep.ok());
  EXPECT_NE(prep->plan.find("catch up the warm indices items"), std::string::npos) << prep->plan;
  insert(2501, 3000);
  primary_->psql("UPDATE items SET title = 'late ' || id WHERE id BETWEEN 100 AND 149");
  wait_for_replay();
  ASSERT_EQ(es_.count("items"), 2490u) << "nothing refreshed the warm index since";

  // The primary dies; its standby is promoted (as postgres-wal would), then this store.
  primary_->kill9();
  standby_->psql("SELECT pg_promote()");
  ASSERT_TRUE(sdkt::eventually([&] { return standby_->psql("SELECT pg_is_in_recovery()") == "f\n"; }, seconds(30)));
  host_->set_epoch(2);
  auto step = plugin_->promote({sdk::FailoverKind::failover, 2, false, false, json::object()});
  ASSERT_TRUE(step.ok()) << step.message();
  EXPECT_TRUE(step->changed);
  EXPECT_NE(step->summary.find("served by the warm indices"), std::string::npos) << step->summary;
  host_->set_role(Role::primary);
  // Searches work at once (the warm index), and the catch-up completes it in place.
  EXPECT_GE(es_.count("items"), 2490u);
  ASSERT_TRUE(sdkt::eventually(
      [&] {
        auto c = plugin_->health().details.value("catch_up", json());
        return c.is_object() && c.contains("items") && c["items"].value("result", "") != "";
      },
      seconds(60)));
  auto caught = plugin_->health().details["catch_up"]["items"];
  EXPECT_EQ(caught.value("result", ""), "success") << caught.dump();
  EXPECT_EQ(es_.alias_targets("items"), warm_target) << "caught up in place, not rebuilt";
  docs = served();
  EXPECT_EQ(docs.size(), standby_rows());
  EXPECT_EQ(docs.size(), 2990u);
  EXPECT_EQ(docs["120"], "late 120");
  EXPECT_EQ(docs["3000"], "item 3000");

  // The same promote again changes nothing; the node keeps no warm mark.
  auto again = plugin_->promote({sdk::FailoverKind::failover, 2, false, false, json::object()});
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_FALSE(again->changed) << again->summary;
  EXPECT_FALSE(plugin_->health().details["warm"].value("complete", true));
}

TEST_F(EsWarmTest, AnUpdatedColumnThatIsNoTimestampIsAClearErrorInHealth) {
  json v = values("1s");
  v["indices"][0]["query"] = "SELECT id, title, id AS version FROM items";
  v["indices"][0]["updated_column"] = "version";
  start_plugin(v);
  auto round = next_round();
  EXPECT_EQ(round.value("result", ""), "failed") << round.dump();
  ASSERT_TRUE(plugin_->sync().ok());
  auto h = plugin_->health();
  EXPECT_EQ(h.status, sdk::HealthStatus::degraded);
  EXPECT_NE(h.summary.find("updated_column 'version' is of type bigint"), std::string::npos) << h.summary;
  EXPECT_TRUE(es_.alias_targets("items").empty()) << "nothing was built from a query it cannot follow";
}

}  // namespace
}  // namespace tandem::esrebuild::testing
