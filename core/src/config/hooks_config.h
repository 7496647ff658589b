// [hooks]: operator commands tandemd runs on events (docs/configuration.md#hooks).
//
//   [hooks]
//   timeout = "10s"                                    # each run's bound (default 10s)
//   on_role_change = "/usr/local/bin/update-dns"       # a program (no shell)
//   on_failover_report = ["/usr/local/bin/page", "--team", "db"]
//   pre_promote = { command = "/usr/local/bin/may-promote", timeout = "5s" }
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace tandem::core {

struct HookCommand {
  std::string event;  // "on_promote"
  std::vector<std::string>
      argv;  // argv[0]: an absolute path (relative ones resolved against the file's dir) or a name in PATH
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  std::string location;  // file:line:col of the key, for messages
};

struct HooksConfig {
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // [hooks] timeout: the default of each hook
  std::map<std::string, HookCommand> commands;                  // by event
  const HookCommand* find(const std::string& event) const {
    auto it = commands.find(event);
    return it == commands.end() ? nullptr : &it->second;
  }
};

// The events a hook can be set for; pre_promote is the one that may veto.
const std::vector<std::string>& hook_events();

// Reads the [hooks] table into `out`, recording "file:line:col: ..." errors.
void read_hooks_table(const toml::table& table, const std::string& file, const std::filesystem::path& base,
                      HooksConfig& out, std::vector<std::string>& errors);

// Hooks whose program cannot run (no such file, not in PATH, not a regular
// file, not executable), one message each. Run by the config check and by
// tandemd before it starts, so --check accepts exactly what the daemon runs.
std::vector<std::string> check_hook_commands(const HooksConfig& hooks);

}  // namespace tandem::core
