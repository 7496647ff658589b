#include "config/hooks_config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "config/toml_support.h"
#include "tandem/sdk/config.h"
#include "tandem/sdk/result.h"

namespace tandem::core {
namespace {

using namespace config_detail;

constexpr std::chrono::milliseconds kMinTimeout{100};
constexpr std::chrono::minutes kMaxTimeout{10};

// A duration value of [hooks] within the bounds; false (error recorded) otherwise.
bool read_timeout(const toml::node& node, const std::string& file, const std::string& key,
                  std::chrono::milliseconds& out, std::vector<std::string>& errors) {
  auto fail = [&](const std::string& why) {
    errors.push_back(location(node, file) + ": [hooks] " + key + " " + why +
                     "; write a duration between 100ms and 10m, e.g. \"10s\"");
    return false;
  };
  if (!node.is_string()) return fail("must be a duration string, got " + std::string(type_name(node)));
  auto parsed = sdk::parse_duration(node.as_string()->get());
  if (!parsed) return fail("'" + node.as_string()->get() + "' is not a duration (" + parsed.message() + ")");
  if (*parsed < kMinTimeout || *parsed > kMaxTimeout) return fail("'" + node.as_string()->get() + "' is out of range");
  out = *parsed;
  return true;
}

// "prog" or ["prog", "arg", ...]; empty on error (recorded).
std::vector<std::string> read_command(const toml::node& node, const std::string& file, const std::string& what,
                                      std::vector<std::string>& errors) {
  std::vector<std::string> argv;
  if (auto* s = node.as_string()) {
    argv.push_back(s->get());
  } else if (auto* a = node.as_array()) {
    for (auto&& e : *a) {
      if (!e.is_string()) {
        argv.clear();
        break;
      }
      argv.push_back(e.as_string()->get());
    }
    if (a->empty()) argv.clear();
  }
  if (argv.empty() || argv[0].empty()) {
    errors.push_back(location(node, file) + ": " + what +
                     " must be a program path or an array [program, args...] (run without a shell), got " +
                     (node.is_array() ? std::string("an empty or non-string array") : std::string(type_name(node))) +
                     "; e.g. " + "\"/usr/local/bin/update-dns\"");
    return {};
  }
  return argv;
}

// Success, or why `p` cannot be run as a hook (ErrorCode::invalid_config).
sdk::Status executable_file(const std::filesystem::path& p) {
  auto refuse = [](std::string why) { return sdk::Status::error(sdk::ErrorCode::invalid_config, std::move(why)); };
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) return refuse("does not exist");
  if (!std::filesystem::is_regular_file(p, ec)) return refuse("is not a regular file");
  if (::access(p.c_str(), X_OK) != 0) return refuse("is not executable (chmod +x it)");
  return {};
}

}  // namespace

const std::vector<std::string>& hook_events() {
  static const std::vector<std::string> events = {"on_role_change",     "on_promote", "on_demote",
                                                  "on_fenced",          "on_rejoin",  "on_store_health_change",
                                                  "on_failover_report", "pre_promote"};
  return events;
}

void read_hooks_table(const toml::table& table, const std::string& file, const std::filesystem::path& base,
                      HooksConfig& out, std::vector<std::string>& errors) {
  // Read first: it is each hook's default, wherever it stands in the table.
  if (const toml::node* t = table.get("timeout")) read_timeout(*t, file, "timeout", out.timeout, errors);
  std::vector<std::string> known = hook_events();
  known.push_back("timeout");
  for (auto&& [key, value] : table) {
    std::string name(key.str());
    if (name == "timeout") continue;
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      errors.push_back(location(key, file) + ": unknown hook '" + name + "' in [hooks]" +
                       unknown_key_hint(name, known));
      continue;
    }
    HookCommand hook;
    hook.event = name;
    hook.location = location(key, file);
    hook.timeout = out.timeout;
    const toml::node* command = &value;
    std::chrono::milliseconds own_timeout{0};
    if (auto* t = value.as_table()) {
      for (auto&& [k, v] : *t) {
        std::string kk(k.str());
        if (kk != "command" && kk != "timeout")
          errors.push_back(location(k, file) + ": unknown key '" + kk + "' in hook " + name +
                           unknown_key_hint(kk, {"command", "timeout"}));
      }
      command = t->get("command");
      if (!command) {
        errors.push_back(location(value, file) + ": hook " + name +
                         " has no command; add command = \"/path/to/program\"");
        continue;
      }
      if (const toml::node* tt = t->get("timeout")) {
        if (!read_timeout(*tt, file, name + ".timeout", own_timeout, errors)) continue;
      }
    }
    hook.argv = read_command(*command, file, "hook " + name, errors);
    if (hook.argv.empty()) continue;
    if (hook.argv[0].find('/') != std::string::npos) hook.argv[0] = resolve_path(base, hook.argv[0]).string();
    if (own_timeout.count() > 0) hook.timeout = own_timeout;
    out.commands[name] = std::move(hook);
  }
}

std::vector<std::string> check_hook_commands(const HooksConfig& hooks) {
  std::vector<std::string> errors;
  for (const auto& [name, hook] : hooks.commands) {
    const std::string& program = hook.argv[0];
    if (program.find('/') != std::string::npos) {
      if (auto runnable = executable_file(program); !runnable.ok())
        errors.push_back(hook.location + ": hook " + name + ": " + program + " " + runnable.message());
      continue;
    }
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    bool found = false;
    while (!found && std::getline(dirs, dir, ':'))
      found = !dir.empty() && executable_file(std::filesystem::path(dir) / program).ok();
    if (!found)
      errors.push_back(hook.location + ": hook " + name + ": no executable '" + program +
                       "' in PATH; give the program's absolute path");
  }
  return errors;
}

}  // namespace tandem::core
