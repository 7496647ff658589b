// Checks across the store tables of one config file (names that clash or
// cannot appear in URLs and metrics). Part of loading a config file.
#pragma once

#include <string>
#include <vector>

#include "config/host_config.h"

namespace tandem::core {

// Two stores whose names are equal, also when compared case-, '-' and
// '_'-insensitively ("pg-main" vs "PG_main"); store names that are not
// [A-Za-z0-9_-]+. Each message is "file:line:col: what; what to do". Empty
// when all is well.
std::vector<std::string> check_store_set(const HostConfig& config);

}  // namespace tandem::core
