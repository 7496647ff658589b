// tandemctl status --watch: the status redrawn every interval until the
// operator interrupts it (like `watch tandemctl status` or `patronictl list -W`).
#pragma once

#include <functional>
#include <iosfwd>
#include <string>

namespace tandem::cli {

struct WatchOptions {
  double interval_seconds = 2;  // between the starts of two frames; checked by the caller (> 0)
  bool json = false;            // one compact JSON document per line, no header, no screen control
  std::string title;            // "tandemctl status", shown in each frame's header
};

// Draws `frame` into a buffer every interval and writes it to `out` whole: on
// a terminal over the previous one (cursor home, screen cleared), elsewhere
// after a blank line. A frame that fails (its exit code is not 0) is shown
// with what `frame` wrote to its error stream, and the next one is tried: a
// daemon restarting is what a watcher wants to see. Runs until SIGINT,
// SIGTERM or SIGHUP, then returns 0; returns 1 when `out` can no longer be
// written. Blocks those signals in the calling thread while it runs.
int watch_frames(const WatchOptions& options, const std::function<int(std::ostream& out, std::ostream& err)>& frame,
                 std::ostream& out, bool out_is_terminal);

}  // namespace tandem::cli
