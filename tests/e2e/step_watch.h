// Deadlines for a fault schedule (tests/e2e/fault_schedule.cpp): every step
// of the schedule, every operator action and every wait inside it runs in a
// Phase with a budget, and no wait may outlast the innermost phase's
// deadline. A schedule that gets stuck fails with where it stuck (the step,
// what it waited for) instead of hanging until ctest kills it without a word.
//
// Two layers:
//   - the waits themselves ask remaining() and give up when it is zero,
//     throwing with describe() (the normal way a run fails);
//   - a watchdog thread for a call that ignores its deadline (a child that
//     never answers, a blocking read): once the innermost deadline is `grace`
//     past, it calls `on_stuck` once (which collects both nodes' status and
//     logs and unblocks the main thread, e.g. by killing the hosts' processes)
//     and records the message; the main thread throws it at its next
//     check(). If the main thread still does not come back within `grace`
//     more, the watchdog prints the message and ends the process (exit 1).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tandem::e2e {

// A deadline passed: the run stops; what() says where.
struct Stuck : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class StepWatch {
 public:
  using Clock = std::chrono::steady_clock;

  // on_stuck(where) runs on the watchdog thread and returns the diagnostics
  // to add to the message (status, logs).
  StepWatch(std::chrono::seconds grace, std::function<std::string(const std::string&)> on_stuck);
  ~StepWatch();
  StepWatch(const StepWatch&) = delete;
  StepWatch& operator=(const StepWatch&) = delete;

  // One phase: from construction until destruction, `what` must finish
  // within `budget` (and within every enclosing phase). Main thread only.
  class Phase {
   public:
    Phase(StepWatch& watch, std::string what, Clock::duration budget);
    ~Phase();
    Phase(const Phase&) = delete;
    Phase& operator=(const Phase&) = delete;

   private:
    StepWatch& watch_;
  };

  // Time left until the innermost deadline (zero when passed, so the caller
  // can say what it saw last); throws Stuck only when the watchdog fired.
  // Main thread.
  Clock::duration remaining();
  // Throws Stuck when a deadline passed (the watchdog's message, or "deadline
  // passed" with describe()). Main thread.
  void check();
  // "step 2/3 (partition, ...) > promote --force on beta: waiting 240 s, 12 s
  // left", every open phase from outermost in. Any thread.
  std::string describe() const;
  // The watchdog's message once it fired (where, and what on_stuck returned).
  std::optional<std::string> stuck() const;

 private:
  struct Open {
    std::string what;
    Clock::time_point since, deadline;
  };
  std::string describe_locked(Clock::time_point now) const;
  void watchdog();

  const std::chrono::seconds grace_;
  std::function<std::string(const std::string&)> on_stuck_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Open> open_;            // under mu_
  std::optional<std::string> stuck_;  // under mu_: set once by the watchdog
  bool stop_ = false;                 // under mu_
  std::thread thread_;                // last: started when the rest is ready
};

}  // namespace tandem::e2e
