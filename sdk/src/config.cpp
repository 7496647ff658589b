#include "tandem/sdk/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "tandem/sdk/file_util.h"

namespace tandem::sdk {
namespace {

// 'text', built by appending: GCC 12 at -O2 warns falsely (-Wrestrict, GCC
// bug 105651) on "'" + std::string(...) temporaries.
std::string quoted(std::string_view text) {
  std::string q;
  q.reserve(text.size() + 2);
  q += '\'';
  q += text;
  q += '\'';
  return q;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Splits "64MiB" into 64 and "MiB"; accepts a decimal fraction ("1.5s").
bool split_number_unit(std::string_view text, double& number, std::string& unit) {
  std::string t = trim(text);
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  if (i == 0) return false;
  try {
    size_t used = 0;
    number = std::stod(t.substr(0, i), &used);
    if (used != i) return false;
  } catch (...) {
    return false;
  }
  unit = trim(std::string_view(t).substr(i));
  return std::isfinite(number) && number >= 0;
}

// A duration value as the host stores it: integer seconds, a number of
// seconds, or the string form.
// Largest duration in milliseconds and size in bytes a value may reach: past
// them the conversion would wrap (18446744073709552 seconds once became 384 ms).
constexpr double kMaxMilliseconds = 9.2e18;
constexpr double kMaxBytes = 1.8e19;

// Marked out_of_range-like (invalid_argument) so check_value can name the
// key's allowed range instead.
Error too_large(const std::string& what) {
  return Error{what + " is too large (it would overflow)", ErrorCode::invalid_argument};
}

Result<std::chrono::milliseconds> duration_of(const nlohmann::json& v) {
  if (v.is_number_integer()) {
    if (v.get<std::int64_t>() < 0) return Error{"a duration cannot be negative"};
    if (static_cast<double>(v.get<std::int64_t>()) * 1000 >= kMaxMilliseconds) return too_large(v.dump() + " seconds");
    return std::chrono::milliseconds(std::chrono::seconds(v.get<std::int64_t>()));
  }
  if (v.is_number()) {
    if (v.get<double>() < 0) return Error{"a duration cannot be negative"};
    if (!std::isfinite(v.get<double>()) || v.get<double>() * 1000 >= kMaxMilliseconds)
      return too_large(v.dump() + " seconds");
    return std::chrono::milliseconds(static_cast<std::int64_t>(v.get<double>() * 1000));
  }
  if (!v.is_string()) return Error{"expected a duration such as \"60s\""};
  return parse_duration(v.get<std::string>());
}

Result<std::uint64_t> size_of(const nlohmann::json& v) {
  if (v.is_number_integer()) {
    if (v.get<std::int64_t>() < 0) return Error{"a size cannot be negative"};
    return v.get<std::uint64_t>();
  }
  if (!v.is_string()) return Error{"expected a size such as \"64MiB\""};
  return parse_size(v.get<std::string>());
}

std::string shown(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// "must be between MIN and MAX", "must be at least MIN", "must be at most MAX".
std::string range_rule(const ConfigKey& key, bool below) {
  if (!key.min.empty() && !key.max.empty()) return "must be between " + key.min + " and " + key.max;
  if (below) return key.min == "0" ? std::string("cannot be negative") : "must be at least " + key.min;
  return "must be at most " + key.max;
}

// "must be at least MIN" / "must be at most MAX" for any ordered value; the
// bounds are parsed with the same parser as the value (plugin bug if not).
template <class T, class Parse>
Status check_bounds(const ConfigKey& key, const T& value, const nlohmann::json& raw, Parse parse) {
  bool below = false, above = false;
  if (!key.min.empty()) {
    auto lo = parse(key.min);
    if (!lo) return Status::error(ErrorCode::internal, "schema min '" + key.min + "' is malformed (plugin bug)");
    below = value < *lo;
  }
  if (!key.max.empty()) {
    auto hi = parse(key.max);
    if (!hi) return Status::error(ErrorCode::internal, "schema max '" + key.max + "' is malformed (plugin bug)");
    above = value > *hi;
  }
  if (!below && !above) return {};
  return Status::error(ErrorCode::invalid_config, range_rule(key, below) + ", got " + shown(raw));
}

// A value that failed to convert: one too large to represent is outside the
// key's range, so the operator is told the range, not only "overflow".
Status conversion_error(const ConfigKey& key, const nlohmann::json& raw, const Error& e) {
  if (e.code == ErrorCode::invalid_argument && !key.max.empty())
    return Status::error(ErrorCode::invalid_config, range_rule(key, false) + ", got " + shown(raw));
  return Status::error(ErrorCode::invalid_config, e.message);
}

Result<std::int64_t> integer_text(const std::string& text) {
  std::int64_t out = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || end != text.data() + text.size()) return Error{"not an integer"};
  return out;
}

Result<double> number_text(const std::string& text) {
  try {
    size_t used = 0;
    double d = std::stod(text, &used);
    if (used == text.size()) return d;
  } catch (...) {}
  return Error{"not a number"};
}

Status invalid(std::string message) { return Status::error(ErrorCode::invalid_config, std::move(message)); }

std::string choice_list(const std::vector<std::string>& choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += "\"" + choices[i] + "\"";
  }
  return out;
}

// Makes relative relative_to_config paths absolute against `base`, the way
// the host does against the config file's directory.
void resolve_paths(const ConfigSchema& schema, nlohmann::json& values, const std::filesystem::path& base) {
  if (!values.is_object()) return;
  for (const auto& k : schema) {
    auto it = values.find(k.name);
    if (it == values.end()) continue;
    if (k.type == ValueType::path && k.path_rule == PathRule::relative_to_config && it->is_string() &&
        !it->get<std::string>().empty() && std::filesystem::path(it->get<std::string>()).is_relative())
      *it = (base / it->get<std::string>()).lexically_normal().string();
    if (k.type == ValueType::table_array && it->is_array())
      for (auto& element : *it) resolve_paths(k.children, element, base);
  }
}

}  // namespace

Status check_value(const ConfigKey& key, const nlohmann::json& value) {
  switch (key.type) {
    case ValueType::string: {
      if (!value.is_string()) return invalid("expected a string");
      if (!key.choices.empty() &&
          std::find(key.choices.begin(), key.choices.end(), value.get<std::string>()) == key.choices.end())
        return invalid("must be " + choice_list(key.choices) + ", got \"" + value.get<std::string>() + "\"");
      return {};
    }
    case ValueType::integer:
      if (!value.is_number_integer()) return invalid("expected an integer");
      return check_bounds(key, value.get<std::int64_t>(), value, integer_text);
    case ValueType::number:
      if (!value.is_number()) return invalid("expected a number");
      return check_bounds(key, value.get<double>(), value, number_text);
    case ValueType::port: {
      if (!value.is_number_integer()) return invalid("expected a TCP port (an integer)");
      auto lo = key.min.empty() ? Result<std::int64_t>(1) : integer_text(key.min);
      auto hi = key.max.empty() ? Result<std::int64_t>(65535) : integer_text(key.max);
      if (!lo || !hi) return Status::error(ErrorCode::internal, "schema port bounds are malformed (plugin bug)");
      auto v = value.get<std::int64_t>();
      if (v < *lo || v > *hi) {
        std::string range = *lo == 0 ? "0 (off) or a TCP port between 1 and " + std::to_string(*hi)
                                     : "a TCP port between " + std::to_string(*lo) + " and " + std::to_string(*hi);
        return invalid("must be " + range + ", got " + std::to_string(v));
      }
      return {};
    }
    case ValueType::boolean:
      if (!value.is_boolean()) return invalid("expected true or false");
      return {};
    case ValueType::duration: {
      auto d = duration_of(value);
      if (!d) return conversion_error(key, value, d.error());
      return check_bounds(key, *d, value, [](const std::string& t) { return parse_duration(t); });
    }
    case ValueType::size: {
      auto n = size_of(value);
      if (!n) return conversion_error(key, value, n.error());
      return check_bounds(key, *n, value, [](const std::string& t) { return parse_size(t); });
    }
    case ValueType::path: {
      if (!value.is_string() || value.get<std::string>().empty())
        return invalid("is empty; give an absolute path such as \"/etc/myapp\"");
      const std::string text = value.get<std::string>();
      bool bare_program = key.path_rule == PathRule::program && text.find('/') == std::string::npos;
      if (!bare_program && key.path_rule != PathRule::relative_to_config && std::filesystem::path(text).is_relative())
        return invalid("'" + text + "' is relative; give an absolute path");
      return {};
    }
    case ValueType::string_array:
      if (!value.is_array()) return invalid("expected an array of strings");
      for (const auto& e : value)
        if (!e.is_string()) return invalid("expected an array of strings");
      return {};
    case ValueType::table_array:
      if (!value.is_array()) return invalid("expected an array of tables");
      return {};
  }
  return {};
}

std::string substitute_peer(std::string_view text, std::string_view peer_address) {
  std::string out(text);
  for (size_t pos = out.find(kPeerPlaceholder); pos != std::string::npos;
       pos = out.find(kPeerPlaceholder, pos + peer_address.size()))
    out.replace(pos, kPeerPlaceholder.size(), peer_address);
  return out;
}

ConfigKey sync_interval_key(const std::string& default_interval, const std::string& min_interval) {
  return {.name = kSyncIntervalKey,
          .type = ValueType::duration,
          .default_value = default_interval,
          .description = "How often the host runs the store's sync() (health, lag, periodic work)",
          .min = min_interval.empty() ? std::string("10ms") : min_interval,
          .max = "1d"};
}

std::string_view to_string(ValueType t) {
  switch (t) {
    case ValueType::string: return "string";
    case ValueType::integer: return "integer";
    case ValueType::number: return "number";
    case ValueType::boolean: return "boolean";
    case ValueType::duration: return "duration";
    case ValueType::size: return "size";
    case ValueType::path: return "path";
    case ValueType::port: return "port";
    case ValueType::string_array: return "array of strings";
    case ValueType::table_array: return "array of tables";
  }
  return "?";
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  double n = 0;
  std::string unit;
  if (!split_number_unit(text, n, unit))
    return Error{quoted(text) + " is not a duration (expected e.g. \"500ms\", \"60s\", \"5m\", \"1h\")"};
  double ms_per = 0;
  if (unit.empty() || unit == "s")
    ms_per = 1000;
  else if (unit == "ms")
    ms_per = 1;
  else if (unit == "m" || unit == "min")
    ms_per = 60'000;
  else if (unit == "h")
    ms_per = 3'600'000;
  else if (unit == "d")
    ms_per = 86'400'000;
  else
    return Error{quoted(text) + " has unknown duration unit '" + unit + "' (use ms, s, m, h or d)"};
  if (n * ms_per >= kMaxMilliseconds) return too_large(quoted(text));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(n * ms_per)));
}

