// The agreement between a plugin's schema() and its folder's sample.toml and
// README.md (DESIGN.md §3: schema as data).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tandem::core::testing {

// Loads the plugin .so, then checks <plugin_folder>/sample.toml (each
// [stores.X] table using this plugin validates against the schema; at least
// one does) and <plugin_folder>/README.md (names every schema key, children
// included). Returns one line per problem; empty when all agree.
std::vector<std::string> check_plugin_docs(const std::filesystem::path& plugin_so,
                                           const std::filesystem::path& plugin_folder);

}  // namespace tandem::core::testing
