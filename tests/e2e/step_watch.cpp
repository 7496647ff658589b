#include "step_watch.h"

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace tandem::e2e {

namespace {
double seconds(StepWatch::Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

StepWatch::StepWatch(std::chrono::seconds grace, std::function<std::string(const std::string&)> on_stuck)
    : grace_(grace), on_stuck_(std::move(on_stuck)), thread_([this] { watchdog(); }) {}

StepWatch::~StepWatch() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

StepWatch::Phase::Phase(StepWatch& watch, std::string what, Clock::duration budget) : watch_(watch) {
  // Before the push: a constructor that throws must leave no phase open.
  watch_.check();
  const auto now = Clock::now();
  {
    std::lock_guard l(watch_.mu_);
    // Never later than an enclosing phase's deadline.
    auto deadline = now + budget;
    if (!watch_.open_.empty()) deadline = std::min(deadline, watch_.open_.back().deadline);
    watch_.open_.push_back({std::move(what), now, deadline});
  }
  watch_.wake_.notify_all();
}

StepWatch::Phase::~Phase() {
  {
    std::lock_guard l(watch_.mu_);
    watch_.open_.pop_back();
  }
  watch_.wake_.notify_all();
}

StepWatch::Clock::duration StepWatch::remaining() {
  std::lock_guard l(mu_);
  if (stuck_) throw Stuck(*stuck_);
  if (open_.empty()) return Clock::duration::max();
  return std::max(Clock::duration::zero(), open_.back().deadline - Clock::now());
}

void StepWatch::check() {
  std::unique_lock l(mu_);
  if (stuck_) throw Stuck(*stuck_);
  const auto now = Clock::now();
  if (!open_.empty() && now > open_.back().deadline) throw Stuck("deadline passed: " + describe_locked(now));
}

std::optional<std::string> StepWatch::stuck() const {
  std::lock_guard l(mu_);
  return stuck_;
}

std::string StepWatch::describe() const {
  std::lock_guard l(mu_);
  return describe_locked(Clock::now());
}

std::string StepWatch::describe_locked(Clock::time_point now) const {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1);
  for (std::size_t i = 0; i < open_.size(); ++i) {
    const auto& p = open_[i];
    o << (i ? " > " : "") << p.what << " (for " << seconds(now - p.since) << " s, ";
    if (now > p.deadline)
      o << "deadline passed " << seconds(now - p.deadline) << " s ago)";
    else
      o << seconds(p.deadline - now) << " s left)";
  }
  return open_.empty() ? std::string("between steps") : o.str();
}

void StepWatch::watchdog() {
  std::unique_lock l(mu_);
  while (!stop_) {
    wake_.wait_for(l, std::chrono::seconds(1));
    if (stop_ || stuck_ || open_.empty()) continue;
    const auto now = Clock::now();
    if (now < open_.back().deadline + grace_) continue;
    // The main thread is inside a call that ignores its deadline.
    const std::string where = describe_locked(now);
    l.unlock();
    std::string message = "stuck (no answer past the deadline): " + where;
    try {
      message += "\n" + on_stuck_(where);
    } catch (const std::exception& e) {
      message += "\n(collecting the diagnostics failed: " + std::string(e.what()) + ")";
    }
    l.lock();
    stuck_ = message;
    // Give the main thread `grace` to come back and fail the run normally.
    const auto started = open_.size();
    if (wake_.wait_for(l, grace_, [&] { return stop_ || open_.size() < started; })) continue;
    std::cout << "FAILED: " << message << "\nthe main thread did not return; ending the process" << std::endl;
    std::_Exit(1);
  }
}

}  // namespace tandem::e2e
