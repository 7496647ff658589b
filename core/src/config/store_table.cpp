// validate_store_table: a [stores.NAME] table against its plugin's schema.
#include <algorithm>

#include "config/host_config.h"
#include "config/toml_support.h"

namespace tandem::core {
namespace {

using namespace config_detail;

// Keys the host itself reads from every store table.
const std::vector<std::string> kHostKeys = {"plugin", "enabled"};

std::string example_for(const sdk::ConfigKey& key) {
  switch (key.type) {
    case sdk::ValueType::string: return "\"text\"";
    case sdk::ValueType::integer: return "42";
    case sdk::ValueType::port: return "8080";
    case sdk::ValueType::number: return "1.5";
    case sdk::ValueType::boolean: return "true";
    case sdk::ValueType::duration: return "\"60s\" (or seconds as an integer)";
    case sdk::ValueType::size: return "\"64MiB\" (or bytes as an integer)";
    case sdk::ValueType::path: return "\"/some/path\"";
    case sdk::ValueType::string_array: return "[\"a\", \"b\"]";
    case sdk::ValueType::table_array: return "[[...]] tables";
  }
  return "?";
}

// "string", or "an array holding an integer" for an array with a wrong element.
std::string describe(const toml::node& node, bool want_tables = false) {
  if (const toml::array* a = node.as_array()) {
    for (auto&& e : *a)
      if (want_tables ? !e.is_table() : !e.is_string()) {
        std::string t(type_name(e));
        bool vowel = std::string("aeiou").find(t[0]) != std::string::npos;
        return std::string("an array holding ") + (vowel ? "an " : "a ") + t;
      }
  }
  return std::string(type_name(node));
}

class StoreTableValidator {
 public:
  // `label` starts each message: "store 'NAME'" for a store table, "[dcs]"
  // for a host table read with a schema.
  StoreTableValidator(const StoreEntry& store, std::filesystem::path base_dir, std::string label)
      : store_(store), base_dir_(std::move(base_dir)), label_(std::move(label)) {}

  // Checks `table` against `schema`; `prefix` is "" for the store table and
  // "indices[0]." for an element of a table_array.
  nlohmann::json check_table(const toml::table& table, const sdk::ConfigSchema& schema, const std::string& prefix,
                             bool skip_host_keys) {
    nlohmann::json values = nlohmann::json::object();
    std::vector<std::string> known;
    for (const auto& k : schema) known.push_back(k.name);
    for (auto&& [key, node] : table) {
      std::string name(key.str());
      if (skip_host_keys && std::find(kHostKeys.begin(), kHostKeys.end(), name) != kHostKeys.end()) continue;
      auto it = std::find_if(schema.begin(), schema.end(), [&](const sdk::ConfigKey& k) { return k.name == name; });
      if (it == schema.end()) {
        if (is_inline_secret_key(name) && node.is_string())
          error(location(key), "key '" + prefix + name + "' holds a secret inline; " + secret_hint(name));
        else
          error(location(key), "unknown key '" + prefix + name + "'" + unknown_key_hint(name, known));
        continue;
      }
      locations_[prefix + name] = location(node);
      auto value = check_value(*it, node, prefix);
      if (value.is_discarded()) continue;
      // Choices, bounds and path rules: the SDK's one check, so the daemon and
      // a plugin's own tests (StoreConfig::from_json) say the same words.
      if (auto st = sdk::check_value(*it, value); !st.ok()) {
        error(location(node), "key '" + prefix + name + "': " + st.message());
        continue;
      }
      values[name] = std::move(value);
    }
    for (const auto& k : schema) {
      if (k.required && !table.contains(k.name))
        error(location(table), "missing required key '" + prefix + k.name + "' (" +
                                   std::string(sdk::to_string(k.type)) + ": " + k.description + "); add " + k.name +
                                   " = " + example_for(k));
    }
    return values;
  }

  void error(const std::string& where, const std::string& message) {
    errors_.push_back(where + ": " + label_ + ": " + message);
  }

  std::vector<std::string>& errors() { return errors_; }
  std::map<std::string, std::string>& locations() { return locations_; }

 private:
  std::string location(const toml::node& n) const { return config_detail::location(n, fallback_file()); }
  std::string location(const toml::key& k) const { return config_detail::location(k, fallback_file()); }
  // store_.location is "file:line:col"; the file part is what precedes the last two colons.
  std::string fallback_file() const {
    auto col = store_.location.rfind(':');
    auto line = col == std::string::npos || col == 0 ? std::string::npos : store_.location.rfind(':', col - 1);
    return line == std::string::npos ? store_.location : store_.location.substr(0, line);
  }

  void type_error(const sdk::ConfigKey& key, const toml::node& node, const std::string& prefix,
                  const std::string& expected) {
    error(location(node), "key '" + prefix + key.name + "' must be " + expected + ", got " + describe(node) +
                              "; write " + key.name + " = " + example_for(key));
  }

