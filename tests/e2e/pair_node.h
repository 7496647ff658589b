// One node of a real tandem pair for the end-to-end tests: its own
// PostgreSQL, Redis, Elasticsearch stand-in, config tree and tandemd (the
// real binaries, with all four shipped plugins), on loopback, on free ports,
// in temp dirs. Everything is stopped when the object is destroyed.
//
// The pair is symmetric: each node's config names the other as its peer and
// either can be primary; the node's persisted state decides after the first
// start, as in production.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/background_process.h"
#include "support/postgres_server.h"
#include "support/redis_server.h"
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

struct NodePorts {
  int api = 0;
  int kv_endpoint = 0;
  int rsync_serve = 0;
  int es = 0;
};

class PairNode {
 public:
  // initial_primary: the PostgreSQL cluster is initdb'd here (with the
  // replication role and the load table); otherwise its data dir starts empty
  // and the node's postgres-wal plugin builds the standby.
  PairNode(std::string name, bool initial_primary, const std::filesystem::path& secrets);
  ~PairNode();
  PairNode(const PairNode&) = delete;
  PairNode& operator=(const PairNode&) = delete;

  // Writes tandem.toml naming `peer`; call once both nodes exist.
  void write_config(const PairNode& peer);

  // Starts tandemd (extra env, e.g. TANDEM_FAULT_INJECT) and waits for its API.
  void start_daemon(const std::map<std::string, std::string>& env = {});
  // kill -9 of tandemd (its process group), as a crash would.
  void kill_daemon();
  // SIGTERM and wait.
  void stop_daemon();
  bool daemon_running();
  // Exit status of the last tandemd once it ended (e.g. 86 for an injected crash).
  std::optional<int> daemon_exit_status() const { return tandemd_.exit_status(); }

  // tandemctl --config <this node> [--json] args...
  sdk::ProcessResult ctl(const std::vector<std::string>& args, bool json = true) const;
  // GET /v1/status; null when the daemon does not answer.
  nlohmann::json status() const;
  // One store's entry from status(); null when absent.
  nlohmann::json store(const nlohmann::json& status, const std::string& name) const;
  // GET /monitor/replication; null when the daemon does not answer.
  nlohmann::json replication_page() const;

  const std::string& name() const { return name_; }
  const NodePorts& ports() const { return ports_; }
  testsupport::PostgresServer& pg() { return *pg_; }
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

 private:
  std::string name_;
  bool initial_primary_;
  sdk::testing::TempDir dir_;
  NodePorts ports_;
  std::unique_ptr<testsupport::PostgresServer> pg_;
  std::unique_ptr<testsupport::RedisServer> redis_;
  testsupport::BackgroundProcess es_;
  testsupport::BackgroundProcess tandemd_;
  std::filesystem::path secrets_;
  int daemon_starts_ = 0;
};

// Polls `predicate` every 100 ms until true or the timeout; false on timeout.
bool wait_for(const std::function<bool()>& predicate, std::chrono::milliseconds timeout);

}  // namespace tandem::e2e
