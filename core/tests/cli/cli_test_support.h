// Running tandemctl and writing node configs for the CLI tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "tandem/sdk/process.h"

namespace tandem::clitest {

// tandemctl with these arguments; TANDEM_CONFIG and TANDEM_PLUGIN_PATH cleared.
sdk::ProcessResult tandemctl(const std::vector<std::string>& args);

void write_file(const std::filesystem::path& p, const std::string& text);

// A node config under `dir` whose plugins come from the loader test plugins,
// with an API on `port` and an api-token file; `stores` is appended.
std::filesystem::path write_config(const std::filesystem::path& dir, int port, const std::string& stores);

}  // namespace tandem::clitest
