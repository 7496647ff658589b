#include "cli/status_watch.h"

#include <pthread.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <iomanip>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tandem::cli {
namespace {

// The signals that end a watch. Blocked and taken with sigtimedwait, so an
// interrupt is seen between frames and never tears one in half; the previous
// mask is restored on return.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set_, s);
    pthread_sigmask(SIG_BLOCK, &set_, &previous_);
  }
  ~StopSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Waits up to `seconds` (0: only looks); true when a stop signal arrived.
  bool wait(double seconds) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(std::max(0.0, seconds));
    for (;;) {
      const double left = std::chrono::duration<double>(until - std::chrono::steady_clock::now()).count();
      timespec ts{};
      if (left > 0) {
        ts.tv_sec = static_cast<time_t>(left);
        ts.tv_nsec = static_cast<long>((left - static_cast<double>(ts.tv_sec)) * 1e9);
      }
      if (sigtimedwait(&set_, nullptr, &ts) > 0) return true;
      if (errno == EAGAIN) return false;  // the time is up
      // EINTR: another signal (SIGWINCH, SIGCHLD) woke us; wait out the rest.
    }
  }

 private:
  sigset_t set_{};
  sigset_t previous_{};
};

std::string local_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::ostringstream s;
  s << std::put_time(&tm, "%Y-%m-%d %H:%M:%S %Z");
  return s.str();
}

}  // namespace

int watch_frames(const WatchOptions& options, const std::function<int(std::ostream&, std::ostream&)>& frame,
                 std::ostream& out, bool out_is_terminal) {
  StopSignals stop;
  bool first = true;
  while (!stop.wait(0)) {
    const auto started = std::chrono::steady_clock::now();
    std::ostringstream body, problems;
    const int rc = frame(body, problems);
    std::ostringstream screen;
    if (options.json) {
      // One document per line; a failed fetch is a document too, so a
      // consumer reading lines sees the outage instead of a gap.
      if (rc == 0) {
        screen << body.str();
      } else {
        std::string why = problems.str();
        while (!why.empty() && why.back() == '\n') why.pop_back();
        screen << nlohmann::json{{"error", why}}.dump() << "\n";
      }
    } else {
      if (out_is_terminal)
        screen << "\033[H\033[2J";  // cursor home, clear: the new frame replaces the old
      else if (!first)
        screen << "\n";
      screen << "Every " << std::fixed << std::setprecision(1) << options.interval_seconds << "s: " << options.title
             << "    " << local_time_now() << "\n\n"
             << body.str() << problems.str();
    }
    out << screen.str() << std::flush;
    if (!out) return 1;
    first = false;
    const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (stop.wait(options.interval_seconds - spent)) break;
  }
  return 0;
}

}  // namespace tandem::cli
