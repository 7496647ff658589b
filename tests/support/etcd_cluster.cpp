#include "support/etcd_cluster.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <thread>

#include "support/netns_scope.h"
#include "tandem/sdk/net/http_client.h"

namespace tandem::testsupport {

EtcdCluster::EtcdCluster(EtcdClusterOptions options) : options_(options) {
  if (options_.members == 0) throw std::invalid_argument("an etcd cluster needs at least one member");
  if (!options_.tls_cert_file.empty()) {
    sdk::net::ClientTlsFiles files;
    if (!options_.client_ca_file.empty()) files.ca_file = options_.client_ca_file;
    files.cert_file = options_.tls_cert_file;
    files.key_file = options_.tls_key_file;
    auto tls = sdk::net::make_client_tls(files);
    if (!tls) throw std::runtime_error("etcd cluster TLS: " + tls.message());
    client_tls_ = *tls;
  }
  // Free ports on loopback are picked before etcd binds them, and other
  // tests pick theirs meanwhile: a member that lost its port to one of them
  // exits at once ("bind: address already in use"). Then the whole cluster
  // is made again on fresh ports (its members name each other's ports).
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    if (form(attempt)) return;
    bool lost_a_port = false;
    for (auto& m : members_)
      lost_a_port = lost_a_port || (!m->process.running() &&
                                    m->process.log_tail(4000).find("address already in use") != std::string::npos);
    const std::string tails = log_tails();
    for (auto& m : members_) m->process.stop(std::chrono::seconds(5));
    if (!lost_a_port || attempt == kAttempts)
      throw std::runtime_error("etcd cluster did not become healthy (attempt " + std::to_string(attempt) +
                               "): " + tails);
    for (auto& m : members_) std::filesystem::remove_all(m->data_dir);
  }
}

bool EtcdCluster::form(int attempt) {
  members_.clear();
  initial_cluster_.clear();
  // A token of its own, so that members of two clusters on one machine could
  // never join each other.
  token_ = "tandem-test-" + std::to_string(::getpid()) + "-" + temp_.path().filename().string() + "-" +
           std::to_string(attempt);
  for (std::size_t i = 0; i < options_.members; ++i) {
    auto m = std::make_unique<Member>();
    m->name = "m" + std::to_string(i);
    // A host of its own has etcd's ports free; loopback is shared with other tests.
    const bool own_host = !options_.netns.empty();
    m->client_port = own_host ? 2379 + 2 * static_cast<int>(i) : sdk::testing::free_port();
    m->peer_port = own_host ? 2380 + 2 * static_cast<int>(i) : sdk::testing::free_port();
    m->data_dir = temp_.path() / m->name;
    if (!initial_cluster_.empty()) initial_cluster_ += ",";
    initial_cluster_ += m->name + "=" + url(m->peer_port);
    members_.push_back(std::move(m));
  }
  for (std::size_t i = 0; i < members_.size(); ++i) launch(i);
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (!wait_healthy(i, std::chrono::seconds(30))) return false;
  return true;
}

EtcdCluster::~EtcdCluster() {
  for (auto& m : members_) {
    if (m->paused) ::kill(-m->process.pid(), SIGCONT);  // a stopped process would ignore SIGTERM until then
    m->process.stop(std::chrono::seconds(5));
  }
}

std::string EtcdCluster::url(int port, bool client) const {
  const bool tls = client && !options_.tls_cert_file.empty();
  return (tls ? "https://" : "http://") + options_.address + ":" + std::to_string(port);
}

std::string EtcdCluster::client_url(std::size_t i) const { return url(members_.at(i)->client_port, true); }

std::vector<std::string> EtcdCluster::client_urls() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < members_.size(); ++i) out.push_back(client_url(i));
  return out;
}

std::string EtcdCluster::endpoints_toml() const {
  std::string s = "[";
  for (std::size_t i = 0; i < members_.size(); ++i) s += (i ? ", \"" : "\"") + client_url(i) + "\"";
  return s + "]";
}

