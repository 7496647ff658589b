// The host's log: one line per event on stderr, "TIME LEVEL [component] message".
// Lines from several threads never interleave (one write per line, under a lock).
#pragma once

#include <string>
#include <string_view>

#include "tandem/sdk/host_context.h"

namespace tandem::core {

// Lines below this level are dropped. Default info; TANDEM_LOG_LEVEL=debug|info|warn|error.
void set_log_level(sdk::LogLevel level);
sdk::LogLevel log_level_from_env();

// component is "tandemd", "api", a store name, ...
void log_line(sdk::LogLevel level, std::string_view component, std::string_view message);

inline void log_info(std::string_view component, std::string_view m) { log_line(sdk::LogLevel::info, component, m); }
inline void log_warn(std::string_view component, std::string_view m) { log_line(sdk::LogLevel::warn, component, m); }
inline void log_error(std::string_view component, std::string_view m) { log_line(sdk::LogLevel::error, component, m); }
inline void log_debug(std::string_view component, std::string_view m) { log_line(sdk::LogLevel::debug, component, m); }

// The sdk::Logger a store's plugin writes through: every line carries the store name.
class StoreLogger final : public sdk::Logger {
 public:
  explicit StoreLogger(std::string store_name) : store_(std::move(store_name)) {}
  void log(sdk::LogLevel level, std::string_view message) override { log_line(level, store_, message); }

 private:
  std::string store_;
};

}  // namespace tandem::core
