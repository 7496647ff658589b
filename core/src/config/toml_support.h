// Helpers shared by the host-config and store-table checks: locations,
// "did you mean" suggestions, secret-key detection, TOML -> JSON.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>
#include <nlohmann/json.hpp>

namespace tandem::core::config_detail {

// "file:line:col" of a parsed node (falls back to `fallback_file` when the
// node carries no path, and to line 1 col 1 for nodes without a position).
std::string location(const toml::source_region& region, const std::string& fallback_file = {});
std::string location(const toml::node& node, const std::string& fallback_file = {});
std::string location(const toml::key& key, const std::string& fallback_file = {});

// The closest candidate by edit distance when it is close enough to be a
// plausible typo; empty otherwise.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);
// "; did you mean 'x'?" or "; known keys: a, b, c".
std::string unknown_key_hint(std::string_view word, const std::vector<std::string>& candidates);

// A key that would hold a secret inline (*password*, *token*, *secret*), as
// opposed to naming a file or variable that holds it (*_file, *_env).
bool is_inline_secret_key(std::string_view key);
// "secrets come from files: use 'token_file'".
std::string secret_hint(std::string_view key);

// "string", "integer", "table", ... for messages.
std::string_view type_name(const toml::node& node);

// TOML value to JSON (dates and times become their TOML text).
nlohmann::json to_json(const toml::node& node);

// Relative paths in the file are relative to the file's directory.
std::filesystem::path resolve_path(const std::filesystem::path& base_dir, const std::string& value);

}  // namespace tandem::core::config_detail
