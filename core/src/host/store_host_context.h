// The host's sdk::HostContext for one store: identity and role from the
// node's persisted state, a logger prefixed with the store's name, a private
// state file <data_dir>/stores/<store>/state.json, metrics with a store label,
// the event loop, the worker pool, sync requests and peer messages.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/io_context.hpp>

#include "host/metrics_registry.h"
#include "host/peer_monitor.h"
#include "state/node_state.h"
#include "tandem/sdk/file_state_store.h"
#include "tandem/sdk/host_context.h"
#include "util/logging.h"
#include "util/task_threads.h"

namespace tandem::core {

// The node-wide services every store's context refers to; owned by NodeRuntime.
struct NodeServices {
  sdk::NodeIdentity node;
  sdk::PeerInfo peer;
  NodeState* state = nullptr;
  boost::asio::io_context* io = nullptr;
  TaskThreads* workers = nullptr;
  PluginMetrics* metrics = nullptr;
  PeerMonitor* peer_monitor = nullptr;
};

class StoreHostContext final : public sdk::HostContext {
 public:
  // Creates the store's directory; throws std::runtime_error when its state
  // file exists but is corrupt.
  StoreHostContext(const NodeServices& services, std::string store_name);

  const std::string& store_name() const override { return store_; }
  const sdk::NodeIdentity& node() const override { return services_.node; }
  const sdk::PeerInfo& peer() const override { return services_.peer; }
  sdk::Role role() const override { return services_.state->get().role; }
  std::uint64_t epoch() const override { return services_.state->get().epoch; }
  bool fenced() const override { return services_.state->get().fenced; }

  sdk::Logger& log() override { return logger_; }
  sdk::StateStore& state() override { return *state_store_; }
  sdk::MetricsRegistry& metrics() override { return metrics_; }
  std::filesystem::path store_dir() override;

  boost::asio::io_context& io() override { return *services_.io; }
  void post_blocking(std::function<void()> work) override;

  void request_sync() override;
  void notify_peer(const nlohmann::json& message) override;

  // The store's runner routes request_sync() here once it exists.
  void set_sync_requester(std::function<void()> requester);

  const std::atomic<bool>& sync_cancelled() const override { return sync_cancelled_; }
  // The runner's: set while a promote waits for the sync in progress.
  void set_sync_cancelled(bool cancelled) { sync_cancelled_ = cancelled; }

 private:
  NodeServices services_;
  std::string store_;
  std::filesystem::path dir_;
  StoreLogger logger_;
  StoreMetrics metrics_;
  std::unique_ptr<sdk::FileStateStore> state_store_;
  std::mutex mu_;
  std::function<void()> sync_requester_;
  bool sync_requested_early_ = false;  // asked before the runner was attached
  std::atomic<bool> sync_cancelled_{false};
};

}  // namespace tandem::core
