// tandemctl's subcommands. main.cpp parses the command line (CLI11) into
// these options; each command lives in its own file, prints to out/err and
// returns the process exit code.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace tandem::cli {

struct GlobalOptions {
  std::filesystem::path config;  // --config, $TANDEM_CONFIG, /etc/tandem/tandem.toml
  bool config_given = false;     // explicitly chosen (flag or environment)
  bool json = false;
  // --ca-file: the CA an https daemon's certificate must chain to (default:
  // the config's [peer] ca_file, the pair's CA; else the system's trust store).
  std::optional<std::filesystem::path> ca_file;
};

struct StatusOptions {
  std::string url;  // --url: the daemon's API base URL instead of the config's [api] listen
  double timeout_seconds = 5;
  // --token-file; else the config's [api] token_file when readable (not with --url).
  std::optional<std::filesystem::path> token_file;
  // --watch: redraw every this many seconds until interrupted (--interval,
  // default 2); unset: print once.
  std::optional<double> watch_interval_seconds;
  bool output_is_terminal = false;  // stdout is a tty: a watch redraws in place
};
int run_status(const GlobalOptions& global, const StatusOptions& options, std::ostream& out, std::ostream& err);

int run_plugins_list(const GlobalOptions& global, std::ostream& out, std::ostream& err);
int run_plugins_describe(const GlobalOptions& global, const std::string& name, std::ostream& out, std::ostream& err);

int run_check_config(const GlobalOptions& global, const std::filesystem::path& file, std::ostream& out,
                     std::ostream& err);

struct DiagOptions {
  std::string store;
  std::string check;  // empty: list the checks (or run them all with --all)
  std::vector<std::string> args;
  bool all = false;
};
int run_diag(const GlobalOptions& global, const DiagOptions& options, std::ostream& out, std::ostream& err);

struct ActionOptions {
  std::string store;
  std::string action;
  std::vector<std::string> args;                    // "key=value"; a value that parses as JSON is sent as such
  std::string url;                                  // --url, as for status
  std::optional<std::filesystem::path> token_file;  // --token-file instead of [api] token_file
  bool follow = false;                              // poll the store and draw its progress until done
  double timeout_seconds = 30;
  double follow_timeout_seconds = 0;  // 0: follow until done
};
int run_action(const GlobalOptions& global, const ActionOptions& options, std::ostream& out, std::ostream& err);

struct CloneTestOptions {
  std::filesystem::path target;                     // --target DIR
  bool refresh = false;                             // replace an earlier clone's data in DIR
  bool from_primary = false;                        // allow copying from the primary
  std::vector<std::string> mask_sql;                // "STORE=FILE"
  std::vector<std::string> mask_command;            // "STORE=COMMAND"
  std::string url;                                  // --url, as for status
  std::optional<std::filesystem::path> token_file;  // --token-file instead of [api] token_file
  double timeout_seconds = 6 * 3600;                // per store
};
// Makes (or refreshes) a test instance from this node's stores; see clone_test_command.cpp.
int run_clone_test(const GlobalOptions& global, const CloneTestOptions& options, std::ostream& out, std::ostream& err);

struct FailoverCommandOptions {
  std::string kind;  // "promote", "switchover", "rejoin"
  bool force = false;
  bool dry_run = false;
  std::string url;  // --url, as for status
  std::optional<std::filesystem::path> token_file;
};
// POST /v1/<kind> on the local tandemd and print the failover report.
int run_failover(const GlobalOptions& global, const FailoverCommandOptions& options, std::ostream& out,
                 std::ostream& err);
struct MaintenanceCommandOptions {
  bool pause = true;   // false: resume
  std::string reason;  // --reason, shown in status
  std::string url;     // --url, as for status
  std::optional<std::filesystem::path> token_file;
};
// POST /v1/pause or /v1/resume on the local tandemd.
int run_maintenance(const GlobalOptions& global, const MaintenanceCommandOptions& options, std::ostream& out,
                    std::ostream& err);

// GET /v1/history: past failover reports.
int run_history(const GlobalOptions& global, const std::string& url, std::ostream& out, std::ostream& err);

}  // namespace tandem::cli