Result<std::uint64_t> parse_size(std::string_view text) {
  double n = 0;
  std::string unit;
  if (!split_number_unit(text, n, unit))
    return Error{quoted(text) + " is not a size (expected e.g. \"4096\", \"512KiB\", \"64MiB\", \"1GiB\")"};
  std::string u;
  for (char c : unit) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!u.empty() && u.back() == 'b') u.pop_back();
  double mult = 0;
  if (u.empty())
    mult = 1;
  else if (u == "ki")
    mult = 1024.0;
  else if (u == "mi")
    mult = 1024.0 * 1024;
  else if (u == "gi")
    mult = 1024.0 * 1024 * 1024;
  else if (u == "ti")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else if (u == "k")
    mult = 1e3;
  else if (u == "m")
    mult = 1e6;
  else if (u == "g")
    mult = 1e9;
  else if (u == "t")
    mult = 1e12;
  else
    return Error{quoted(text) + " has unknown size unit '" + unit + "' (use B, KiB, MiB, GiB, KB, MB, GB)"};
  if (n * mult >= kMaxBytes) return too_large(quoted(text));
  return static_cast<std::uint64_t>(std::round(n * mult));
}

StoreConfig::StoreConfig(std::string store_name, ConfigSchema schema, nlohmann::json values,
                         std::map<std::string, std::string> locations, std::string key_prefix)
    : store_name_(std::move(store_name)),
      schema_(std::move(schema)),
      values_(values.is_object() ? std::move(values) : nlohmann::json::object()),
      locations_(std::move(locations)),
      key_prefix_(std::move(key_prefix)) {}

