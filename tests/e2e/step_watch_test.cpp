// StepWatch (step_watch.h): a wait learns its deadline passed and says where;
// a call that ignores its deadline is found by the watchdog, which runs
// on_stuck once and makes the next check fail with its message.
#include "step_watch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace tandem::e2e {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(StepWatch, APassedDeadlineIsNamedWithEveryOpenPhase) {
  std::atomic<int> fired{0};
  StepWatch watch(60s, [&](const std::string&) {
    ++fired;
    return std::string();
  });
  StepWatch::Phase step(watch, "step 2/3 (partition)", 60s);
  StepWatch::Phase wait(watch, "waiting for beta to fence", 1ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(watch.remaining(), StepWatch::Clock::duration::zero());
  try {
    watch.check();
    FAIL() << "check() passed after the deadline";
  } catch (const Stuck& e) {
    EXPECT_TRUE(contains(e.what(), "step 2/3 (partition) (for ")) << e.what();
    EXPECT_TRUE(contains(e.what(), " > waiting for beta to fence (for ")) << e.what();
    EXPECT_TRUE(contains(e.what(), "deadline passed")) << e.what();
  }
  EXPECT_EQ(fired, 0) << "the watchdog fired inside its grace";
}

TEST(StepWatch, AnInnerPhaseNeverOutlastsItsStep) {
  StepWatch watch(60s, [](const std::string&) { return std::string(); });
  StepWatch::Phase step(watch, "step", 1s);
  StepWatch::Phase wait(watch, "a long wait", 1h);
  EXPECT_LE(watch.remaining(), StepWatch::Clock::duration(1s));
}

TEST(StepWatch, TheWatchdogFindsACallThatIgnoresItsDeadline) {
  std::atomic<int> fired{0};
  std::string seen_where;
  StepWatch watch(1s, [&](const std::string& where) {
    seen_where = where;
    ++fired;
    return std::string("alpha: role primary\nbeta: not answering");
  });
  {
    StepWatch::Phase step(watch, "tandemctl rejoin on alpha", 10ms);
    // The "call": it returns only when on_stuck has run (as a killed child would).
    for (int i = 0; i < 100 && fired == 0; ++i) std::this_thread::sleep_for(100ms);
    ASSERT_EQ(fired, 1);
    EXPECT_TRUE(contains(seen_where, "tandemctl rejoin on alpha")) << seen_where;
    ASSERT_TRUE(watch.stuck().has_value());
    try {
      (void)watch.remaining();
      FAIL() << "remaining() did not report the watchdog's finding";
    } catch (const Stuck& e) {
      EXPECT_TRUE(contains(e.what(), "stuck (no answer past the deadline): tandemctl rejoin on alpha")) << e.what();
      EXPECT_TRUE(contains(e.what(), "beta: not answering")) << e.what();
    }
  }
  EXPECT_EQ(fired, 1) << "on_stuck runs once";
}

}  // namespace
}  // namespace tandem::e2e
