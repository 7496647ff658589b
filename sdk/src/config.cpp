#include "tandem/sdk/config.h"

#include <cctype>
#include <charconv>
#include <cmath>

namespace tandem::sdk {
namespace {

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

}  // namespace

std::string_view to_string(ValueType t) {
  switch (t) {
    case ValueType::string: return "string";
    case ValueType::integer: return "integer";
    case ValueType::number: return "number";
    case ValueType::boolean: return "boolean";
    case ValueType::duration: return "duration";
    case ValueType::size: return "size";
    case ValueType::path: return "path";
    case ValueType::string_array: return "array of strings";
    case ValueType::table_array: return "array of tables";
  }
  return "?";
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  double n = 0;
  std::string unit;
  if (!split_number_unit(text, n, unit))
    return Error{"'" + std::string(text) + "' is not a duration (expected e.g. \"500ms\", \"60s\", \"5m\", \"1h\")"};
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
    return Error{"'" + std::string(text) + "' has unknown duration unit '" + unit + "' (use ms, s, m, h or d)"};
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(n * ms_per)));
}

Result<std::uint64_t> parse_size(std::string_view text) {
  double n = 0;
  std::string unit;
  if (!split_number_unit(text, n, unit))
    return Error{"'" + std::string(text) + "' is not a size (expected e.g. \"4096\", \"512KiB\", \"64MiB\", \"1GiB\")"};
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
    return Error{"'" + std::string(text) + "' has unknown size unit '" + unit + "' (use B, KiB, MiB, GiB, KB, MB, GB)"};
  return static_cast<std::uint64_t>(std::llround(n * mult));
}

StoreConfig::StoreConfig(std::string store_name, ConfigSchema schema, nlohmann::json values,
                         std::map<std::string, std::string> locations, std::string key_prefix)
    : store_name_(std::move(store_name)),
      schema_(std::move(schema)),
      values_(values.is_object() ? std::move(values) : nlohmann::json::object()),
      locations_(std::move(locations)),
      key_prefix_(std::move(key_prefix)) {}

StoreConfig StoreConfig::from_json(std::string store_name, ConfigSchema schema, nlohmann::json values) {
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

void StoreConfig::fail(std::string_view key, std::string_view message) const {
  throw ConfigError(where(key) + ": store '" + store_name_ + "', key '" + key_prefix_ + std::string(key) +
                    "': " + std::string(message));
}

nlohmann::json StoreConfig::value_or_default(std::string_view key) const {
  auto it = values_.find(std::string(key));
  if (it != values_.end()) return *it;
  const ConfigKey* k = find_key(key);
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
    case ValueType::integer: return std::stoll(d);
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
  auto v = value_or_default(key);
  if (v.is_number_integer()) return std::chrono::seconds(v.get<std::int64_t>());
  if (v.is_number()) return std::chrono::milliseconds(static_cast<std::int64_t>(v.get<double>() * 1000));
  if (!v.is_string()) fail(key, "expected a duration such as \"60s\"");
  auto d = parse_duration(v.get<std::string>());
  if (!d) fail(key, d.message());
  return *d;
}

std::uint64_t StoreConfig::size(std::string_view key) const {
  auto v = value_or_default(key);
  if (v.is_number_integer()) {
    if (v.get<std::int64_t>() < 0) fail(key, "a size cannot be negative");
    return v.get<std::uint64_t>();
  }
  if (!v.is_string()) fail(key, "expected a size such as \"64MiB\"");
  auto s = parse_size(v.get<std::string>());
  if (!s) fail(key, s.message());
  return *s;
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
