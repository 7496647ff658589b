// One log line per interval for an event a client can repeat at will (a
// wrong token or password, a full connection table): a flood of attempts
// must not become a flood of log lines, yet the log still says how many
// there were. The line that gets through carries the count of those
// suppressed since the previous one.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace tandem::sdk {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(std::chrono::milliseconds interval = std::chrono::seconds(10)) : interval_(interval) {}

  // nullopt: suppress this line (it is counted). Otherwise log it; the value
  // is how many were suppressed since the last line that was logged.
  std::optional<std::uint64_t> pass(Clock::time_point now = Clock::now()) {
    std::lock_guard l(mu_);
    if (logged_once_ && now - last_ < interval_) {
      ++suppressed_;
      return std::nullopt;
    }
    logged_once_ = true;
    last_ = now;
    std::uint64_t n = suppressed_;
    suppressed_ = 0;
    return n;
  }

  // " (N similar lines suppressed in the last 10s)", or "" for none.
  std::string suffix(std::uint64_t suppressed) const {
    if (suppressed == 0) return {};
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(interval_).count();
    return " (" + std::to_string(suppressed) + " similar line" + (suppressed == 1 ? "" : "s") +
           " suppressed since the last one; at most one every " + std::to_string(seconds) + "s)";
  }

 private:
  std::mutex mu_;
  std::chrono::milliseconds interval_;
  Clock::time_point last_{};
  bool logged_once_ = false;
  std::uint64_t suppressed_ = 0;
};

}  // namespace tandem::sdk
