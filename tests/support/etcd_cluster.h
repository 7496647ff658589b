// A real etcd cluster for tests: N members (three by default, the smallest
// that survives one loss) of Debian's etcd-server (/usr/bin/etcd), each with
// its own data dir in one temp dir, client and peer URLs on loopback free
// ports, stopped and removed when the object is destroyed. Or on a host of
// its own (options.netns: a witness namespace of tests/support/netns_world.h),
// listening on that host's address with etcd's well-known ports 2379/2380
// (+2 per member), as three members on one small witness host would.
//
// Faults per member or for all: stop (SIGTERM, data kept, start() brings it
// back on the same ports and data), kill (SIGKILL), pause (SIGSTOP: the
// member holds its sockets but answers nothing, as a hung host would) and
// resume (SIGCONT).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/background_process.h"
#include "tandem/sdk/net/tls.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testsupport {

struct EtcdClusterOptions {
  std::size_t members = 3;
  // etcd's own defaults (100 ms / 1000 ms); a leader loss is noticed after
  // about one election timeout.
  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds election_timeout{1000};
  // Where the members run: the network namespace ("": the test's own) and
  // the address they listen on there.
  std::string netns;
  std::string address = "127.0.0.1";
  // TLS on the client URLs (https://, the peer URLs stay http): each member
  // serves this certificate and key, and with client_ca_file requires a
  // client certificate signed by it (etcd's --client-cert-auth). Empty: http.
  // The cluster's own health checks present tls_cert_file as their client
  // certificate (make-test-certs.sh certificates serve both roles).
  std::filesystem::path tls_cert_file, tls_key_file, client_ca_file;
};

class EtcdCluster {
 public:
  // Starts every member and waits until each reports healthy (/health);
  // throws std::runtime_error with the log tails otherwise.
  explicit EtcdCluster(EtcdClusterOptions options = {});
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  std::size_t size() const { return members_.size(); }
  // "http://ADDRESS:PORT" (or https://) of member i's client API.
  std::string client_url(std::size_t i) const;
  std::vector<std::string> client_urls() const;
  // TOML array text of every client URL: ["http://...", "http://..."].
  std::string endpoints_toml() const;
  const std::filesystem::path& dir() const { return temp_.path(); }

  void stop(std::size_t i);    // SIGTERM and wait; its data stays
  void kill(std::size_t i);    // SIGKILL, as a crash would
  void start(std::size_t i);   // after stop/kill: same ports, same data; does not wait for health
  void pause(std::size_t i);   // SIGSTOP
  void resume(std::size_t i);  // SIGCONT
  bool running(std::size_t i);

  void stop_all();
  void start_all();  // and waits until a quorum is healthy again
  void pause_all();
  void resume_all();

  // True once member i answers /health with "true" (it has a leader and
  // serves a linearizable read), within `timeout`.
  bool wait_healthy(std::size_t i, std::chrono::milliseconds timeout);
  std::string log_tail(std::size_t i) const;
  std::string log_tails() const;

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::filesystem::path data_dir;
    sdk::ChildProcess process;
    bool paused = false;
  };
  // Picks ports, starts every member, waits for each to be healthy: false
  // when one is not (the members are left to the caller).
  bool form(int attempt);
  void launch(std::size_t i);
  std::string url(int port, bool client = false) const;

  EtcdClusterOptions options_;
  sdk::testing::TempDir temp_{"tandem-etcd-cluster"};
  std::string token_;
  std::string initial_cluster_;
  std::vector<std::unique_ptr<Member>> members_;
  std::shared_ptr<const sdk::net::TlsContext> client_tls_;  // for the health checks (TLS only)
};

}  // namespace tandem::testsupport