StoreConfig StoreConfig::from_json(std::string store_name, ConfigSchema schema, nlohmann::json values) {
  std::error_code ec;
  resolve_paths(schema, values, std::filesystem::current_path(ec));
  return StoreConfig(std::move(store_name), std::move(schema), std::move(values));
}

const ConfigKey* StoreConfig::find_key(std::string_view key) const {
  for (const auto& k : schema_)
    if (k.name == key) return &k;
  return nullptr;
}

bool StoreConfig::has(std::string_view key) const { return values_.contains(std::string(key)); }

std::string StoreConfig::where(std::string_view key) const {
  auto it = locations_.find(key_prefix_ + std::string(key));
  if (it != locations_.end()) return it->second;
  auto table = locations_.find(key_prefix_.empty() ? std::string("") : key_prefix_.substr(0, key_prefix_.size() - 1));
  if (table != locations_.end()) return table->second;
  return "store '" + store_name_ + "'";
}

Error StoreConfig::error(std::string_view key, std::string_view message) const {
  return Error{where(key) + ": store '" + store_name_ + "', key '" + key_prefix_ + std::string(key) +
                   "': " + std::string(message),
               ErrorCode::invalid_config};
}

void StoreConfig::fail(std::string_view key, std::string_view message) const {
  throw ConfigError(error(key, message).message);
}

