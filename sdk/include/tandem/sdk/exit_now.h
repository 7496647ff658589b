// Ending the process as a crash would, for code that must not run any
// at-exit work: a forked child whose exec failed, a simulated crash.
#pragma once

namespace tandem::sdk {

// Ends the process at once with `status`: no atexit handlers, no flushing,
// and no sanitizer at-exit checks. _exit() is not enough under
// ThreadSanitizer: its interceptor runs the at-exit checks and reports every
// thread that has finished but is not joined yet (its owner would join it
// later) as a thread leak.
[[noreturn]] void exit_now(int status) noexcept;

}  // namespace tandem::sdk
