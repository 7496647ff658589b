// Test harness: a primary and a secondary config-rsync plugin in one process,
// each with its own TestHost, connected with connect_peer, and a small
// scheduler per plugin that does what tandemd's does (sync() every interval
// and soon after request_sync(), never overlapping). Shared by the
// integration tests and the latency benchmark driver.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "config_rsync_plugin.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::config_rsync::testing {

// The plugin's whole store schema (its keys plus the host's sync_interval), as
// the daemon validates against it.
inline sdk::ConfigSchema full_schema() { return sdk::store_schema(ConfigRsyncPlugin()); }

// Emulates the host's scheduler for one plugin.
class SyncLoop {
 public:
  SyncLoop(sdk::Plugin& plugin, sdk::testing::TestHost& host, std::chrono::milliseconds interval);
  ~SyncLoop();
  SyncLoop(const SyncLoop&) = delete;
  SyncLoop& operator=(const SyncLoop&) = delete;
  void stop();
  // Runs f while no sync() is in progress (the host's one-at-a-time rule).
  template <class F>
  auto exclusive(F&& f) {
    std::lock_guard l(run_mu_);
    return f();
  }
  int runs() const { return runs_.load(); }
  std::string last_summary() const;

 private:
  void run();
  sdk::Plugin& plugin_;
  sdk::testing::TestHost& host_;
  std::chrono::milliseconds interval_;
  std::mutex run_mu_;
  mutable std::mutex summary_mu_;
  std::string last_summary_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> runs_{0};
  std::thread thread_;
};

struct PairOptions {
  std::string interval = "60s";  // long: changes must arrive through the prompt path
  bool mirror_deletes = true;
  nlohmann::json extra = nlohmann::json::object();  // more keys for both nodes
};

// alpha starts as primary, beta as secondary; each serves its copy with the
// built-in daemon on its own free port and pulls from the other's.
class PluginPair {
 public:
  explicit PluginPair(PairOptions options = {});
  ~PluginPair();

  sdk::StoreConfig config_for(const std::filesystem::path& tree, int serve_port, int peer_port) const;
  // Starts both plugins and both loops; throws when a start fails.
  void start();
  // Waits until beta's health is ok and its checksum matches alpha's.
  bool wait_in_sync(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  sdk::testing::TempDir root{"tandem-config-rsync"};
  std::filesystem::path alpha_tree, beta_tree, staging;
  int alpha_port = 0, beta_port = 0;
  PairOptions options;
  std::unique_ptr<sdk::testing::TestHost> alpha_host, beta_host;
  std::unique_ptr<ConfigRsyncPlugin> alpha, beta;
  std::unique_ptr<SyncLoop> alpha_loop, beta_loop;
};

// File helpers.
void write_file(const std::filesystem::path& p, const std::string& content);
std::string read_file_or(const std::filesystem::path& p, const std::string& fallback = "<missing>");
// Writes beside the tree, then renames into place, as config tools do.
void replace_file_atomically(const std::filesystem::path& staging_dir, const std::filesystem::path& target,
                             const std::string& content);
// A plugin's pull count (health details "pulls").
std::uint64_t pulls_of(const ConfigRsyncPlugin& plugin);

}  // namespace tandem::config_rsync::testing
