// What the host gives a plugin: identity, peer, logging, the event loop,
// off-loop execution, private persistent state, metrics and peer messaging.
//
// Every method is safe to call from any thread unless it says otherwise.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

namespace tandem::sdk {

enum class Role { primary, secondary };

inline std::string_view to_string(Role r) { return r == Role::primary ? "primary" : "secondary"; }

struct NodeIdentity {
  std::string name;                // [node] name
  std::string address;             // [node] address, as the peer reaches it and as shown on the replication page
  std::filesystem::path data_dir;  // [node] data_dir
};

struct PeerInfo {
  std::string name;
  std::string address;  // host or IP of the peer node
  std::string api_url;  // e.g. "http://10.0.0.2:7480"
};

enum class LogLevel { debug, info, warn, error };

// Lines go to the host's log with the store's name prepended. Never log secrets.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(LogLevel level, std::string_view message) = 0;
  void debug(std::string_view m) { log(LogLevel::debug, m); }
  void info(std::string_view m) { log(LogLevel::info, m); }
  void warn(std::string_view m) { log(LogLevel::warn, m); }
  void error(std::string_view m) { log(LogLevel::error, m); }
};

// A small durable key-value map private to the store. put() returns only after
// the value is on disk (atomic write, fsync, rename): it survives a crash.
class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual std::optional<std::string> get(std::string_view key) const = 0;
  // Throws std::runtime_error when the state cannot be written.
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void erase(std::string_view key) = 0;
};

using MetricLabels = std::map<std::string, std::string>;

// Metrics rendered on GET /metrics as tandem_<name>{store="...",<labels>}.
// Names are [a-z0-9_]; the host adds the store label itself.
class MetricsRegistry {
 public:
  virtual ~MetricsRegistry() = default;
  virtual void set_gauge(std::string_view name, double value, const MetricLabels& labels = {}) = 0;
  virtual void add_counter(std::string_view name, double delta, const MetricLabels& labels = {}) = 0;
  // Optional one-line help text shown as # HELP.
  virtual void describe(std::string_view name, std::string_view help) {
    (void)name;
    (void)help;
  }
};

class HostContext {
 public:
  virtual ~HostContext() = default;

  virtual const std::string& store_name() const = 0;
  virtual const NodeIdentity& node() const = 0;
  virtual const PeerInfo& peer() const = 0;
  // The node's current role and epoch (persisted by the host). A fenced node
  // saw its peer at a higher epoch and must not act as primary until rejoined.
  virtual Role role() const = 0;
  virtual std::uint64_t epoch() const = 0;
  virtual bool fenced() const = 0;

  virtual Logger& log() = 0;
  virtual StateStore& state() = 0;
  virtual MetricsRegistry& metrics() = 0;
  // A directory private to this store under the node's data_dir; created on demand.
  virtual std::filesystem::path store_dir() = 0;

  // The host's event loop (single thread). Handlers must be quick; timers and
  // sockets created on it must be cancelled/closed in Plugin::stop().
  virtual boost::asio::io_context& io() = 0;
  // Runs blocking work on the host's worker pool, never on the event loop.
  virtual void post_blocking(std::function<void()> work) = 0;

  // Ask the host to run this store's sync() soon (coalesced: at most one
  // extra run queued while one is in progress).
  virtual void request_sync() = 0;
  // Deliver a small JSON message to the same store on the peer's tandemd
  // (its Plugin::on_peer_event). Best effort, asynchronous; returns at once.
  virtual void notify_peer(const nlohmann::json& message) = 0;

  // Becomes true while this store's sync() runs and a promote or switchover
  // on this node waits for it (the host starts no sync while one is pending);
  // false at every other time. A sync that can block on the peer passes it
  // as the cancel of its requests and processes (net::Request::cancel,
  // ProcessSpec::cancel) and returns soon, an error being fine: the host runs
  // it again once the operation is done. The default: never set.
  virtual const std::atomic<bool>& sync_cancelled() const {
    static const std::atomic<bool> never{false};
    return never;
  }
};

}  // namespace tandem::sdk
