// A store's configuration: the schema a plugin declares as data, and the
// validated values the host hands to Plugin::configure.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/sdk/result.h"

namespace tandem::sdk {

// How a key's TOML value is read.
//   duration: integer seconds or a string such as "500ms", "60s", "5m", "1h".
//   size:     integer bytes or a string such as "512KiB", "64MiB", "1GiB", "10MB".
//   path:     a string holding a filesystem path; see PathRule for relative paths.
//   port:     an integer TCP port, 1-65535 unless min/max say otherwise
//             (e.g. min = "0" for "0 = off").
//   table_array: an array of tables, each validated against `children`.
enum class ValueType { string, integer, number, boolean, duration, size, path, port, string_array, table_array };

std::string_view to_string(ValueType t);

// What a path key accepts. The host and StoreConfig::from_json apply the same
// rule, so a value that passes in a test passes in the daemon.
enum class PathRule {
  // A relative path is resolved against the directory of the config file
  // (from_json: against the current working directory). The plugin always
  // sees an absolute path.
  relative_to_config,
  // Must be written as an absolute path; a relative one is refused.
  absolute,
  // A program: a bare name ("rsync") is kept as is and looked up in PATH when
  // run; anything with a '/' must be absolute.
  program,
};

// One key of a store table, filled with designated initializers:
//
//   {.name = "timeout", .type = ValueType::duration, .default_value = "30s",
//    .description = "I/O timeout", .min = "1s", .max = "1h"}
//
// default_value, min and max are written as TOML would write the value
// ("60s" for a duration, "4KiB" for a size, "5432" for an integer); empty
// when absent. The host checks type, choices, min/max and the path rule before
// configure() runs and names file:line:col; StoreConfig's accessors apply the
// same checks (one function, check_value), so every plugin reports them with
// the same words.
struct ConfigKey {
  std::string name{};
  ValueType type = ValueType::string;
  std::string default_value{};
  bool required = false;
  std::string description{};
  std::vector<std::string> choices{};                 // string keys: the only values allowed
  std::string min{};                                  // integer, number, port, duration, size: lowest allowed value
  std::string max{};                                  // ... highest allowed value
  PathRule path_rule = PathRule::relative_to_config;  // path keys only
  // path keys only: the file holds a secret (a password, a key). Before
  // configure() the host (daemon and `tandemd --check` alike) refuses a value
  // that does not name a non-empty regular file readable only by its owner
  // (sdk::load_secret_file, check_secret_files); StoreConfig::path() checks
  // the same. The schema-only check of a sample.toml does not read files.
  bool secret = false;
  std::vector<ConfigKey> children{};  // table_array only
};

using ConfigSchema = std::vector<ConfigKey>;

// Thrown by StoreConfig accessors and by plugins for a semantic config error;
// what() already names file:line:column of the key when the host knows it.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Checks a value (JSON as converted from TOML: a duration or size may still be
// its string form) against key's type, choices, min/max and path rule. The
// error message names no key or place: callers prefix it ("key 'x': ...").
Status check_value(const ConfigKey& key, const nlohmann::json& value);

class StoreConfig;
// Reads every secret key's file (ConfigKey::secret) with load_secret_file:
// one "FILE:LINE:COL: store 'NAME': key 'KEY': why" per unusable file.
std::vector<std::string> check_secret_files(const StoreConfig& config);

// The key the host reads from every store table: how often sync() runs.
// Declared here once; plugins give only its default and lower bound in
// PluginInfo and never list it in schema(). An empty default_interval means
// the plugin has no periodic work and the key is not offered.
ConfigKey sync_interval_key(const std::string& default_interval, const std::string& min_interval);
inline constexpr const char* kSyncIntervalKey = "sync_interval";

// `text` with every "{peer}" replaced by the peer's address (store keys such as
// a remote host default to "{peer}" so one table works on both nodes).
std::string substitute_peer(std::string_view text, std::string_view peer_address);
inline constexpr std::string_view kPeerPlaceholder = "{peer}";

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
  // the key's location when the key is missing with no default or malformed
  // (what the host's schema check refuses before configure() ever runs: in
  // the daemon they do not throw; on from_json values in tests they may).
  std::string string(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  double number(std::string_view key) const;
  bool boolean(std::string_view key) const;
  std::chrono::milliseconds duration(std::string_view key) const;
  std::uint64_t size(std::string_view key) const;
  int port(std::string_view key) const;
  // The enum value a string key with `choices` names. `values` maps each
  // choice once; a choice missing from it is a plugin bug, reported as such.
  template <class Enum>
  Enum choice(std::string_view key, std::initializer_list<std::pair<std::string_view, Enum>> values) const {
    const std::string text = string(key);
    for (const auto& [name, value] : values)
      if (name == text) return value;
    fail(key, "'" + text + "' has no meaning in this plugin version (plugin bug: schema choices and code differ)");
  }
  // A path key's value after its PathRule (absolute unless a bare program name).
  std::string path(std::string_view key) const;
  // The host's sync_interval key (zero when the plugin has none).
  std::chrono::milliseconds sync_interval() const;
  std::vector<std::string> strings(std::string_view key) const;
  // Elements of a table_array key, each a StoreConfig over the child schema.
  std::vector<StoreConfig> tables(std::string_view key) const;

  // "file:line:col" of a key, or "store 'NAME'" when unknown.
  std::string where(std::string_view key) const;
  // The error configure() returns for a bad value, ErrorCode::invalid_config
  // with "<where>: store 'NAME', key 'KEY': MESSAGE":
  //   if (port == peer_port) return config.error("port", "must differ from peer_port");
  Error error(std::string_view key, std::string_view message) const;
  // Throws ConfigError with error()'s message: the accessors' way; a plugin returns error() instead.
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