  // Returns the JSON value, or a discarded value after recording an error.
  nlohmann::json check_value(const sdk::ConfigKey& key, const toml::node& node, const std::string& prefix) {
    const nlohmann::json bad(nlohmann::json::value_t::discarded);
    switch (key.type) {
      case sdk::ValueType::string:
        if (!node.is_string()) return type_error(key, node, prefix, "a string"), bad;
        return node.as_string()->get();
      case sdk::ValueType::integer:
        if (!node.is_integer()) return type_error(key, node, prefix, "an integer"), bad;
        return node.as_integer()->get();
      case sdk::ValueType::port:
        if (!node.is_integer()) return type_error(key, node, prefix, "a TCP port (an integer)"), bad;
        return node.as_integer()->get();
      case sdk::ValueType::number:
        if (!node.is_number()) return type_error(key, node, prefix, "a number"), bad;
        return to_json(node);
      case sdk::ValueType::boolean:
        if (!node.is_boolean()) return type_error(key, node, prefix, "true or false"), bad;
        return node.as_boolean()->get();
      case sdk::ValueType::duration: return check_duration(key, node, prefix);
      case sdk::ValueType::size: return check_size(key, node, prefix);
      case sdk::ValueType::path: {
        if (!node.is_string() || node.as_string()->get().empty())
          return type_error(key, node, prefix, "a non-empty path string"), bad;
        // Only relative_to_config paths are resolved; the other rules are
        // checked as written (sdk::check_value).
        if (key.path_rule != sdk::PathRule::relative_to_config) return node.as_string()->get();
        return resolve_path(base_dir_, node.as_string()->get()).string();
      }
      case sdk::ValueType::string_array: {
        const toml::array* a = node.as_array();
        bool ok = a != nullptr;
        if (a)
          for (auto&& e : *a) ok = ok && e.is_string();
        if (!ok) return type_error(key, node, prefix, "an array of strings"), bad;
        return to_json(node);
      }
      case sdk::ValueType::table_array: return check_table_array(key, node, prefix);
    }
    return bad;
  }

  // Durations and sizes are parsed and range-checked by sdk::check_value
  // (after this type check), so overflow and bounds are said in one place.
  nlohmann::json check_duration(const sdk::ConfigKey& key, const toml::node& node, const std::string& prefix) {
    if (node.is_integer()) return node.as_integer()->get();
    if (!node.is_string())
      return type_error(key, node, prefix, "a duration"), nlohmann::json(nlohmann::json::value_t::discarded);
    return node.as_string()->get();
  }

  nlohmann::json check_size(const sdk::ConfigKey& key, const toml::node& node, const std::string& prefix) {
    if (node.is_integer()) return node.as_integer()->get();
    if (!node.is_string())
      return type_error(key, node, prefix, "a size"), nlohmann::json(nlohmann::json::value_t::discarded);
    return node.as_string()->get();
  }

  nlohmann::json check_table_array(const sdk::ConfigKey& key, const toml::node& node, const std::string& prefix) {
    const nlohmann::json bad(nlohmann::json::value_t::discarded);
    const toml::array* a = node.as_array();
    bool ok = a != nullptr;
    if (a)
      for (auto&& e : *a) ok = ok && e.is_table();
    if (!ok)
      return error(location(node), "key '" + prefix + key.name + "' must be an array of tables, got " +
                                       describe(node, true) + "; write one [[stores." + store_.name + "." + key.name +
                                       "]] section per element"),
             bad;
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < a->size(); ++i) {
      std::string child_prefix = prefix + key.name + "[" + std::to_string(i) + "].";
      const toml::table& element = *a->get(i)->as_table();
      locations_[child_prefix.substr(0, child_prefix.size() - 1)] = location(element);
      out.push_back(check_table(element, key.children, child_prefix, false));
    }
    return out;
  }

  const StoreEntry& store_;
  std::filesystem::path base_dir_;
  std::string label_;
  std::vector<std::string> errors_;
  std::map<std::string, std::string> locations_;
};

std::variant<sdk::StoreConfig, ConfigErrors> validate_table(const StoreEntry& store, const sdk::ConfigSchema& schema,
                                                            const std::string& label, bool skip_host_keys) {
  if (!store.table) return ConfigErrors{{store.location + ": " + label + " has no table (host bug)"}};
  // Relative paths resolve against the config file's directory.
  std::filesystem::path base;
  if (auto& p = store.table->source().path; p) {
    std::error_code ec;
    base = std::filesystem::absolute(std::filesystem::path(*p), ec).parent_path();
  }
  StoreTableValidator validator(store, base, label);
  nlohmann::json values = validator.check_table(*store.table, schema, "", skip_host_keys);
  if (!validator.errors().empty()) return ConfigErrors{std::move(validator.errors())};
  validator.locations()[""] = store.location;
  return sdk::StoreConfig(store.name, schema, std::move(values), std::move(validator.locations()));
}

}  // namespace

std::variant<sdk::StoreConfig, ConfigErrors> validate_store_table(const StoreEntry& store,
                                                                  const sdk::ConfigSchema& schema) {
  return validate_table(store, schema, "store '" + store.name + "'", true);
}

std::variant<sdk::StoreConfig, ConfigErrors> validate_host_table(const StoreEntry& table,
                                                                 const sdk::ConfigSchema& schema) {
  return validate_table(table, schema, "[" + table.name + "]", false);
}

}  // namespace tandem::core
