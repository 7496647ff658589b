// The samples ring behind GET /v1/history/samples: bounded, oldest dropped
// first, the interval honoured, ?since= filtering. Times are given, not waited for.
#include <gtest/gtest.h>

#include "host/sample_history.h"

namespace tandem::core {
namespace {

using namespace std::chrono_literals;

StoreSnapshot store(const std::string& name, sdk::HealthStatus status, std::optional<std::uint64_t> lag_bytes,
                    std::optional<double> lag_seconds = std::nullopt) {
  StoreSnapshot s;
  s.name = name;
  s.health.status = status;
  s.health.lag_bytes = lag_bytes;
  s.health.lag_seconds = lag_seconds;
  return s;
}

std::chrono::system_clock::time_point at(std::int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

TEST(SampleRing, KeepsTheNewestCapacityEntriesInOrder) {
  SampleRing<int> ring(3);
  EXPECT_EQ(ring.size(), 0u);
  for (int i = 1; i <= 7; ++i) ring.push(i);
  ASSERT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.capacity(), 3u);
  EXPECT_EQ(ring.at(0), 5);
  EXPECT_EQ(ring.at(1), 6);
  EXPECT_EQ(ring.at(2), 7);
  SampleRing<int> none(0);  // a zero capacity holds nothing and does not divide by zero
  none.push(1);
  EXPECT_EQ(none.size(), 0u);
}

TEST(SampleHistory, WrapsAroundAtItsCapacityAndItsMemoryIsFixed) {
  SampleHistory h(10s, {"pg", "kv"}, 4);
  std::size_t bytes = h.memory_bytes();
  NodeStateValues node{sdk::Role::primary, 3, false, ""};
  for (std::int64_t i = 0; i < 10; ++i)
    h.record(at(1000 + 10 * i), node, false,
             {store("pg", sdk::HealthStatus::ok, static_cast<std::uint64_t>(i) * 100, 0.5 * i),
              store("kv", sdk::HealthStatus::degraded, std::nullopt)});
  EXPECT_EQ(h.memory_bytes(), bytes) << "the rings grew";
  auto j = h.to_json();
  EXPECT_EQ(j["capacity"], 4);
  EXPECT_EQ(j["interval_seconds"], 10.0);
  ASSERT_EQ(j["samples"].size(), 4u) << j.dump();
  EXPECT_EQ(j["samples"][0], (nlohmann::json{{"t", 1060}, {"role", "primary"}, {"epoch", 3}, {"fenced", false}}));
  EXPECT_EQ(j["samples"][3]["t"], 1090);
  ASSERT_EQ(j["stores"]["pg"].size(), 4u);
  EXPECT_EQ(j["stores"]["pg"][0],
            (nlohmann::json{{"t", 1060}, {"status", "ok"}, {"lag_bytes", 600}, {"lag_seconds", 3.0}}));
  EXPECT_EQ(j["stores"]["pg"][3]["lag_bytes"], 900);
  // A lag the store does not measure is null, not 0.
  EXPECT_EQ(j["stores"]["kv"][3],
            (nlohmann::json{{"t", 1090}, {"status", "degraded"}, {"lag_bytes", nullptr}, {"lag_seconds", nullptr}}));
}

TEST(SampleHistory, DefaultCapacityIsAnHourAtTenSecondsWithinAFewKilobytesPerStore) {
  SampleHistory h(10s, {"a"});
  EXPECT_EQ(SampleHistory::kCapacity * 10, 3600u);
  EXPECT_EQ(h.to_json()["capacity"], 360);
  // The bound the docs state: under 32 KiB for the node and one store together.
  EXPECT_LT(h.memory_bytes(), 32u * 1024) << h.memory_bytes();
}

TEST(SampleHistory, RecordsOncePerIntervalAndIgnoresUnknownStores) {
  SampleHistory h(10s, {"pg"});
  NodeStateValues node{sdk::Role::secondary, 1, false, ""};
  std::chrono::steady_clock::time_point t0{};
  std::vector<StoreSnapshot> stores = {store("pg", sdk::HealthStatus::ok, 0), store("other", sdk::HealthStatus::ok, 5)};
  EXPECT_TRUE(h.maybe_record(t0, at(100), node, false, stores));  // the first always
  EXPECT_FALSE(h.maybe_record(t0 + 1s, at(101), node, false, stores));
  EXPECT_FALSE(h.maybe_record(t0 + 9s, at(109), node, false, stores));
  EXPECT_TRUE(h.maybe_record(t0 + 10s, at(110), node, false, stores));
  EXPECT_FALSE(h.maybe_record(t0 + 19s, at(119), node, false, stores));
  EXPECT_TRUE(h.maybe_record(t0 + 21s, at(121), node, true, stores));
  auto j = h.to_json();
  ASSERT_EQ(j["samples"].size(), 3u);
  EXPECT_EQ(j["samples"][2]["role"], "test");
  EXPECT_EQ(j["stores"].size(), 1u) << j.dump();
  EXPECT_EQ(j["stores"]["pg"].size(), 3u);
}

TEST(SampleHistory, SinceKeepsSamplesAtOrAfterIt) {
  SampleHistory h(1s, {"pg"});
  NodeStateValues node{sdk::Role::primary, 2, true, "behind"};
  for (std::int64_t t : {100, 110, 120}) h.record(at(t), node, false, {store("pg", sdk::HealthStatus::failed, 1)});
  auto j = h.to_json(110);
  ASSERT_EQ(j["samples"].size(), 2u);
  EXPECT_EQ(j["samples"][0]["t"], 110);
  EXPECT_EQ(j["samples"][0]["fenced"], true);
  EXPECT_EQ(j["stores"]["pg"].size(), 2u);
  EXPECT_EQ(j["stores"]["pg"][1]["status"], "failed");
  EXPECT_EQ(h.to_json(121)["stores"]["pg"].size(), 0u);
}

}  // namespace
}  // namespace tandem::core
