// The two hosts of the end-to-end tests and the pair on them: node alpha
// (initial primary) and node beta (initial secondary), each in a network
// namespace of its own with its own address (tests/support/netns_world.h),
// applications in a third, the client namespace.
//
// Where namespaces cannot be created (not root, no nftables), or when
// TANDEM_E2E_LOOPBACK=1 is set, both nodes share 127.0.0.1 and differ by
// port; the constructor then says so loudly, on stdout and stderr, and
// net() is null (no network faults can be injected).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "load_generator.h"
#include "pair_node.h"
#include "support/netns_world.h"
#include "support/test_certs.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::e2e {

class PairWorld {
 public:
  // Creates the hosts and both nodes, configs written; no tandemd started
  // yet. extra_hosts: more namespaces on the same network (e.g. "witness"
  // for etcd), for the test to run its own servers in.
  explicit PairWorld(const std::vector<std::string>& extra_hosts = {});
  ~PairWorld();
  PairWorld(const PairWorld&) = delete;
  PairWorld& operator=(const PairWorld&) = delete;

  // Why the pair runs on loopback ("" when it runs in namespaces).
  const std::string& loopback_reason() const { return loopback_reason_; }
  testsupport::NetnsWorld* net() { return net_.get(); }
  PairNode& node(int i) { return *nodes_[i]; }
  const PairNode& node(int i) const { return *nodes_[i]; }
  // Node i as the application reaches it (from the client namespace).
  LoadTarget target_of(int i) const;
  // A client certificate (naming the client host) from the nodes' CA, for
  // what checks the nodes' APIs from the client side (HAProxy).
  NodeTls client_tls() const;
  // Writes both nodes' tandem.toml again with `options` (before their tandemd starts).
  void rewrite_configs(const NodeConfigOptions& options);
  // Both nodes' status and logs, for a failure message.
  std::string describe() const;
  // Resumes every paused host (a stopped process would hang the teardown).
  void resume_all();

 private:
  std::string loopback_reason_;
  std::unique_ptr<testsupport::NetnsWorld> net_;  // declared first: outlives the nodes
  std::unique_ptr<sdk::testing::TempDir> secrets_;
  std::unique_ptr<testsupport::TestCerts> certs_;  // per node, naming its address
  std::unique_ptr<PairNode> nodes_[2];
};

// What of the writes `load` saw acknowledged is not on node `n`, in
// PostgreSQL or in its Redis; "" when every one is there.
std::string missing_acknowledged(const LoadGenerator& load, const PairNode& n);

}  // namespace tandem::e2e
