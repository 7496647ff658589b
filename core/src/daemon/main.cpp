// tandemd: the tandem host daemon. `tandemd --config FILE [--check]`.
// Startup, signals and readiness only; the work is in host/ and api/.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "config/host_config.h"
#include "daemon/tandem_daemon.h"
#include "host/config_check.h"
#include "host/sd_notify.h"
#include "util/logging.h"

namespace {

using namespace tandem::core;

// --check: everything short of starting, the same check as tandemctl
// check-config (host/config_check.h), each store's configure() included.
int check_config(const std::filesystem::path& file) {
  auto check = check_config_file(file);
  for (const auto& e : check.errors) std::cerr << e << "\n";
  if (!check.ok()) return 1;
  std::cout << file.string() << ": OK, " << check.stores << " store(s)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tandemd: keeps a warm-standby pair of data stores in sync (one per node)"};
  std::string config_path;
  bool check_only = false;
  app.add_option("-c,--config", config_path, "the node's TOML config file")->required();
  app.add_flag("--check", check_only, "validate the config and the stores' tables, then exit (0 = valid)");
  app.set_version_flag("--version", std::string("tandemd ") + TANDEM_VERSION);
  CLI11_PARSE(app, argc, argv);
  set_log_level(log_level_from_env());

  if (check_only) return check_config(config_path);

  auto loaded = load_host_config(config_path);
  if (auto* errors = std::get_if<ConfigErrors>(&loaded)) {
    std::cerr << errors->joined();
    if (!errors->messages.empty() && errors->joined().back() != '\n') std::cerr << "\n";
    return 1;
  }
  const HostConfig& config = std::get<HostConfig>(loaded);

  // Signals are taken synchronously by this thread with sigwait; every thread
  // created from here on inherits the blocked mask, so none is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  log_info("tandemd", std::string("tandemd ") + TANDEM_VERSION + " starting with " + config.source.string());
  auto daemon = TandemDaemon::from_config(config);
  if (!daemon) {
    log_error("tandemd", "cannot start:\n" + daemon.message());
    return 1;
  }
  try {
    daemon.value()->start();
  } catch (const std::exception& e) {
    log_error("tandemd", std::string("cannot start: ") + e.what());
    daemon.value()->stop();
    return 1;
  }
  sd_notify("READY=1\nSTATUS=serving");
  log_info("tandemd", "ready");

  int received = 0;
  sigwait(&signals, &received);
  log_info("tandemd", std::string("received ") + (received == SIGTERM ? "SIGTERM" : "SIGINT") + ": shutting down");
  sd_notify("STOPPING=1");
  bool clean = daemon.value()->stop();
  if (!clean) {
    log_error("tandemd", "shutdown was not clean: a plugin call or a failover step is hung");
    std::fflush(nullptr);
    std::_Exit(1);  // hung threads still hold plugin objects: do not run destructors under them
  }
  log_info("tandemd", "stopped");
  return 0;
}