void EtcdCluster::launch(std::size_t i) {
  auto& m = *members_.at(i);
  const std::string client = url(m.client_port, true);
  const std::string peer = url(m.peer_port);
  sdk::ChildSpec spec;
  spec.argv = {"etcd",
               "--name=" + m.name,
               "--data-dir=" + m.data_dir.string(),
               "--listen-client-urls=" + client,
               "--advertise-client-urls=" + client,
               "--listen-peer-urls=" + peer,
               "--initial-advertise-peer-urls=" + peer,
               "--initial-cluster=" + initial_cluster_,
               "--initial-cluster-token=" + token_,
               "--initial-cluster-state=new",  // ignored once the data dir holds a member
               "--heartbeat-interval=" + std::to_string(options_.heartbeat_interval.count()),
               "--election-timeout=" + std::to_string(options_.election_timeout.count()),
               "--logger=zap",
               "--log-outputs=stderr"};
  if (!options_.tls_cert_file.empty()) {
    spec.argv.push_back("--cert-file=" + options_.tls_cert_file.string());
    spec.argv.push_back("--key-file=" + options_.tls_key_file.string());
    if (!options_.client_ca_file.empty()) {
      spec.argv.push_back("--trusted-ca-file=" + options_.client_ca_file.string());
      spec.argv.push_back("--client-cert-auth");
    }
  }
  spec.log_file = temp_.path() / (m.name + ".log");
  NetnsScope in(options_.netns);  // the member and its sockets live on the witness host
  m.process = start_background(spec);
  m.paused = false;
}

void EtcdCluster::stop(std::size_t i) {
  auto& m = *members_.at(i);
  if (m.paused) resume(i);
  m.process.stop(std::chrono::seconds(5));
}

void EtcdCluster::kill(std::size_t i) {
  auto& m = *members_.at(i);
  m.process.kill();
  m.paused = false;
}

void EtcdCluster::start(std::size_t i) {
  if (members_.at(i)->process.running()) return;
  launch(i);
}

void EtcdCluster::pause(std::size_t i) {
  auto& m = *members_.at(i);
  if (m.process.pid() <= 0) throw std::logic_error("etcd member " + m.name + " is not running");
  ::kill(-m.process.pid(), SIGSTOP);
  m.paused = true;
}

void EtcdCluster::resume(std::size_t i) {
  auto& m = *members_.at(i);
  if (m.process.pid() > 0) ::kill(-m.process.pid(), SIGCONT);
  m.paused = false;
}

bool EtcdCluster::running(std::size_t i) { return members_.at(i)->process.running(); }

void EtcdCluster::stop_all() {
  for (std::size_t i = 0; i < members_.size(); ++i) stop(i);
}

void EtcdCluster::start_all() {
  for (std::size_t i = 0; i < members_.size(); ++i) start(i);
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (!wait_healthy(i, std::chrono::seconds(30)))
      throw std::runtime_error("etcd member " + members_[i]->name + " did not become healthy again: " + log_tails());
}

void EtcdCluster::pause_all() {
  for (std::size_t i = 0; i < members_.size(); ++i) pause(i);
}

void EtcdCluster::resume_all() {
  for (std::size_t i = 0; i < members_.size(); ++i) resume(i);
}

bool EtcdCluster::wait_healthy(std::size_t i, std::chrono::milliseconds timeout) {
  auto endpoint = sdk::net::parse_url(client_url(i));
  if (!endpoint) throw std::logic_error(endpoint.message());
  bool healthy = false;
  sdk::testing::eventually(
      [&] {
        // A member that exited (e.g. lost its port) will not become healthy.
        if (!members_[i]->process.running()) return true;
        NetnsScope in(options_.netns);
        sdk::net::Request req;
        req.target = "/health";
        req.timeout = std::chrono::seconds(2);
        req.tls = client_tls_;
        auto r = sdk::net::request(*endpoint, req);
        if (!r || r->status != 200 || r->body.find("\"true\"") == std::string::npos) return false;
        // Free ports are picked before etcd binds them: a member of another
        // test's cluster can hold this client port while ours failed to bind
        // it. Healthy means our process runs and the cluster answering there
        // has our member's peer URL.
        if (!members_[i]->process.running()) return false;
        sdk::net::Request list;
        list.method = "POST";
        list.target = "/v3/cluster/member/list";
        list.body = "{}";
        list.timeout = std::chrono::seconds(2);
        list.tls = client_tls_;
        auto members = sdk::net::request(*endpoint, list);
        const std::string peer = url(members_[i]->peer_port);
        healthy = members && members->status == 200 && members->body.find("\"" + peer + "\"") != std::string::npos;
        return healthy;
      },
      timeout);
  return healthy;
}

std::string EtcdCluster::log_tail(std::size_t i) const { return members_.at(i)->process.log_tail(); }

std::string EtcdCluster::log_tails() const {
  std::string s;
  for (auto& m : members_) s += "\n--- " + m->name + ":\n" + m->process.log_tail(1500);
  return s;
}

}  // namespace tandem::testsupport
