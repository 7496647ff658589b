#include "config/toml_support.h"

#include <algorithm>
#include <sstream>

namespace tandem::core::config_detail {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string location(const toml::source_region& region, const std::string& fallback_file) {
  std::string file = region.path ? *region.path : fallback_file;
  auto line = region.begin.line ? region.begin.line : 1;
  auto column = region.begin.column ? region.begin.column : 1;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string location(const toml::node& node, const std::string& fallback_file) {
  return location(node.source(), fallback_file);
}

std::string location(const toml::key& key, const std::string& fallback_file) {
  return location(key.source(), fallback_file);
}

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::string::npos;
  std::string w = lower(word);
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(w, lower(c));
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  // A typo changes a few characters; beyond a third of the word it is
  // another word, and a suggestion would mislead.
  std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  return best_distance <= limit ? best : std::string();
}

std::string unknown_key_hint(std::string_view word, const std::vector<std::string>& candidates) {
  std::string guess = nearest(word, candidates);
  if (!guess.empty()) return "; did you mean '" + guess + "'?";
  if (candidates.empty()) return "; this table takes no keys";
  std::ostringstream out;
  out << "; known keys: ";
  for (std::size_t i = 0; i < candidates.size(); ++i) out << (i ? ", " : "") << candidates[i];
  return out.str();
}

bool is_inline_secret_key(std::string_view key) {
  std::string k = lower(key);
  bool secret_like = k.find("password") != std::string::npos || k.find("passwd") != std::string::npos ||
                     k.find("token") != std::string::npos || k.find("secret") != std::string::npos;
  return secret_like && !ends_with(k, "_file") && !ends_with(k, "_env");
}

std::string secret_hint(std::string_view key) {
  return "secrets come from files: use '" + std::string(key) + "_file' naming a file that holds it";
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    default: return "nothing";
  }
}

nlohmann::json to_json(const toml::node& node) {
  if (auto* t = node.as_table()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto&& [k, v] : *t) out[std::string(k.str())] = to_json(v);
    return out;
  }
  if (auto* a = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (auto&& v : *a) out.push_back(to_json(v));
    return out;
  }
  if (auto* s = node.as_string()) return s->get();
  if (auto* i = node.as_integer()) return i->get();
  if (auto* f = node.as_floating_point()) return f->get();
  if (auto* b = node.as_boolean()) return b->get();
  std::ostringstream text;
  if (auto* d = node.as_date())
    text << *d;
  else if (auto* tm = node.as_time())
    text << *tm;
  else if (auto* dt = node.as_date_time())
    text << *dt;
  return text.str();
}

std::filesystem::path resolve_path(const std::filesystem::path& base_dir, const std::string& value) {
  std::filesystem::path p(value);
  if (p.is_absolute() || base_dir.empty()) return p.lexically_normal();
  return (base_dir / p).lexically_normal();
}

}  // namespace tandem::core::config_detail
