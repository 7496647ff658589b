// TandemDaemon::from_config: the startup path of tandemd, kept apart from the
// in-process assembly so tests of the runtime need no plugin loader.
#include <exception>

#include "config/store_names.h"
#include "daemon/tandem_daemon.h"
#include "host/auto_failover_node.h"
#include "host/config_check.h"
#include "host/tls_setup.h"
#include "loader/plugin_loader.h"
#include "loader/store_loading.h"
#include "tandem/sdk/file_util.h"
#include "util/logging.h"

namespace tandem::core {
namespace {

sdk::Result<std::optional<std::string>> read_token(const std::optional<std::filesystem::path>& file, const char* what) {
  if (!file) return std::optional<std::string>();
  // The same test as the config check (host/config_check.h).
  auto token = read_checked_secret(*file, std::string(what) + " token_file");
  TANDEM_TRY(token);
  return std::optional<std::string>(*token);
}

}  // namespace

sdk::Result<std::unique_ptr<TandemDaemon>> TandemDaemon::from_config(const HostConfig& config, DaemonTuning tuning) {
  auto store_errors = check_store_set(config);
  if (!store_errors.empty()) {
    std::string joined;
    for (const auto& e : store_errors) joined += (joined.empty() ? "" : "\n") + e;
    return sdk::Error{joined};
  }
  // The same test as the config check: a hook that cannot run is refused now, not at its first event.
  auto hook_errors = check_hook_commands(config.hooks);
  if (!hook_errors.empty()) {
    std::string joined;
    for (const auto& e : hook_errors) joined += (joined.empty() ? "" : "\n") + e;
    return sdk::Error{joined};
  }
  auto api_token = read_token(config.api.token_file, "[api]");
  if (!api_token) return sdk::Error{api_token.message()};
  auto peer_token = read_token(config.peer.token_file, "[peer]");
  if (!peer_token) return sdk::Error{peer_token.message()};
  // The same checks as --check (host/tls_setup.h), then the contexts.
  auto api_tls = api_server_tls(config);
  if (!api_tls) return sdk::Error{api_tls.message()};
  auto peer_tls = peer_client_tls(config);
  if (!peer_tls) return sdk::Error{peer_tls.message()};
  tuning.runtime.peer.tls = *peer_tls;
  auto dcs_tls = dcs_client_tls(config);
  if (!dcs_tls) return sdk::Error{dcs_tls.message()};
  if (!api_token->has_value())
    log_warn("tandemd", "no [api] token_file configured: mutating endpoints (actions, events, promote) are refused");

  tuning.runtime.hooks = config.hooks;
  tuning.runtime.peer_probe_timeout = config.failover.peer_probe_timeout;
  tuning.runtime.test_instance = config.node.test_instance;
  tuning.runtime.history_interval = config.api.dashboard.history_interval;
  tuning.runtime.dashboard_actions = config.api.dashboard.actions;
  std::unique_ptr<NodeRuntime> runtime;
  try {
    runtime =
        std::make_unique<NodeRuntime>(sdk::NodeIdentity{config.node.name, config.node.address, config.node.data_dir},
                                      sdk::PeerInfo{config.peer.name, config.peer.address, config.peer.api_url},
                                      peer_token->value_or(""), config.node.initial_role, tuning.runtime);
  } catch (const std::exception& e) {
    return sdk::Error{e.what()};
  }

  PluginLoader loader(config.plugins.search_dirs);
  for (const auto& entry : config.stores) {
    if (!entry.enabled) {
      log_info(entry.name, "disabled in the config: not loaded");
      continue;
    }
    std::unique_ptr<StoreHostContext> context;
    try {
      context = runtime->make_context(entry.name);
    } catch (const std::exception& e) {
      return sdk::Error{entry.location + ": store '" + entry.name + "': " + e.what()};
    }
    auto store = load_store(entry, loader, *context);
    if (!store) return sdk::Error{store.message()};
    if (auto problems = failover_store_problems(config, entry, store.value().config); !problems.empty())
      return sdk::Error{problems.front(), sdk::ErrorCode::invalid_config};
    auto& loaded = store.value().loaded;
    log_info(entry.name, "loaded plugin " + loaded.manifest.name + " " + loaded.manifest.version + " from " +
                             loaded.manifest.path.string());
    runtime->add_store(loaded.manifest.name, loaded.manifest.version, loaded.plugin, std::move(context),
                       store.value().config.sync_interval());
  }

  if (config.failover.mode == FailoverMode::automatic && config.dcs) {
    auto password = read_dcs_password(*config.dcs);
    if (!password) return sdk::Error{password.message(), sdk::ErrorCode::invalid_config};
    auto view = std::make_unique<RuntimeAutoFailoverNode>(*runtime, peer_token->value_or(""), *peer_tls);
    auto driver =
        std::make_unique<dcs::AutoFailover>(*view, config.node.name, *config.dcs, config.failover, *password, *dcs_tls);
    // Before the stores serve: etcd must answer, and a primary holds the key
    // (or is fenced) before it opens any store for writes.
    if (auto started = driver->start(); !started) return started.error();
    log_info("tandemd", "automatic failover on etcd (" + std::to_string(config.dcs->endpoints.size()) +
                            " endpoints, ttl " + std::to_string(config.dcs->ttl.count()) + " ms, prefix " +
                            config.dcs->prefix + ")");
    runtime->enable_auto_failover(std::move(view), std::move(driver));
  }

  tuning.api.bind_address = config.api.bind_address;
  tuning.api.port = config.api.port;
  tuning.api.limits = config.api.limits;
  tuning.api.tls = *api_tls;
  return std::make_unique<TandemDaemon>(std::move(runtime), std::move(*api_token), tuning.api);
}

}  // namespace tandem::core
