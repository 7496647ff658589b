// tandemctl: the operator's command line. Parsing only; each subcommand lives
// in its own file (see commands.h).
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

using namespace tandem::cli;

namespace {

// A validator for an option in seconds: a finite number in [low, high].
// (CLI::Range lets "nan" through, and "inf" would become a watch that never redraws.)
CLI::Validator seconds_between(double low, double high) {
  return CLI::Validator(
      [low, high](const std::string& text) -> std::string {
        double value = 0;
        std::size_t used = 0;
        try {
          value = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size() || !std::isfinite(value))
          return "'" + text + "' is not a number of seconds";
        if (value < low || value > high) {
          std::ostringstream why;
          why << text << " is outside " << low << " to " << high << " seconds";
          return why.str();
        }
        return {};
      },
      "SECONDS");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tandemctl - operate a tandem warm-standby pair"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand

  GlobalOptions global;
  const char* env_config = std::getenv("TANDEM_CONFIG");
  global.config = env_config && *env_config ? env_config : "/etc/tandem/tandem.toml";
  global.config_given = env_config && *env_config;
  std::string config_flag;
  app.add_option("-c,--config", config_flag,
                 "tandemd's config file (default: $TANDEM_CONFIG or /etc/tandem/tandem.toml)");
  app.add_flag("--json", global.json, "machine-readable JSON output");
  std::string ca_flag;
  app.add_option("--ca-file", ca_flag,
                 "CA certificate (PEM) an https daemon's certificate must chain to (default: the config's [peer] "
                 "ca_file, else the system's trust store)");

  StatusOptions status;
  auto* status_cmd =
      app.add_subcommand("status", "node, role, epoch, peer and every store's health from the local tandemd");
  status_cmd->add_option("--url", status.url, "the daemon's API base URL (default: from [api] listen)");
  status_cmd->add_option("--timeout", status.timeout_seconds, "seconds to wait for an answer")
      ->check(seconds_between(0.1, 3600))
      ->capture_default_str();
  std::string status_token;
  status_cmd->add_option("--token-file", status_token,
                         "file holding the API token, sent so the request counts as trusted (default: [api] "
                         "token_file when readable; none with --url)");
  bool status_watch = false;
  double status_interval = 2;
  status_cmd->add_flag("-w,--watch", status_watch,
                       "redraw every --interval seconds until Ctrl-C (with --json: one JSON object per line)");
  status_cmd->add_option("--interval", status_interval, "seconds between two redraws of --watch (0.1 to 86400)")
      ->check(seconds_between(0.1, 86400))
      ->capture_default_str();

  auto* plugins_cmd = app.add_subcommand("plugins", "list the plugins in the search dirs (name, version, ABI, path)");
  std::string describe_name;
  auto* describe_cmd = plugins_cmd->add_subcommand("describe", "print a plugin's config schema, checks and actions");
  describe_cmd->add_option("name", describe_name, "plugin type, e.g. config-rsync, or a path to a .so")->required();

  std::string check_file;
  auto* check_cmd = app.add_subcommand("check-config", "validate a config file and every store's table; exit 0 or 1");
  check_cmd->add_option("file", check_file, "the file to check (default: --config)");

  DiagOptions diag;
  auto* diag_cmd = app.add_subcommand("diag", "run a store's diagnostics (works with the daemon stopped)");
  diag_cmd->add_option("store", diag.store, "store name ([stores.NAME])")->required();
  diag_cmd->add_option("check", diag.check, "the check to run; omit to list them");
  diag_cmd->add_option("args", diag.args, "arguments for the check (after --)");
  diag_cmd->add_flag("--all", diag.all, "run every check");

  ActionOptions rebuild;
  rebuild.action = "rebuild";
  auto* rebuild_cmd = app.add_subcommand("rebuild", "start a store's rebuild on the local tandemd (action 'rebuild')");
  rebuild_cmd->add_option("store", rebuild.store, "store name")->required();
  rebuild_cmd->add_flag("--follow", rebuild.follow, "draw the rebuild's progress until it finishes");
  rebuild_cmd->add_option("--arg", rebuild.args, "key=value argument (repeatable)");
  rebuild_cmd->add_option("--url", rebuild.url, "the daemon's API base URL (default: from [api] listen)");
  std::string rebuild_token;
  rebuild_cmd->add_option("--token-file", rebuild_token, "file holding the API token (default: [api] token_file)");
  rebuild_cmd->add_option("--follow-timeout", rebuild.follow_timeout_seconds,
                          "stop following after this many seconds (0: never)");

  ActionOptions action;
  auto* action_cmd = app.add_subcommand("action", "run a store's named action on the local tandemd");
  action_cmd->add_option("store", action.store, "store name")->required();
  action_cmd->add_option("action", action.action, "action name (see `tandemctl plugins describe`)")->required();
  action_cmd->add_option("--arg", action.args, "key=value argument (repeatable; JSON values kept typed)");
  action_cmd->add_flag("--follow", action.follow, "draw the store's progress until it finishes");
  action_cmd->add_option("--url", action.url, "the daemon's API base URL (default: from [api] listen)");
  std::string action_token;
  action_cmd->add_option("--token-file", action_token, "file holding the API token (default: [api] token_file)");
  action_cmd->add_option("--follow-timeout", action.follow_timeout_seconds,
                         "stop following after this many seconds (0: never)");

  CloneTestOptions clone;
  std::string clone_target, clone_token;
  auto* clone_cmd = app.add_subcommand(
      "clone-test", "make a test instance (a third node, role \"test\", never promotable) from this secondary's data");
  clone_cmd->add_option("--target", clone_target, "the directory the test instance goes into (new or empty)")
      ->required();
  clone_cmd->add_flag("--refresh", clone.refresh,
                      "replace the data of the test instance in --target with a newer copy");
  clone_cmd->add_flag("--from-primary", clone.from_primary, "allow copying from the primary (it then does the work)");
  clone_cmd->add_option("--mask-sql", clone.mask_sql,
                        "STORE=FILE: SQL run on that store's copy before it serves anyone (repeatable)");
  clone_cmd->add_option("--mask-command", clone.mask_command,
                        "STORE=COMMAND: a command run on that store's copy before it serves anyone (repeatable)");
  clone_cmd->add_option("--url", clone.url, "the daemon's API base URL (default: from [api] listen)");
  clone_cmd->add_option("--token-file", clone_token, "file holding the API token (default: [api] token_file)");
  clone_cmd->add_option("--timeout", clone.timeout_seconds, "seconds one store's copy may take")
      ->check(seconds_between(1, 7 * 86400))
      ->capture_default_str();

  // promote / switchover / rejoin share their options.
  FailoverCommandOptions failover;
  std::string failover_token;
  auto add_failover = [&](const char* name, const char* help, const char* force_help) {
    auto* cmd = app.add_subcommand(name, help);
    if (force_help) cmd->add_flag("--force", failover.force, force_help);
    cmd->add_flag("--dry-run", failover.dry_run, "print the plan and what would be lost; change nothing");
    cmd->add_option("--url", failover.url, "the daemon's API base URL (default: from [api] listen)");
    cmd->add_option("--token-file", failover_token, "file holding the API token (default: [api] token_file)");
    return cmd;
  };
  auto* promote_cmd = add_failover("promote", "make this secondary the primary (unplanned failover)",
                                   "promote even if the peer still answers as primary (it will be fenced), a store's "
                                   "prepare refuses, or the pair is paused");
  auto* switchover_cmd = add_failover("switchover", "planned, zero-loss swap: demote the peer, then promote this node",
                                      "switch over even while the pair is paused or a store's prepare refuses");
  auto* rejoin_cmd = add_failover("rejoin", "turn this former primary into the secondary of the new primary", nullptr);
  MaintenanceCommandOptions maintenance;
  std::string maintenance_token;
  auto add_maintenance = [&](const char* name, const char* help) {
    auto* cmd = app.add_subcommand(name, help);
    cmd->add_option("--url", maintenance.url, "the daemon's API base URL (default: from [api] listen)");
    cmd->add_option("--token-file", maintenance_token, "file holding the API token (default: [api] token_file)");
    return cmd;
  };
  auto* pause_cmd = add_maintenance(
      "pause", "maintenance mode: keep syncing and monitoring, refuse promote/switchover unless --force");
  pause_cmd->add_option("--reason", maintenance.reason, "why, shown by status (e.g. \"kernel upgrade, ticket 123\")");
  auto* resume_cmd = add_maintenance("resume", "leave maintenance mode");
  std::string history_url;
  auto* history_cmd = app.add_subcommand("history", "past failovers: steps, times, what may have been lost");
  history_cmd->add_option("--url", history_url, "the daemon's API base URL (default: from [api] listen)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!ca_flag.empty()) global.ca_file = ca_flag;
  if (!config_flag.empty()) {
    global.config = config_flag;
    global.config_given = true;
  }
  if (!rebuild_token.empty()) rebuild.token_file = rebuild_token;
  if (!action_token.empty()) action.token_file = action_token;
  if (!status_token.empty()) status.token_file = status_token;
  if (status_watch) status.watch_interval_seconds = status_interval;
  status.output_is_terminal = isatty(STDOUT_FILENO) == 1;

  try {
    if (*status_cmd) return run_status(global, status, std::cout, std::cerr);
    if (*describe_cmd) return run_plugins_describe(global, describe_name, std::cout, std::cerr);
    if (*plugins_cmd) return run_plugins_list(global, std::cout, std::cerr);
    if (*check_cmd)
      return run_check_config(global, check_file.empty() ? global.config : std::filesystem::path(check_file), std::cout,
                              std::cerr);
    if (*diag_cmd) return run_diag(global, diag, std::cout, std::cerr);
    if (*rebuild_cmd) return run_action(global, rebuild, std::cout, std::cerr);
    if (*action_cmd) return run_action(global, action, std::cout, std::cerr);
    if (!failover_token.empty()) failover.token_file = failover_token;
    if (*promote_cmd || *switchover_cmd || *rejoin_cmd) {
      failover.kind = *promote_cmd ? "promote" : *switchover_cmd ? "switchover" : "rejoin";
      return run_failover(global, failover, std::cout, std::cerr);
    }
    if (*pause_cmd || *resume_cmd) {
      if (!maintenance_token.empty()) maintenance.token_file = maintenance_token;
      maintenance.pause = pause_cmd->parsed();
      return run_maintenance(global, maintenance, std::cout, std::cerr);
    }
    if (*clone_cmd) {
      clone.target = clone_target;
      if (!clone_token.empty()) clone.token_file = clone_token;
      return run_clone_test(global, clone, std::cout, std::cerr);
    }
    if (*history_cmd) return run_history(global, history_url, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "tandemctl: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
