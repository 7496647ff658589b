// One node of a real tandem pair for the end-to-end tests: its own
// PostgreSQL, Redis, Elasticsearch stand-in, config tree and tandemd (the
// real binaries, with all four shipped plugins), in temp dirs. Everything is
// stopped when the object is destroyed.
//
// Where it runs (NodeHost): in a network namespace of its own with its own
// address and the well-known ports (the same on both nodes, as on two hosts;
// tests/support/netns_world.h), or, where namespaces are unavailable, on
// loopback with free ports. Every process of the node is started inside its
// namespace; the helpers below that read a node's data do it from inside
// too (as an operator on that host would), so network faults between hosts
// never hide what a store holds.
//
// The pair is symmetric: each node's config names the other as its peer and
// either can be primary; the node's persisted state decides after the first
// start, as in production.
//
// The API and the peer channel speak HTTPS with mutual TLS, as a pair across
// hosts must (docs/security.md): each node has its own certificate naming its
// address, made at test time (tests/support/test_certs.h), and requires the
// peer's; tandemctl and the test's own status queries present the node's
// certificate too, as an operator on the node would.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/background_process.h"
#include "support/postgres_server.h"
#include "support/redis_server.h"
#include "tandem/sdk/net/tls.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::e2e {

// Store names in the generated configs.
inline constexpr const char* kConfigStore = "config";
inline constexpr const char* kPgStore = "pg";
inline constexpr const char* kKvStore = "kv";
inline constexpr const char* kSearchStore = "search";
// The load table, which the search store indexes as alias kSearchAlias.
inline constexpr const char* kLoadTable = "load_events";
inline constexpr const char* kSearchAlias = "events";

// Where a node runs. Default: loopback in the test's own namespace.
struct NodeHost {
  std::string netns;                  // the node's network namespace ("": loopback)
  std::string address = "127.0.0.1";  // its own address: [node] address, listen addresses
  std::string network;                // the hosts' subnet (trusted by PostgreSQL for the test's own access)
  std::string client_netns;           // where applications run (the load generator, probes)
  bool on_loopback() const { return netns.empty(); }
};

// A node's certificate files: the CA both nodes trust, and the node's own
// certificate (naming its address) and key.
struct NodeTls {
  std::filesystem::path ca, cert, key;
};

struct NodePorts {
  int api = 0;
  int kv_endpoint = 0;
  int rsync_serve = 0;
  int es = 0;
};

// What a test changes in the generated tandem.toml.
struct NodeConfigOptions {
  bool pg_synchronous = true;  // postgres-wal `synchronous` (false: asynchronous streaming)
  // config-rsync's; automatic failover wants every sync_interval at most a third of [dcs] ttl.
  std::string config_sync_interval = "60s";
  std::string config_timeout = "30s";  // config-rsync's rsync --timeout and --contimeout
  std::string extra_toml;              // appended as is (e.g. [failover] and [dcs] tables)
};

class PairNode {
 public:
  // initial_primary: the PostgreSQL cluster is initdb'd here (with the
  // replication role and the load table); otherwise its data dir starts empty
  // and the node's postgres-wal plugin builds the standby.
  PairNode(std::string name, bool initial_primary, const std::filesystem::path& secrets, NodeTls tls,
           NodeHost host = {});
  ~PairNode();
  PairNode(const PairNode&) = delete;
  PairNode& operator=(const PairNode&) = delete;

  // Writes tandem.toml naming `peer`; call once both nodes exist.
  void write_config(const PairNode& peer, const NodeConfigOptions& options = {});

  // Starts tandemd (extra env, e.g. TANDEM_FAULT_INJECT) and waits for its API.
  void start_daemon(const std::map<std::string, std::string>& env = {});
  // kill -9 of tandemd (its process group), as a crash would.
  void kill_daemon();
  // SIGTERM and wait.
  void stop_daemon();
  bool daemon_running();
  // Exit status of the last tandemd once it ended (e.g. 86 for an injected crash).
  std::optional<int> daemon_exit_status() const { return tandemd_.exit_status(); }

