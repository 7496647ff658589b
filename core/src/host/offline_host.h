// The HostContext tandemctl hands a plugin it loads itself (check-config,
// diag), with the daemon possibly down. Nothing it does may disturb a running
// tandemd: the store's state is read from a copy, metrics and peer messages
// go nowhere, blocking work runs inline on the caller's thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "config/host_config.h"
#include "tandem/sdk/file_state_store.h"
#include "tandem/sdk/host_context.h"

namespace tandem::core {

class StderrLogger final : public sdk::Logger {
 public:
  explicit StderrLogger(std::string store) : store_(std::move(store)) {}
  void log(sdk::LogLevel level, std::string_view message) override;

 private:
  std::string store_;
};

class NullMetrics final : public sdk::MetricsRegistry {
 public:
  void set_gauge(std::string_view, double, const sdk::MetricLabels&) override {}
  void add_counter(std::string_view, double, const sdk::MetricLabels&) override {}
};

// A private directory under $TMPDIR, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class OfflineHostContext final : public sdk::HostContext {
 public:
  // Role and epoch come from <data_dir>/node-state.json when it exists (read
  // only), else the configured role and epoch 0.
  OfflineHostContext(const HostConfig& config, std::string store_name);
  ~OfflineHostContext() override;
  OfflineHostContext(const OfflineHostContext&) = delete;
  OfflineHostContext& operator=(const OfflineHostContext&) = delete;

  const std::string& store_name() const override { return store_name_; }
  const sdk::NodeIdentity& node() const override { return node_; }
  const sdk::PeerInfo& peer() const override { return peer_; }
  sdk::Role role() const override { return role_; }
  std::uint64_t epoch() const override { return epoch_; }
  bool fenced() const override { return fenced_; }
  sdk::Logger& log() override { return logger_; }
  sdk::StateStore& state() override;
  sdk::MetricsRegistry& metrics() override { return metrics_; }
  std::filesystem::path store_dir() override;
  boost::asio::io_context& io() override { return io_; }
  void post_blocking(std::function<void()> work) override { work(); }
  void request_sync() override {}
  void notify_peer(const nlohmann::json&) override {}

 private:
  std::string store_name_;
  sdk::NodeIdentity node_;
  sdk::PeerInfo peer_;
  sdk::Role role_ = sdk::Role::secondary;
  std::uint64_t epoch_ = 0;
  bool fenced_ = false;
  StderrLogger logger_;
  NullMetrics metrics_;
  ScratchDir scratch_;
  std::unique_ptr<sdk::FileStateStore> state_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread io_thread_;
};

}  // namespace tandem::core
