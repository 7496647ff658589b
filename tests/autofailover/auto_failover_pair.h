// The fixture of the end-to-end automatic-failover tests: two real tandemd
// processes (alpha, initially primary; beta, secondary) in mode "automatic"
// on a real three-member etcd cluster, on loopback. Each test binary here
// derives from it; what differs between them is the stores each node runs
// (stores_toml(), default: the daemon-test store) and the [failover] / [dcs]
// lines a test adds.
#pragma once

#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dcs/leader_store.h"
#include "support/etcd_cluster.h"
#include "support/test_http.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::autofailover_test {

using Clock = std::chrono::steady_clock;
inline constexpr std::chrono::seconds kTtl{5};

// One API request; status 0 when nothing answers (the test_http helpers throw then).
testhttp::Reply ask(int port, const std::string& target, const std::string& method = "GET");

struct Node {
  std::string name;
  int port = 0;
  std::filesystem::path dir;
  sdk::ChildProcess daemon;
};

class AutoFailoverPair : public ::testing::Test {
 protected:
  void SetUp() override;

  // The [stores.*] tables of node i.
  virtual std::string stores_toml(int i);
  // The etcd cluster's options (e.g. TLS); made in SetUp.
  virtual testsupport::EtcdClusterOptions etcd_options() { return {}; }

  void write_config(int i);
  void start(int i);
  // Both nodes' configs, alpha started (and holding the key), beta started
  // and seeing alpha.
  void start_pair(std::chrono::seconds ttl = kTtl);

  nlohmann::json status(int i);
  // The load balancers' writability check: 200 only from an unfenced primary.
  int primary_check(int i) { return ask(nodes_[i].port, "/primary").status; }
  bool is_primary(int i);
  bool holds_key(int i);
  // The health of store `name` in node i's status (an empty object when absent).
  nlohmann::json store_health(int i, const std::string& name);
  // Node i says a gate refuses its takeover, within ttl + 15 s.
  bool takeover_refused_soon(int i);
  // Node i never answers /primary 200 for `how_long` (it keeps asking: the
  // refusal holds); the first failure says `what` with the status and logs.
  void expect_stays_secondary(int i, std::chrono::milliseconds how_long, const std::string& what);
  std::string metrics(int i) { return ask(nodes_[i].port, "/metrics").body; }
  // Signals the daemon's process group.
  void signal_daemon(int i, int sig) { ::kill(-nodes_[i].daemon.pid(), sig); }
  // tandemctl --config <node i> args...
  sdk::ProcessResult ctl(int i, const std::vector<std::string>& args);
  std::string logs();
  // What etcd holds under the pair's prefix (the leader key, etcd's epoch),
  // read directly; and a client of the test's own to change it.
  core::dcs::LeaderRead etcd_view();
  core::dcs::EtcdOptions etcd_client_options() const;

  sdk::testing::TempDir temp_{"tandem-etcd-pair"};
  std::unique_ptr<testsupport::EtcdCluster> etcd_;
  Node nodes_[2];
  std::chrono::seconds ttl_ = kTtl;
  // Lines added to [failover] and to [dcs] of both configs.
  std::string failover_extra_;
  std::string dcs_extra_;
  // The [dcs] endpoints array (default: the cluster's client URLs).
  std::string endpoints_toml_;
  // How the test's own etcd client speaks TLS (a TLS cluster only).
  std::shared_ptr<const sdk::net::TlsContext> etcd_client_tls_;
};

}  // namespace tandem::autofailover_test
