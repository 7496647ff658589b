// A store's configuration: the schema a plugin declares as data, and the
// validated values the host hands to Plugin::configure.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/sdk/result.h"

namespace tandem::sdk {

// How a key's TOML value is read.
//   duration: integer seconds or a string such as "500ms", "60s", "5m", "1h".
//   size:     integer bytes or a string such as "512KiB", "64MiB", "1GiB", "10MB".
//   path:     a string holding a filesystem path (relative paths are allowed by
//             the host; the plugin decides whether it wants absolute ones).
//   table_array: an array of tables, each validated against `children`.
enum class ValueType { string, integer, number, boolean, duration, size, path, string_array, table_array };

std::string_view to_string(ValueType t);

// One key of a store's table. default_value is written as TOML would write it
// (e.g. "60s" for a duration given as a string, "true", "5432"); empty when
// the key has no default.
struct ConfigKey {
  std::string name;
  ValueType type = ValueType::string;
  std::string default_value;
  bool required = false;
  std::string description;
  std::vector<ConfigKey> children;  // for table_array only
};

using ConfigSchema = std::vector<ConfigKey>;

// Thrown by StoreConfig accessors and by plugins for a semantic config error;
// what() already names file:line:column of the key when the host knows it.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parse "500ms", "60s", "5m", "1h", "2d" or a bare number of seconds.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);
// Parse "4096", "512KiB", "64MiB", "1GiB", "10KB", "10MB", "1GB" (B suffix optional).
Result<std::uint64_t> parse_size(std::string_view text);

// The validated values of one store table (or one element of a table_array).
// Values are JSON as converted from TOML; accessors apply the schema's
// defaults and units. Keys are looked up by their schema name.
class StoreConfig {
 public:
  StoreConfig() = default;
  // locations maps a key ("path", or "indices[0].alias") to "file:line:col".
  StoreConfig(std::string store_name, ConfigSchema schema, nlohmann::json values,
              std::map<std::string, std::string> locations = {}, std::string key_prefix = {});

  // Test helper: values written as JSON (durations and sizes may be strings).
  static StoreConfig from_json(std::string store_name, ConfigSchema schema, nlohmann::json values);

  const std::string& store_name() const { return store_name_; }
  const ConfigSchema& schema() const { return schema_; }
  const nlohmann::json& values() const { return values_; }

  // True when the key was written in the file (defaults do not count).
  bool has(std::string_view key) const;

  // Typed accessors; fall back to the schema default; throw ConfigError naming
  // the key's location when the key is missing with no default or malformed.
  std::string string(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  double number(std::string_view key) const;
  bool boolean(std::string_view key) const;
  std::chrono::milliseconds duration(std::string_view key) const;
  std::uint64_t size(std::string_view key) const;
  std::vector<std::string> strings(std::string_view key) const;
  // Elements of a table_array key, each a StoreConfig over the child schema.
  std::vector<StoreConfig> tables(std::string_view key) const;

  // "file:line:col" of a key, or "store 'NAME'" when unknown.
  std::string where(std::string_view key) const;
  // Throws ConfigError: "<where>: store 'NAME', key 'KEY': MESSAGE".
  [[noreturn]] void fail(std::string_view key, std::string_view message) const;

 private:
  const ConfigKey* find_key(std::string_view key) const;
  nlohmann::json value_or_default(std::string_view key) const;

  std::string store_name_;
  ConfigSchema schema_;
  nlohmann::json values_ = nlohmann::json::object();
  std::map<std::string, std::string> locations_;
  std::string key_prefix_;  // "indices[0]." for children
};

}  // namespace tandem::sdk
