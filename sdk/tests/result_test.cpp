// Status / Result: codes, messages and TANDEM_TRY propagation.
#include <gtest/gtest.h>

#include "tandem/sdk/result.h"

namespace tandem::sdk {
namespace {

Status step(bool ok) { return ok ? Status() : Status::error(ErrorCode::unavailable, "peer down"); }
Result<int> number(bool ok) { return ok ? Result<int>(7) : Error{"no number", ErrorCode::invalid_argument}; }

Status two_steps(bool first, bool second, int& reached) {
  TANDEM_TRY(step(first));
  reached = 1;
  TANDEM_TRY(step(second));
  reached = 2;
  return {};
}

Result<int> doubled(bool ok) {
  auto n = number(ok);
  TANDEM_TRY(n);
  return *n * 2;
}

Result<std::string> from_status(bool ok) {
  TANDEM_TRY(step(ok));
  return std::string("fine");
}

TEST(Result, FailureKeepsTheOldSpellingAndMeansFailed) {
  Status s = Status::failure("boom");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::failed);
  EXPECT_EQ(s.message(), "boom");
  Result<int> r = Error{"bad"};
  EXPECT_EQ(r.code(), ErrorCode::failed);
  EXPECT_EQ(Status().code(), ErrorCode::ok);
  EXPECT_EQ(Result<int>(3).code(), ErrorCode::ok);
}

TEST(Result, TryReturnsTheFirstErrorWithItsCode) {
  int reached = 0;
  EXPECT_TRUE(two_steps(true, true, reached).ok());
  EXPECT_EQ(reached, 2);
  reached = 0;
  Status s = two_steps(true, false, reached);
  EXPECT_EQ(reached, 1);
  EXPECT_EQ(s.code(), ErrorCode::unavailable);
  EXPECT_EQ(s.message(), "peer down");
}

TEST(Result, TryWorksOnNamedResultsAndAcrossResultTypes) {
  EXPECT_EQ(*doubled(true), 14);
  auto bad = doubled(false);
  EXPECT_EQ(bad.code(), ErrorCode::invalid_argument);
  EXPECT_EQ(bad.message(), "no number");
  EXPECT_EQ(*from_status(true), "fine");
  EXPECT_EQ(from_status(false).code(), ErrorCode::unavailable);
}

TEST(Result, PrefixedKeepsTheCode) {
  Status s = step(false).prefixed("sync");
  EXPECT_EQ(s.message(), "sync: peer down");
  EXPECT_EQ(s.code(), ErrorCode::unavailable);
  EXPECT_TRUE(Status().prefixed("x").ok());
  EXPECT_EQ(number(false).status().code(), ErrorCode::invalid_argument);
}

TEST(Result, ValueOfAnErrorIsALogicError) {
  Result<int> r = Error{"nope"};
  EXPECT_THROW((void)r.value(), std::logic_error);
  Result<int> from_ok = Status();
  EXPECT_EQ(from_ok.code(), ErrorCode::internal);
}

TEST(Result, CodesHaveStableNames) {
  EXPECT_EQ(to_string(ErrorCode::not_supported), "not_supported");
  EXPECT_EQ(to_string(ErrorCode::invalid_config), "invalid_config");
}

}  // namespace
}  // namespace tandem::sdk
