// Shared set-up for the integration suites: two real redis-servers on loopback
// (this node's and the peer's), a TestHost, and the plugin configured against
// them with its RESP endpoint on a free port.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kv_plugin.h"
#include "support/redis_server.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::kv::testing {

using testsupport::RedisClient;
using testsupport::RedisServer;
using testsupport::RedisServerOptions;
using testsupport::RedisValue;

inline RedisServerOptions aof_options() {
  RedisServerOptions o;
  o.appendonly = true;
  return o;
}

// One node: its TestHost and plugin instance.
struct Node {
  std::unique_ptr<sdk::testing::TestHost> host;
  std::unique_ptr<KvStorePlugin> plugin;
  int endpoint_port = 0;
  nlohmann::json config;

  void configure_and_start() {
    auto cfg = sdk::StoreConfig::from_json("kv", sdk::store_schema(*plugin), config);
    auto st = plugin->configure(cfg, *host);
    ASSERT_TRUE(st.ok()) << st.message();
    auto started = plugin->start();
    ASSERT_TRUE(started.ok()) << started.message();
  }
};

inline Node make_node(sdk::Role role, int local_port, int peer_port, nlohmann::json extra = {},
                      const std::filesystem::path& data_dir = {}) {
  Node n;
  sdk::testing::TestHostOptions o;
  o.role = role;
  o.store_name = "kv";
  o.node_name = role == sdk::Role::primary ? "alpha" : "beta";
  o.data_dir = data_dir;
  n.host = std::make_unique<sdk::testing::TestHost>(o);
  n.plugin = std::make_unique<KvStorePlugin>();
  n.endpoint_port = sdk::testing::free_port();
  n.config = {{"listen_port", n.endpoint_port}, {"local_port", local_port}, {"peer_port", peer_port},
              {"connect_timeout", "1s"},        {"command_timeout", "2s"},  {"reconnect_interval", "100ms"},
              {"sync_interval", "200ms"},       {"sample_rate", 0}};
  for (auto& [k, v] : extra.items()) n.config[k] = v;
  return n;
}

inline std::unique_ptr<RedisClient> connect(int port) { return std::make_unique<RedisClient>("127.0.0.1", port); }

// Waits until the endpoint accepts connections and both backend links are up.
inline bool endpoint_ready(Node& n) {
  return sdk::testing::eventually(
      [&] {
        auto h = n.plugin->health();
        return h.details.value("local_up", false) && h.details.value("peer_up", false) &&
               !h.details.value("journaling", true);
      },
      std::chrono::seconds(20));
}

inline bool journal_drained(Node& n, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  return sdk::testing::eventually(
      [&] {
        auto h = n.plugin->health();
        return h.details.value("peer_up", false) && !h.details.value("journaling", true) &&
               h.details.value("journal_depth", 1) == 0;
      },
      timeout);
}

inline std::map<std::string, std::string> snapshot(int port) {
  RedisClient c("127.0.0.1", port);
  return testsupport::redis_snapshot(c);
}

// A writer that keeps writing through the endpoint, recording what was acknowledged.
// Each write i: SET w<id>:k<i> i, and SET w<id>:last i (the per-key sequence check).
class Writer {
 public:
  Writer(int port, int id) : port_(port), id_(id) {}
  ~Writer() { stop(); }
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Copies (the writer thread appends concurrently).
  std::vector<long> acked() const {
    std::lock_guard l(mu_);
    return acked_;
  }
  std::vector<std::string> errors() const {
    std::lock_guard l(mu_);
    return errors_;
  }
  std::size_t acked_count() const { return acked_count_.load(); }
  int id() const { return id_; }
  long attempts() const { return next_.load(); }

 private:
  void run() {
    std::unique_ptr<RedisClient> c;
    while (!stop_) {
      try {
        if (!c) c = connect(port_);
        long i = next_++;
        auto k = "w" + std::to_string(id_) + ":k" + std::to_string(i);
        auto r = c->pipeline(
            {{"SET", k, std::to_string(i)}, {"SET", "w" + std::to_string(id_) + ":last", std::to_string(i)}});
        std::lock_guard l(mu_);
        if (!r[0].is_error() && !r[1].is_error()) {
          acked_.push_back(i);
          ++acked_count_;
        } else {
          errors_.push_back(r[0].is_error() ? r[0].str : r[1].str);
        }
      } catch (const std::exception& e) {
        {
          std::lock_guard l(mu_);
          errors_.push_back(e.what());
        }
        c.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  int port_;
  int id_;
  std::atomic<bool> stop_{false};
  std::atomic<long> next_{0};
  mutable std::mutex mu_;
  std::vector<long> acked_;
  std::vector<std::string> errors_;
  std::atomic<std::size_t> acked_count_{0};
  std::thread thread_;
};

// Every acknowledged write of `w` is on the Redis at `port`, and its ":last"
// key holds a value >= the last acknowledged one (writes are never reordered
// backwards).
inline void expect_acked_present(const Writer& w, int port, const std::string& label) {
  RedisClient c("127.0.0.1", port);
  const auto acked = w.acked();
  std::vector<std::vector<std::string>> gets;
  for (long i : acked) gets.push_back({"GET", "w" + std::to_string(w.id()) + ":k" + std::to_string(i)});
  std::size_t missing = 0;
  for (std::size_t off = 0; off < gets.size(); off += 1000) {
    std::vector<std::vector<std::string>> chunk(gets.begin() + static_cast<long>(off),
                                                gets.begin() + static_cast<long>(std::min(gets.size(), off + 1000)));
    auto replies = c.pipeline(chunk);
    for (std::size_t j = 0; j < replies.size(); ++j)
      if (replies[j].type != RedisValue::Type::string || replies[j].str != std::to_string(acked[off + j])) ++missing;
  }
  EXPECT_EQ(missing, 0u) << label << ": writer " << w.id() << " lost " << missing << " of " << acked.size()
                         << " acknowledged writes";
  if (!acked.empty()) {
    auto last = c.command({"GET", "w" + std::to_string(w.id()) + ":last"});
    ASSERT_EQ(last.type, RedisValue::Type::string) << label;
    EXPECT_GE(std::stol(last.str), acked.back()) << label << ": writer " << w.id() << " last value went backwards";
  }
}

}  // namespace tandem::kv::testing
