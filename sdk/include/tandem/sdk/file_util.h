// Small filesystem helpers plugins and the host share.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace tandem::sdk {

// Replace `path` with `content` so that a reader (or a crash) sees either the
// old or the new file, never a mix: write a temp file beside it, fsync it,
// rename it over `path`, fsync the directory. The file gets `mode`. Throws
// std::runtime_error.
void atomic_write_file(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644);

// Whole file as a string. Throws std::runtime_error naming the path.
std::string read_file(const std::filesystem::path& path);

// Read a secret (password, token) from a file: trailing newline stripped.
// Throws std::runtime_error naming the path, never the content.
std::string read_secret_file(const std::filesystem::path& path);

}  // namespace tandem::sdk
