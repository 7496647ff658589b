// The per-store scheduler: periodic syncs, coalesced requests, no overlap,
// start retries, failure accounting, and isolation: a store stuck in sync
// delays neither another store's syncs and health nor the API.
#include <gtest/gtest.h>

#include "in_process_daemon.h"
#include "support/test_http.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testplugins {
namespace {

using namespace std::chrono_literals;
using sdk::testing::eventually;

nlohmann::json store_status(int port, const std::string& name) {
  return testhttp::get(port, "/v1/stores/" + name).json();
}

TEST(Scheduler, AStoreStuckInSyncDelaysNeitherOtherStoresNorTheApi) {
  Gate gate;
  TestStoreKnobs stuck_knobs;
  stuck_knobs.interval = 50ms;
  stuck_knobs.block_sync = &gate;
  auto stuck = std::make_shared<TestStorePlugin>(stuck_knobs);
  TestStoreKnobs fast_knobs;
  fast_knobs.interval = 50ms;
  auto fast = std::make_shared<TestStorePlugin>(fast_knobs);
  InProcessDaemon d({{"stuck", stuck}, {"fast", fast}});

  ASSERT_TRUE(eventually([&] { return stuck->blocked_syncs == 1; }, 20s));
  // While "stuck" sits in its first sync, "fast" keeps syncing on its own executor...
  int before = fast->sync_calls;
  ASSERT_TRUE(eventually([&] { return fast->sync_calls >= before + 5; }, 30s));
  // ...its cached health keeps being refreshed, and the API answers every read.
  int health_before = fast->health_calls;
  ASSERT_TRUE(eventually([&] { return fast->health_calls > health_before + 2; }, 30s));
  for (int i = 0; i < 5; ++i) {
    auto status = testhttp::get(d.port, "/v1/status");
    ASSERT_EQ(status.status, 200);
    auto j = status.json();
    EXPECT_EQ(j["stores"][0]["name"], "stuck");
    EXPECT_EQ(j["stores"][0]["sync"]["in_progress"], true);
    EXPECT_EQ(j["stores"][0]["sync"]["runs"], 0);
    EXPECT_EQ(testhttp::get(d.port, "/monitor/replication").status, 200);
    EXPECT_EQ(testhttp::get(d.port, "/metrics").status, 200);
  }
  EXPECT_TRUE(eventually([&] { return store_status(d.port, "fast")["sync"]["runs"].get<int>() >= before + 5; }, 20s));
  // The stuck store's own ticks were coalesced, not queued up: one sync, never two at once.
  EXPECT_EQ(stuck->sync_calls, 1);
  gate.open();
  ASSERT_TRUE(eventually([&] { return stuck->sync_calls >= 3; }, 20s));
  EXPECT_EQ(stuck->max_concurrent_syncs, 1);
  EXPECT_EQ(fast->max_concurrent_syncs, 1);
  EXPECT_TRUE(eventually([&] { return store_status(d.port, "stuck")["sync"]["runs"].get<int>() >= 1; }, 20s));
}

TEST(Scheduler, RequestSyncIsCoalescedWhileARunIsInProgress) {
  Gate gate;
  TestStoreKnobs k;  // no interval: only requested syncs
  k.block_sync = &gate;
  auto p = std::make_shared<TestStorePlugin>(k);
  InProcessDaemon d({{"s", p}});
  ASSERT_TRUE(eventually([&] { return p->started.load(); }, 20s));
  EXPECT_EQ(p->sync_calls, 0);  // interval 0: no periodic sync
  p->host()->request_sync();
  ASSERT_TRUE(eventually([&] { return p->blocked_syncs == 1; }, 20s));
  for (int i = 0; i < 10; ++i) p->host()->request_sync();
  gate.open();
  // One run in progress plus exactly one coalesced extra run.
  ASSERT_TRUE(eventually([&] { return store_status(d.port, "s")["sync"]["runs"] == 2; }, 20s));
  std::this_thread::sleep_for(300ms);  // give a wrongly queued third run the chance to show up
  EXPECT_EQ(p->sync_calls, 2);
  EXPECT_EQ(p->max_concurrent_syncs, 1);
}

// A promote pending (StoreRunner::hold_syncs, as the orchestrator does):
// the sync in progress is told to end, no new one starts however often it
// is due or requested, a failover call gets the executor at once and sees
// no cancel flag, and once released the deferred sync runs.
TEST(Scheduler, HeldSyncsEndTheRunningOneAndStartNoneUntilReleased) {
  TestStoreKnobs k;
  k.interval = 20ms;
  k.first_sync_until_cancelled = true;
  auto p = std::make_shared<TestStorePlugin>(k);
  InProcessDaemon d({{"s", p}});
  ASSERT_TRUE(eventually([&] { return p->blocked_syncs == 1; }, 20s));
  core::StoreRunner* runner = d.daemon->runtime().find_store("s");
  ASSERT_NE(runner, nullptr);
  runner->hold_syncs();
  ASSERT_TRUE(eventually([&] { return p->cancelled_syncs == 1; }, 20s)) << "the sync in progress was not cancelled";
  for (int i = 0; i < 5; ++i) p->host()->request_sync();
  bool flag_in_call = true;
  // Posted after the requests: a sync they had started would run first.
  runner->call([&](sdk::Plugin&) { flag_in_call = p->host()->sync_cancelled().load(); }).get();
  EXPECT_FALSE(flag_in_call) << "the cancel flag is for syncs only";
  EXPECT_EQ(p->sync_calls, 1) << "a sync started while held";
  runner->release_syncs();
  EXPECT_TRUE(eventually([&] { return p->sync_calls >= 3; }, 20s)) << "the syncs did not resume";
  EXPECT_EQ(p->max_concurrent_syncs, 1);
}

TEST(Scheduler, SyncFailuresAreCounted) {
  TestStoreKnobs k;
  k.interval = 30ms;
  k.fail_sync = true;
  auto p = std::make_shared<TestStorePlugin>(k);
  InProcessDaemon d({{"s", p}});
  ASSERT_TRUE(eventually([&] { return store_status(d.port, "s")["sync"]["failures"].get<int>() >= 2; }, 20s));
  auto j = store_status(d.port, "s");
  EXPECT_EQ(j["sync"]["last_error"], "sync failed as told");
  EXPECT_TRUE(j["sync"]["last_success"].is_null());
  EXPECT_GE(j["sync"]["runs"].get<int>(), j["sync"]["failures"].get<int>());
  auto metrics = testhttp::get(d.port, "/metrics").body;
  EXPECT_NE(metrics.find("tandem_store_sync_failures_total{store=\"s\"} "), std::string::npos);
}

TEST(Scheduler, StartFailuresAreRetriedWithBackoff) {
  TestStoreKnobs k;
  k.fail_starts = 2;
  k.interval = 50ms;
  auto p = std::make_shared<TestStorePlugin>(k);
  InProcessOptions o;
  o.tuning.runtime.store.start_retry_base = 100ms;
  InProcessDaemon d({{"s", p}}, o);
  // While failing, the store reports it in its health and state.
  ASSERT_TRUE(eventually([&] { return store_status(d.port, "s")["state"] == "start_failed" || p->started; }, 20s));
  ASSERT_TRUE(eventually([&] { return p->started.load(); }, 20s));
  EXPECT_EQ(p->start_calls, 3);
  ASSERT_TRUE(eventually([&] { return store_status(d.port, "s")["state"] == "running"; }, 20s));
  ASSERT_TRUE(eventually([&] { return p->sync_calls >= 1; }, 20s));
  EXPECT_EQ(p->max_concurrent_syncs, 1);
}

TEST(Scheduler, AStoreThatNeverStartsIsShownAsFailed) {
  TestStoreKnobs k;
  k.fail_starts = 1000;
  auto p = std::make_shared<TestStorePlugin>(k);
  InProcessOptions o;
  o.tuning.runtime.store.start_retry_base = 50ms;
  o.tuning.runtime.store.start_retry_max = 100ms;
  InProcessDaemon d({{"s", p}}, o);
  ASSERT_TRUE(eventually([&] { return p->start_calls >= 3; }, 20s));
  auto j = store_status(d.port, "s");
  EXPECT_EQ(j["state"], "start_failed");
  EXPECT_EQ(j["health"]["status"], "failed");
  EXPECT_NE(j["health"]["summary"].get<std::string>().find("start failed"), std::string::npos);
  EXPECT_NE(j["start_error"].get<std::string>().find("as told"), std::string::npos);
  EXPECT_EQ(p->sync_calls, 0);
}

TEST(Scheduler, ShutdownStopsEveryStoreAfterItsRunningCall) {
  Gate gate;
  TestStoreKnobs k;
  k.interval = 20ms;
  k.block_sync = &gate;
  auto blocked = std::make_shared<TestStorePlugin>(k);
  auto other = std::make_shared<TestStorePlugin>();
  auto d = std::make_unique<InProcessDaemon>(std::vector<StoreSpec>{{"a", other}, {"b", blocked}});
  ASSERT_TRUE(eventually([&] { return blocked->blocked_syncs == 1; }, 20s));
  std::thread opener([&] {
    std::this_thread::sleep_for(300ms);
    gate.open();
  });
  EXPECT_TRUE(d->daemon->stop());
  opener.join();
  EXPECT_TRUE(blocked->stopped);
  EXPECT_TRUE(other->stopped);
  EXPECT_EQ(blocked->max_concurrent_syncs, 1);
}

}  // namespace
}  // namespace tandem::testplugins
