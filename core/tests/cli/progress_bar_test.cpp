#include <gtest/gtest.h>

#include "cli/progress_bar.h"

namespace tandem::cli {
namespace {

TEST(ProgressBar, RendersDoneTotalRateAndEta) {
  auto p = progress_from_details({{"progress", {{"done", 50}, {"total", 200}, {"rate", 12.5}, {"eta_seconds", 12}}}});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(render_progress(*p, 8), "[##......]  25.0%  50/200  12.5/s  ETA 12.0s");
}

TEST(ProgressBar, UnknownTotalAndMissingProgress) {
  auto p = progress_from_details({{"progress", {{"done", 7}}}});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(render_progress(*p, 4), "[????] 7 done");
  EXPECT_FALSE(progress_from_details({{"other", 1}}).has_value());
  EXPECT_FALSE(progress_from_details({{"progress", "half"}}).has_value());
  EXPECT_FALSE(progress_from_details(nlohmann::json::array()).has_value());
}

TEST(ProgressBar, ClampsOverflow) {
  Progress p{12, 10, std::nullopt, std::nullopt};
  EXPECT_EQ(render_progress(p, 4), "[####] 100.0%  12/10");
}

}  // namespace
}  // namespace tandem::cli
