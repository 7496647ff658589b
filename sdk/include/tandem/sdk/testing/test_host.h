// A real HostContext for plugin tests, without tandemd: its own io_context on
// a thread, a small worker pool, a file-backed state store in a temp dir, and
// recorders for metrics, logs, peer messages and sync requests.
//
// Link target: TandemSDK::testkit. Not for production use.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "tandem/sdk/file_state_store.h"
#include "tandem/sdk/host_context.h"
#include "tandem/sdk/plugin.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::sdk::testing {

class RecordingLogger final : public Logger {
 public:
  explicit RecordingLogger(std::string prefix) : prefix_(std::move(prefix)) {}
  void log(LogLevel level, std::string_view message) override;
  std::vector<std::string> lines() const;
  bool contains(std::string_view fragment) const;

 private:
  std::string prefix_;
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

class RecordingMetrics final : public MetricsRegistry {
 public:
  void set_gauge(std::string_view name, double value, const MetricLabels& labels) override;
  void add_counter(std::string_view name, double delta, const MetricLabels& labels) override;
  // Value of a metric with exactly these labels, or nullopt.
  std::optional<double> value(std::string_view name, const MetricLabels& labels = {}) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, MetricLabels>, double> values_;
};

struct TestHostOptions {
  std::string store_name = "store";
  std::string node_name = "node-a";
  std::string node_address = "127.0.0.1";
  Role role = Role::secondary;
  std::uint64_t epoch = 1;
  PeerInfo peer{"node-b", "127.0.0.1", "http://127.0.0.1:1"};
  std::filesystem::path data_dir;  // empty: a fresh temp dir owned by the TestHost
  int workers = 2;
};

class TestHost final : public HostContext {
 public:
  explicit TestHost(TestHostOptions options = {});
  ~TestHost() override;  // stops the loop and joins all threads

  const std::string& store_name() const override { return options_.store_name; }
  const NodeIdentity& node() const override { return node_; }
  const PeerInfo& peer() const override { return options_.peer; }
  Role role() const override { return role_.load(); }
  std::uint64_t epoch() const override { return epoch_.load(); }
  bool fenced() const override { return fenced_.load(); }
  Logger& log() override { return logger_; }
  StateStore& state() override;
  MetricsRegistry& metrics() override { return metrics_; }
  std::filesystem::path store_dir() override;
  boost::asio::io_context& io() override { return io_; }
  void post_blocking(std::function<void()> work) override;
  void request_sync() override { sync_requests_.fetch_add(1); }
  void notify_peer(const nlohmann::json& message) override;

  // Test controls and observations.
  void set_role(Role r) { role_ = r; }
  void set_epoch(std::uint64_t e) { epoch_ = e; }
  void set_fenced(bool f) { fenced_ = f; }
  int sync_requests() const { return sync_requests_.load(); }
  std::vector<nlohmann::json> peer_messages() const;
  // Route notify_peer messages straight to another plugin's on_peer_event
  // (a two-node pair in one process). nullptr stops routing.
  void connect_peer(Plugin* peer_plugin) {
    std::lock_guard l(mu_);
    peer_plugin_ = peer_plugin;
  }
  RecordingLogger& logger() { return logger_; }
  RecordingMetrics& recorded_metrics() { return metrics_; }

 private:
  void worker_loop();

  TestHostOptions options_;
  std::unique_ptr<TempDir> owned_dir_;
  NodeIdentity node_;
  std::atomic<Role> role_;
  std::atomic<std::uint64_t> epoch_;
  std::atomic<bool> fenced_{false};
  std::atomic<int> sync_requests_{0};
  RecordingLogger logger_;
  RecordingMetrics metrics_;
  std::unique_ptr<FileStateStore> state_;

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread io_thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::vector<nlohmann::json> peer_messages_;
  Plugin* peer_plugin_ = nullptr;
};

}  // namespace tandem::sdk::testing