  // tandemctl --config <this node> [--json] args..., killed past `timeout`
  // (ProcessResult::timed_out).
  sdk::ProcessResult ctl(const std::vector<std::string>& args, bool json = true,
                         std::chrono::milliseconds timeout = std::chrono::minutes(5)) const;
  // GET /v1/status; null when the daemon does not answer.
  nlohmann::json status() const;
  // GET `target` on this node's API over HTTPS with the node's certificate,
  // from inside the node: the JSON body of a 200, else null.
  nlohmann::json api_json(const std::string& target, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // One store's entry from status(); null when absent.
  nlohmann::json store(const nlohmann::json& status, const std::string& name) const;
  // GET /monitor/replication; null when the daemon does not answer.
  nlohmann::json replication_page() const;

  // Every id of the load table in this node's PostgreSQL, sorted.
  std::vector<std::int64_t> pg_ids() const;
  // The ids among `ids` whose key (load:<id>) is missing from this node's Redis.
  std::vector<std::int64_t> missing_kv_keys(const std::vector<std::int64_t>& ids) const;
  // One command to this node's own Redis, from inside the node.
  testsupport::RedisValue redis_command(const std::vector<std::string>& argv) const;
  // A connection to this node's KV endpoint, from inside the node; throws when refused.
  std::unique_ptr<testsupport::RedisClient> kv_endpoint_client(std::chrono::milliseconds timeout) const;
  // Something accepts connections on this node's address:port, seen from the node itself.
  bool port_open(int port, std::chrono::milliseconds timeout) const;

  const std::string& name() const { return name_; }
  const NodeHost& host() const { return host_; }
  const NodePorts& ports() const { return ports_; }
  const NodeTls& tls() const { return tls_; }
  testsupport::PostgresServer& pg() { return *pg_; }
  const testsupport::PostgresServer& pg() const { return *pg_; }
  testsupport::RedisServer& redis() { return *redis_; }
  // The directory config-rsync keeps in sync on this node.
  std::filesystem::path config_tree() const { return dir_.path() / "etc" / "app"; }
  std::filesystem::path config_file() const { return dir_.path() / "tandem.toml"; }
  std::string log_tail(std::size_t bytes = 6000) const;
  // Logs of every server of this node, for a failure message.
  std::string all_logs() const;

  // The ES stand-in's view: the indices behind `alias`, and GET on a path.
  std::vector<std::string> alias_targets(const std::string& alias) const;
  nlohmann::json es_get(const std::string& path) const;
  // Starts the ES stand-in again (after the host was killed), on its port.
  void restart_es();

 private:
  std::string name_;
  bool initial_primary_;
  NodeHost host_;
  sdk::testing::TempDir dir_;
  NodePorts ports_;
  std::unique_ptr<testsupport::PostgresServer> pg_;
  std::unique_ptr<testsupport::RedisServer> redis_;
  sdk::ChildSpec es_spec_;
  sdk::ChildProcess es_;
  sdk::ChildProcess tandemd_;
  std::filesystem::path secrets_;
  NodeTls tls_;
  std::shared_ptr<const sdk::net::TlsContext> client_tls_;  // the node's certificate, trusting the CA
  int daemon_starts_ = 0;
};

// A store's health status in a /v1/status answer ("absent" when not there).
std::string health_status(const nlohmann::json& store);
// A store's health details (an empty object when absent).
nlohmann::json details(const nlohmann::json& store);
// A compact one-line-per-store view of a status, for failure messages.
std::string summarize(const std::string& name, const nlohmann::json& status);

// One look at whether `primary` and `standby` are a pair in full sync: roles
// right and unfenced, PostgreSQL synchronous and healthy on both, KV dual
// writes with an empty journal, config pulled, the search alias present and
// no rebuild running. `why` gets both nodes' summaries, for failure messages.
bool pair_in_sync(const PairNode& primary, const PairNode& standby, std::string& why);

// Polls `predicate` every 100 ms until true or the timeout; false on timeout.
bool wait_for(const std::function<bool()>& predicate, std::chrono::milliseconds timeout);

}  // namespace tandem::e2e
