// Small filesystem helpers plugins and the host share.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "tandem/sdk/result.h"

namespace tandem::sdk {

// Replace `path` with `content` so that a reader (or a crash) sees either the
// old or the new file, never a mix: write a temp file beside it, fsync it,
// rename it over `path`, fsync the directory. The file gets `mode`. Throws
// std::runtime_error.
void atomic_write_file(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644);

// Whole file as a string. Throws std::runtime_error naming the path.
std::string read_file(const std::filesystem::path& path);

// Read a secret (password, token) from a file, trailing newline stripped.
// Refused, naming the path (never the content) and what to do: a file that
// does not exist, is not a regular file, is empty, or can be read by group or
// others ("run: chmod 600 PATH"). The host checks its own token files and
// every store key declared `.secret = true` with this same function, so
// `tandemd --check` refuses what the plugin would.
Result<std::string> load_secret_file(const std::filesystem::path& path);
// The same, throwing std::runtime_error with that message.
std::string read_secret_file(const std::filesystem::path& path);

}  // namespace tandem::sdk
