// A store plugin for the daemon's in-process tests: every behaviour the
// scheduler and the API must cope with is a knob the test turns (a sync that
// blocks until released, start failures, replication cells, actions).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tandem/sdk/plugin.h"

namespace tandem::testplugins {

// A gate the test opens; a sync waiting on it blocks until then.
class Gate {
 public:
  void open() {
    {
      std::lock_guard l(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return open_; });
  }
  bool is_open() const {
    std::lock_guard l(mu_);
    return open_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct TestStoreKnobs {
  std::chrono::milliseconds interval{0};
  Gate* block_sync = nullptr;  // when set, sync() waits for the gate
  // The first sync waits until the host cancels it (HostContext::sync_cancelled), at most a minute.
  bool first_sync_until_cancelled = false;
  int fail_starts = 0;  // the first N start() calls fail
  bool fail_sync = false;
  std::vector<sdk::ReplicationEntry> replication;
  sdk::HealthStatus status = sdk::HealthStatus::ok;
  std::optional<std::uint64_t> lag_bytes;
};

class TestStorePlugin final : public sdk::Plugin {
 public:
  explicit TestStorePlugin(TestStoreKnobs knobs = {}) : knobs_(std::move(knobs)), status_(knobs_.status) {}
  // The health status reported from now on.
  void set_status(sdk::HealthStatus s) { status_ = s; }

  sdk::PluginInfo info() const override {
    return {.name = "test-store",
            .version = "9.9.9",
            .description = "daemon test plugin",
            .failover_order = 50,
            .nothing_to_fail_over = true};
  }
  sdk::ConfigSchema schema() const override { return {}; }
  sdk::Status configure(const sdk::StoreConfig&, sdk::HostContext& host) override {
    host_ = &host;
    return {};
  }
  sdk::Status start() override {
    int n = ++start_calls;
    if (n <= knobs_.fail_starts) return sdk::Status::failure("start failure #" + std::to_string(n) + " (as told)");
    // Recorded before `started`: a test that waits for `started` then reads it.
    fenced_at_start = host_->fenced();
    started = true;
    return {};
  }
  void stop() override { stopped = true; }
  std::chrono::milliseconds interval() const { return knobs_.interval; }

  sdk::Result<sdk::SyncReport> sync() override {
    int now = ++concurrent_syncs;
    if (now > max_concurrent_syncs) max_concurrent_syncs = now;
    ++sync_calls;
    if (knobs_.block_sync) {
      ++blocked_syncs;
      knobs_.block_sync->wait();
    }
    if (knobs_.first_sync_until_cancelled && sync_calls == 1) {
      ++blocked_syncs;
      const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(1);
      while (!host_->sync_cancelled().load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (host_->sync_cancelled().load()) {
        ++cancelled_syncs;
        --concurrent_syncs;
        return sdk::Result<sdk::SyncReport>::failure("cancelled");
      }
    }
    --concurrent_syncs;
    if (knobs_.fail_sync) return sdk::Result<sdk::SyncReport>::failure("sync failed as told");
    return sdk::SyncReport{"synced " + std::to_string(sync_calls.load()), nlohmann::json::object()};
  }

  sdk::Health health() const override {
    ++health_calls;
    sdk::Health h = sdk::Health::make(status_.load(), "test store, " + std::to_string(sync_calls.load()) + " syncs");
    h.lag_bytes = knobs_.lag_bytes;
    h.replication = knobs_.replication;
    std::lock_guard l(mu_);
    h.details = {{"events", events_}};
    return h;
  }

  std::vector<sdk::Action> actions() override {
    using R = sdk::Result<nlohmann::json>;
    return {
        {"echo", "returns its arguments",
         [](const nlohmann::json& args) -> R {
           return nlohmann::json{{"echo", args}};
         }},
        {"fail", "always fails", [](const nlohmann::json&) -> R { return R::failure("the action failed as told"); }},
        {"metric", "sets a plugin metric", [this](const nlohmann::json&) -> R {
           host_->metrics().describe("test_items", "Items the test store holds.");
           host_->metrics().set_gauge("test_items", 42, {{"kind", "a\"b"}});
           host_->metrics().add_counter("test_ops_total", 3);
           return nlohmann::json{{"ok", true}};
         }}};
  }
  std::vector<sdk::Diagnostic> diagnostics() override {
    return {{"ping", "always passes", [](const std::vector<std::string>&) -> sdk::Result<sdk::DiagnosticResult> {
               return sdk::DiagnosticResult{true, "pong", nlohmann::json::object()};
             }}};
  }

  void on_peer_event(const nlohmann::json& event) override {
    std::lock_guard l(mu_);
    events_.push_back(event);
  }

  sdk::HostContext* host() { return host_; }

  std::atomic<int> start_calls{0};
  std::atomic<int> sync_calls{0};
  std::atomic<int> blocked_syncs{0};
  std::atomic<int> cancelled_syncs{0};  // ended by HostContext::sync_cancelled
  std::atomic<int> concurrent_syncs{0};
  std::atomic<int> max_concurrent_syncs{0};
  mutable std::atomic<int> health_calls{0};
  std::atomic<bool> started{false};
  std::atomic<bool> fenced_at_start{false};  // host.fenced() as start() saw it
  std::atomic<bool> stopped{false};

 private:
  TestStoreKnobs knobs_;
  std::atomic<sdk::HealthStatus> status_;  // after knobs_: initialised from it
  sdk::HostContext* host_ = nullptr;
  mutable std::mutex mu_;
  nlohmann::json events_ = nlohmann::json::array();
};

}  // namespace tandem::testplugins
