#include <gtest/gtest.h>

#include "lag_history.h"

namespace tandem::pgwal {
namespace {

using namespace std::chrono_literals;

LagHistory with(std::initializer_list<std::uint64_t> samples, double min_growth = 0) {
  LagHistory h(10, min_growth);
  auto t = std::chrono::steady_clock::time_point{} + 1000s;
  for (auto s : samples) {
    h.add(s, t);
    t += 1s;
  }
  return h;
}

TEST(LagHistory, SteadyGrowthIsIncreasing) {
  auto h = with({100, 200, 300, 400, 500});
  EXPECT_TRUE(h.increasing());
  EXPECT_NEAR(h.slope_bytes_per_second(), 100.0, 1e-6);
}

TEST(LagHistory, NoisyButGrowingIsIncreasing) { EXPECT_TRUE(with({100, 80, 300, 250, 500, 450}).increasing()); }

TEST(LagHistory, DrainingOrFlatOrZeroIsNot) {
  EXPECT_FALSE(with({500, 400, 300, 200}).increasing());
  EXPECT_FALSE(with({300, 300, 300, 300}).increasing());
  EXPECT_FALSE(with({0, 0, 0, 0, 0}).increasing());
  EXPECT_FALSE(with({0, 500, 900, 0}).increasing());  // back to zero: caught up
}

TEST(LagHistory, TooFewSamplesSayNothing) {
  EXPECT_FALSE(with({100, 200, 300}).increasing());
  EXPECT_EQ(with({100}).slope_bytes_per_second(), 0.0);
}

TEST(LagHistory, SmallJitterUnderLoadIsNotATrend) {
  EXPECT_FALSE(with({1000, 4000, 2000, 5000}, 64 * 1024).increasing());
  EXPECT_TRUE(with({1 << 20, 2 << 20, 3 << 20, 4 << 20}, 64 * 1024).increasing());
  LagHistory defaults;  // the plugin's own setting
  auto t = std::chrono::steady_clock::time_point{} + 1000s;
  for (std::uint64_t s : {984, 1720, 4704, 3000, 4000}) defaults.add(s, t += 1s);
  EXPECT_FALSE(defaults.increasing());
}

TEST(LagHistory, KeepsOnlyTheWindowAndClears) {
  LagHistory h(4, 0);
  auto t = std::chrono::steady_clock::time_point{} + 1000s;
  for (std::uint64_t s : {900, 800, 700, 600, 10, 20, 30, 40}) {
    h.add(s, t);
    t += 1s;
  }
  EXPECT_EQ(h.size(), 4u);
  EXPECT_TRUE(h.increasing());  // the old draining samples fell out of the window
  h.clear();
  EXPECT_EQ(h.size(), 0u);
  EXPECT_FALSE(h.increasing());
}

}  // namespace
}  // namespace tandem::pgwal
