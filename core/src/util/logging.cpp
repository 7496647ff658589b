#include "util/logging.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

namespace tandem::core {
namespace {

std::atomic<int> g_min_level{static_cast<int>(sdk::LogLevel::info)};
std::mutex g_write_mu;

const char* level_name(sdk::LogLevel l) {
  switch (l) {
    case sdk::LogLevel::debug: return "debug";
    case sdk::LogLevel::info: return "info ";
    case sdk::LogLevel::warn: return "warn ";
    case sdk::LogLevel::error: return "error";
  }
  return "?    ";
}

// UTC, millisecond precision, ISO 8601: sortable and unambiguous across nodes.
std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

}  // namespace

void set_log_level(sdk::LogLevel level) { g_min_level = static_cast<int>(level); }

sdk::LogLevel log_level_from_env() {
  const char* v = std::getenv("TANDEM_LOG_LEVEL");
  std::string s = v ? v : "";
  if (s == "debug") return sdk::LogLevel::debug;
  if (s == "warn") return sdk::LogLevel::warn;
  if (s == "error") return sdk::LogLevel::error;
  return sdk::LogLevel::info;
}

void log_line(sdk::LogLevel level, std::string_view component, std::string_view message) {
  if (static_cast<int>(level) < g_min_level.load()) return;
  std::string line;
  line.reserve(48 + component.size() + message.size());
  line += timestamp();
  line += ' ';
  line += level_name(level);
  line += " [";
  line += component;
  line += "] ";
  // A multi-line message stays one log event: continuation lines are indented.
  for (char c : message) {
    line += c;
    if (c == '\n') line += "    ";
  }
  line += '\n';
  std::lock_guard l(g_write_mu);
  std::size_t off = 0;
  while (off < line.size()) {
    ssize_t w = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (w <= 0) break;  // stderr gone: nothing better to report to
    off += static_cast<std::size_t>(w);
  }
}

}  // namespace tandem::core
