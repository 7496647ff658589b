// The one config check: `tandemd --check` and `tandemctl check-config` both
// run it, so they accept and refuse the same files. The host part of the file
// (load_host_config), then every store through its plugin: the schema, then
// the plugin's own configure() on an offline host context (which touches
// nothing a running daemon owns).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "tandem/sdk/config.h"
#include "tandem/sdk/result.h"

namespace tandem::core {

struct ConfigCheck {
  std::vector<std::string> errors;  // one problem per line, "file:line:col: what; what to do"
  std::size_t stores = 0;           // store tables in the file
  bool ok() const { return errors.empty(); }
};

// Never throws; a plugin that cannot be loaded is one of the errors.
ConfigCheck check_config_file(const std::filesystem::path& file);

// A secret file the host reads ([api] and [peer] token_file), checked the
// same way by the check and by the daemon before it starts: it exists, is a
// regular file, is not empty, and neither group nor others may read it (the
// error says the chmod to run). `what` names the key: "[api] token_file".
struct HostConfig;
struct StoreEntry;
// What automatic failover asks of a loaded store (its sync_interval against
// [dcs] ttl); empty in manual mode. The check and the daemon both ask.
std::vector<std::string> failover_store_problems(const HostConfig& config, const StoreEntry& entry,
                                                 const sdk::StoreConfig& store);

sdk::Result<std::string> read_checked_secret(const std::filesystem::path& file, const std::string& what);

}  // namespace tandem::core
