// Hosts on a network for one test, made of Linux network namespaces: each
// node a namespace with its own address, a client namespace for the
// application side, all joined by veth pairs to a bridge that lives in a
// namespace of its own (nothing is created in the root namespace). Loopback is
// up inside each. The same port numbers work on every host, as on real ones.
//
//     alpha 10.77.0.11 ─┐
//     beta  10.77.0.12 ─┼─ bridge (in namespace "<prefix>-switch")
//     client 10.77.0.100┘
//
// Names: namespaces "tnd<pid>n<k>-<host>", veths "e<pid>" (host side) and
// "s<pid>h<i>" (bridge side), nft tables "tnd<pid>": the test's pid in each,
// so parallel runs never collide. Traffic stays inside these namespaces.
//
// Teardown: the destructor kills whatever still runs in the namespaces and
// deletes them (veths and nft tables go with them). A test killed with -9
// runs no destructor: every NetnsWorld constructor first calls sweep_stale(),
// which removes the namespaces of pids that are gone (and of pids reused by
// another process: the owner's start time is recorded in
// /run/tandem-netns/). So the next test run (any test that makes a world,
// e.g. `ctest -L netns`) cleans up after one that was killed.
//
// Faults are nftables rules inside the namespaces (packets dropped at the
// receiver, so senders see timeouts, as on a real partition), link down, and
// signals to every process in a host's namespace. heal() undoes every
// network fault.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tandem::testsupport {

class NetnsWorld {
 public:
  static constexpr const char* kClient = "client";

  // Why namespaces cannot be used on this machine (not root, `ip` or `nft`
  // missing, namespace creation refused), or nullopt when they can.
  static std::optional<std::string> unavailable_reason();
  // Removes the namespaces of tests that died without tearing down: kills
  // the processes still in them and deletes them. Returns the names removed.
  static std::vector<std::string> sweep_stale();

  // Creates the namespaces, the bridge and the links; throws
  // std::runtime_error (and leaves nothing behind) when that fails.
  explicit NetnsWorld(std::vector<std::string> nodes = {"alpha", "beta"});
  ~NetnsWorld();
  NetnsWorld(const NetnsWorld&) = delete;
  NetnsWorld& operator=(const NetnsWorld&) = delete;

  // Every host: the nodes in order, then kClient.
  std::vector<std::string> hosts() const;
  // The namespace name and IPv4 address of a host; throws for an unknown one.
  const std::string& netns(const std::string& host) const;
  const std::string& address(const std::string& host) const;
  // The host's one interface (its end of the veth pair to the bridge).
  const std::string& interface(const std::string& host) const;
  // The hosts' subnet in CIDR notation ("10.77.0.0/24").
  std::string subnet() const;
  // `ip netns exec <netns>`, to prefix a command line (for scripts and logs).
  std::vector<std::string> exec_prefix(const std::string& host) const;

  // Network faults; they accumulate until heal().
  // Nothing passes between a and b, either way; other hosts (the client)
  // still reach both.
  void partition(const std::string& a, const std::string& b);
  // Packets from `from` to `to` are lost; the other direction still passes
  // (TCP needs both, so connections either side opens stall).
  void partition_one_way(const std::string& from, const std::string& to);
  // The host reaches nobody and nobody reaches it, clients included.
  void isolate(const std::string& host);
  // The host's link goes down (its address stays; sends fail at once with
  // "network unreachable") until link_up or heal.
  void link_down(const std::string& host);
  void link_up(const std::string& host);
  // Every rule removed and every link up.
  void heal();
  // The network faults in effect, e.g. "alpha->beta dropped; beta link down" ("none").
  std::string describe_faults() const;

  // Process faults on every process in a host's namespace: SIGSTOP / SIGCONT
  // (a frozen host), SIGKILL (a host that dies). Return how many processes.
  int pause(const std::string& host);
  int resume(const std::string& host);
  int kill_all(const std::string& host);

 private:
  struct Host {
    std::string name, netns, address, veth;
  };
  const Host& host(const std::string& name) const;
  void apply_rules(const Host& receiver);  // rewrites the receiver's nft table from blocked_
  void run(const std::vector<std::string>& argv, const std::string& stdin_data = "") const;
  void teardown() noexcept;

  std::string prefix_;
  std::string table_;
  std::string switch_netns_;
  std::vector<Host> hosts_;
  std::set<std::pair<std::string, std::string>> blocked_;  // (from, to) host names
  std::set<std::string> links_down_;
  std::vector<std::string> created_;  // namespaces made so far, for teardown
};

}  // namespace tandem::testsupport
