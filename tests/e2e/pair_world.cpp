#include "pair_world.h"

#include <cstdlib>
#include <iostream>

#include "tandem/sdk/file_util.h"

namespace tandem::e2e {

namespace {
const char* const kNames[2] = {"alpha", "beta"};
const char* const kClientCert = "client";
}  // namespace

PairWorld::PairWorld(const std::vector<std::string>& extra_hosts) {
  const char* forced = std::getenv("TANDEM_E2E_LOOPBACK");
  if (forced && std::string(forced) == "1") {
    loopback_reason_ = "TANDEM_E2E_LOOPBACK=1 is set";
  } else if (auto why = testsupport::NetnsWorld::unavailable_reason()) {
    loopback_reason_ = *why;
  }
  if (loopback_reason_.empty()) {
    std::vector<std::string> hosts{kNames[0], kNames[1]};
    hosts.insert(hosts.end(), extra_hosts.begin(), extra_hosts.end());
    net_ = std::make_unique<testsupport::NetnsWorld>(hosts);
  } else {
    const std::string banner = "\n*** e2e: NOT IN NETWORK NAMESPACES: both nodes on 127.0.0.1, told apart by port (" +
                               loopback_reason_ + "); no network faults can be tested ***\n\n";
    std::cout << banner << std::flush;
    std::cerr << banner << std::flush;
  }
  secrets_ = std::make_unique<sdk::testing::TempDir>("tandem-e2e-secrets");
  sdk::atomic_write_file(secrets_->path() / "replication.pw", "e2e-replication-pw\n", 0600);
  sdk::atomic_write_file(secrets_->path() / "events-mapping.json",
                         R"({"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},)"
                         R"( "mappings": {"properties": {"id": {"type": "long"}, "payload": {"type": "keyword"}}}})",
                         0644);
  // Certificates made now, never committed: each names its node's address
  // (and 127.0.0.1), as a certificate of a host in production would.
  // The client's is for load balancers' health checks, which the nodes' APIs
  // (mutual TLS) require to present one.
  std::vector<std::pair<std::string, std::string>> named;
  for (int i = 0; i < 2; ++i) named.push_back({kNames[i], net_ ? net_->address(kNames[i]) : "127.0.0.1"});
  named.push_back({kClientCert, net_ ? net_->address(testsupport::NetnsWorld::kClient) : "127.0.0.1"});
  certs_ = std::make_unique<testsupport::TestCerts>(named);
  for (int i = 0; i < 2; ++i) {
    NodeHost host;
    if (net_) {
      host.netns = net_->netns(kNames[i]);
      host.address = net_->address(kNames[i]);
      host.network = net_->subnet();
      host.client_netns = net_->netns(testsupport::NetnsWorld::kClient);
    }
    const NodeTls tls{certs_->ca(), certs_->cert(kNames[i]), certs_->key(kNames[i])};
    nodes_[i] = std::make_unique<PairNode>(kNames[i], i == 0, secrets_->path(), tls, host);
  }
  if (net_)
    std::cout << "e2e: pair in network namespaces: alpha " << net_->address(kNames[0]) << ", beta "
              << net_->address(kNames[1]) << ", clients " << net_->address(testsupport::NetnsWorld::kClient)
              << std::endl;
  nodes_[0]->write_config(*nodes_[1]);
  nodes_[1]->write_config(*nodes_[0]);
}

PairWorld::~PairWorld() { resume_all(); }

void PairWorld::resume_all() {
  if (!net_) return;
  for (const auto& h : net_->hosts()) net_->resume(h);
}

void PairWorld::rewrite_configs(const NodeConfigOptions& options) {
  nodes_[0]->write_config(*nodes_[1], options);
  nodes_[1]->write_config(*nodes_[0], options);
}

NodeTls PairWorld::client_tls() const { return {certs_->ca(), certs_->cert(kClientCert), certs_->key(kClientCert)}; }

LoadTarget PairWorld::target_of(int i) const {
  const PairNode& n = node(i);
  return {n.host().client_netns, n.host().address, n.pg().port(), n.ports().kv_endpoint};
}

std::string PairWorld::describe() const {
  std::string out;
  if (net_) out += "network faults in effect: " + net_->describe_faults() + "\n";
  for (const auto& n : nodes_)
    if (n) out += summarize(n->name(), n->status()) + n->all_logs();
  return out;
}

std::string missing_acknowledged(const LoadGenerator& load, const PairNode& n) {
  const auto pg_acked = load.pg_acked();
  const auto kv_acked = load.kv_acked();
  std::string out;
  auto pg_missing = missing_from(pg_acked, n.pg_ids());
  if (!pg_missing.empty())
    out += "acknowledged PostgreSQL rows not on " + n.name() + ": " + describe_missing(pg_missing) + " (of " +
           std::to_string(pg_acked.size()) + ")";
  auto kv_missing = n.missing_kv_keys(kv_acked);
  if (!kv_missing.empty())
    out += std::string(out.empty() ? "" : "; ") + "acknowledged KV writes not in " + n.name() +
           "'s Redis: " + describe_missing(kv_missing) + " (of " + std::to_string(kv_acked.size()) + ")";
  return out;
}

}  // namespace tandem::e2e