nlohmann::json StoreConfig::value_or_default(std::string_view key) const {
  const ConfigKey* k = find_key(key);
  auto it = values_.find(std::string(key));
  if (it != values_.end()) {
    // The host checked this already; from_json values (tests) are checked here.
    if (k)
      if (auto st = check_value(*k, *it); !st.ok()) fail(key, st.message());
    return *it;
  }
  if (!k) fail(key, "not declared in the plugin's schema (plugin bug)");
  if (k->default_value.empty()) {
    if (k->type == ValueType::string_array || k->type == ValueType::table_array) return nlohmann::json::array();
    if (k->type == ValueType::string || k->type == ValueType::path) {
      if (!k->required) return std::string();
    }
    fail(key, "is required (" + k->description + ")");
  }
  const std::string& d = k->default_value;
  switch (k->type) {
    case ValueType::integer:
    case ValueType::port: return std::stoll(d);
    case ValueType::number: return std::stod(d);
    case ValueType::boolean: return d == "true";
    case ValueType::string_array: {
      auto parsed = nlohmann::json::parse(d, nullptr, false);
      return parsed.is_array() ? parsed : nlohmann::json::array();
    }
    default: return d;
  }
}

std::string StoreConfig::string(std::string_view key) const {
  auto v = value_or_default(key);
  if (!v.is_string()) fail(key, "expected a string");
  return v.get<std::string>();
}

std::int64_t StoreConfig::integer(std::string_view key) const {
  auto v = value_or_default(key);
  if (!v.is_number_integer()) fail(key, "expected an integer");
  return v.get<std::int64_t>();
}

double StoreConfig::number(std::string_view key) const {
  auto v = value_or_default(key);
  if (!v.is_number()) fail(key, "expected a number");
  return v.get<double>();
}

bool StoreConfig::boolean(std::string_view key) const {
  auto v = value_or_default(key);
  if (!v.is_boolean()) fail(key, "expected true or false");
  return v.get<bool>();
}

std::chrono::milliseconds StoreConfig::duration(std::string_view key) const {
  auto d = duration_of(value_or_default(key));
  if (!d) fail(key, d.message());
  return *d;
}

std::uint64_t StoreConfig::size(std::string_view key) const {
  auto s = size_of(value_or_default(key));
  if (!s) fail(key, s.message());
  return *s;
}

int StoreConfig::port(std::string_view key) const {
  auto v = value_or_default(key);
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 65535)
    fail(key, "expected a TCP port between 1 and 65535");
  return static_cast<int>(v.get<std::int64_t>());
}

std::string StoreConfig::path(std::string_view key) const {
  std::string text = string(key);
  // A secret file the host would refuse is refused here too (from_json tests).
  if (const ConfigKey* k = find_key(key); k && k->secret && has(key))
    if (auto secret = load_secret_file(text); !secret) fail(key, secret.message());
  return text;
}

std::vector<std::string> check_secret_files(const StoreConfig& config) {
  std::vector<std::string> problems;
  for (const auto& key : config.schema()) {
    if (key.type == ValueType::table_array && config.has(key.name)) {
      for (const auto& element : config.tables(key.name)) {
        auto inner = check_secret_files(element);
        problems.insert(problems.end(), inner.begin(), inner.end());
      }
      continue;
    }
    if (!key.secret || key.type != ValueType::path || !config.has(key.name)) continue;
    const auto& value = config.values().at(key.name);
    if (!value.is_string()) continue;  // the schema check reports it
    if (auto secret = load_secret_file(value.get<std::string>()); !secret) {
      // where() is "store 'NAME'" itself when the key has no file:line:col.
      std::string where = config.where(key.name);
      const std::string store = "store '" + config.store_name() + "'";
      if (where != store) where += ": " + store;
      problems.push_back(where + ": key '" + key.name + "': " + secret.message());
    }
  }
  return problems;
}

std::chrono::milliseconds StoreConfig::sync_interval() const {
  if (!find_key(kSyncIntervalKey)) return std::chrono::milliseconds(0);
  return duration(kSyncIntervalKey);
}

std::vector<std::string> StoreConfig::strings(std::string_view key) const {
  auto v = value_or_default(key);
  if (!v.is_array()) fail(key, "expected an array of strings");
  std::vector<std::string> out;
  for (auto& e : v) {
    if (!e.is_string()) fail(key, "expected an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<StoreConfig> StoreConfig::tables(std::string_view key) const {
  const ConfigKey* k = find_key(key);
  if (!k || k->type != ValueType::table_array) fail(key, "not declared as an array of tables (plugin bug)");
  auto v = value_or_default(key);
  if (!v.is_array()) fail(key, "expected an array of tables ([[" + std::string(key) + "]])");
  std::vector<StoreConfig> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_object()) fail(key, "element " + std::to_string(i) + " is not a table");
    out.emplace_back(store_name_, k->children, v[i], locations_,
                     key_prefix_ + std::string(key) + "[" + std::to_string(i) + "].");
  }
  return out;
}

}  // namespace tandem::sdk
