// The network-namespace world of tests/support/netns_world.h, tested for what
// each fault claims: connections and datagrams between every pair of hosts
// are checked before a fault, under it (exactly the paths it names are cut,
// and only those) and after heal (everything passes again). Process faults
// are checked on a real redis-server inside a node's namespace. Teardown and
// the sweep of a dead test's leftovers are checked against `ip netns`.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "support/background_process.h"
#include "support/netns_scope.h"
#include "support/netns_world.h"
#include "support/redis_server.h"
#include "tandem/sdk/process.h"

namespace tandem::testsupport {
namespace {

using namespace std::chrono_literals;
constexpr int kTcpPort = 7480;  // the same port on every host, as on real ones
constexpr int kUdpPort = 7481;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

sockaddr_in ipv4(const std::string& address, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  return a;
}

// A TCP connect from inside `netns` completes within the timeout (the kernel
// answers the handshake from the listen backlog; nobody needs to accept).
bool tcp_connects(const std::string& netns, const std::string& address, int port,
                  std::chrono::milliseconds timeout = 700ms) {
  NetnsScope in(netns);
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in to = ipv4(address, port);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{s.fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

// Per host: a TCP listener and a UDP socket on 0.0.0.0, made inside its namespace.
class Listeners {
 public:
  explicit Listeners(const NetnsWorld& world) : world_(world) {
    for (const auto& h : world.hosts()) {
      NetnsScope in(world.netns(h));
      auto tcp = std::make_unique<Fd>(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      int one = 1;
      ::setsockopt(tcp->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in any = ipv4("0.0.0.0", kTcpPort);
      if (::bind(tcp->fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 || ::listen(tcp->fd, 512) != 0)
        throw std::runtime_error("listen in " + h + ": " + std::strerror(errno));
      auto udp = std::make_unique<Fd>(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      sockaddr_in uany = ipv4("0.0.0.0", kUdpPort);
      if (::bind(udp->fd, reinterpret_cast<sockaddr*>(&uany), sizeof uany) != 0)
        throw std::runtime_error("udp bind in " + h + ": " + std::strerror(errno));
      tcp_[h] = std::move(tcp);
      udp_[h] = std::move(udp);
    }
  }

  bool connects(const std::string& from, const std::string& to) {
    return tcp_connects(world_.netns(from), world_.address(to), kTcpPort);
  }

  // A datagram sent from `from` arrives at `to`: tells the two directions apart.
  bool datagram_arrives(const std::string& from, const std::string& to) {
    const std::string token = from + "->" + to + "#" + std::to_string(++sent_);
    {
      NetnsScope in(world_.netns(from));
      Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      sockaddr_in dst = ipv4(world_.address(to), kUdpPort);
      // A send on a downed link fails at once; that is a lost datagram too.
      (void)::sendto(s.fd, token.data(), token.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    }
    const int fd = udp_.at(to)->fd;
    const auto deadline = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      char buf[256];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0 && std::string(buf, static_cast<std::size_t>(n)) == token) return true;
    }
    return false;
  }

  // Which directed paths pass, as "a->b" keys: the whole picture at once.
  std::map<std::string, bool> tcp_matrix() {
    std::map<std::string, bool> m;
    for (const auto& a : world_.hosts())
      for (const auto& b : world_.hosts())
        if (a != b) m[a + "->" + b] = connects(a, b);
    return m;
  }

 private:
  const NetnsWorld& world_;
  std::map<std::string, std::unique_ptr<Fd>> tcp_, udp_;
  int sent_ = 0;
};

std::map<std::string, bool> all_pass(const NetnsWorld& world, const std::set<std::string>& cut = {}) {
  std::map<std::string, bool> m;
  for (const auto& a : world.hosts())
    for (const auto& b : world.hosts())
      if (a != b) m[a + "->" + b] = !cut.count(a + "->" + b);
  return m;
}

std::string ip_netns_list() {
  sdk::ProcessSpec spec;
  spec.argv = {"ip", "netns", "list"};
  auto r = sdk::run_process(spec);
  return r ? r->stdout_text : "";
}

class NetnsWorldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = NetnsWorld::unavailable_reason())
      GTEST_SKIP() << "NETWORK NAMESPACES UNAVAILABLE, fixture not tested: " << *why;
    world_ = std::make_unique<NetnsWorld>();
    listeners_ = std::make_unique<Listeners>(*world_);
  }
  void TearDown() override {
    if (!world_) return;
    for (const auto& h : world_->hosts()) world_->resume(h);
  }
  std::unique_ptr<NetnsWorld> world_;
  std::unique_ptr<Listeners> listeners_;
};

TEST_F(NetnsWorldTest, EveryHostHasItsOwnAddressAndReachesEveryOther) {
  const auto hosts = world_->hosts();
  ASSERT_EQ(hosts, (std::vector<std::string>{"alpha", "beta", "client"}));
  std::set<std::string> addresses, names;
  const std::string pid = std::to_string(::getpid());
  for (const auto& h : hosts) {
    addresses.insert(world_->address(h));
    names.insert(world_->netns(h));
    EXPECT_NE(world_->netns(h).find(pid), std::string::npos) << world_->netns(h);
    EXPECT_TRUE(tcp_connects(world_->netns(h), "127.0.0.1", kTcpPort)) << "loopback is not up in " << h;
  }
  EXPECT_EQ(addresses.size(), hosts.size());
  EXPECT_EQ(listeners_->tcp_matrix(), all_pass(*world_));
  // Nothing of the world lives in the root namespace: no veth of ours there.
  sdk::ProcessSpec links;
  links.argv = {"ip", "-o", "link"};
  auto r = sdk::run_process(links);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_text.find("e" + pid + "@"), std::string::npos) << r->stdout_text;
  EXPECT_EQ(r->stdout_text.find("s" + pid + "h"), std::string::npos) << r->stdout_text;
}

TEST_F(NetnsWorldTest, PartitionCutsNodeToNodeBothWaysWhileClientsReachBoth) {
  world_->partition("alpha", "beta");
  EXPECT_EQ(listeners_->tcp_matrix(), all_pass(*world_, {"alpha->beta", "beta->alpha"}));
  EXPECT_FALSE(listeners_->datagram_arrives("alpha", "beta"));
  EXPECT_FALSE(listeners_->datagram_arrives("beta", "alpha"));
  EXPECT_EQ(world_->describe_faults(), "alpha->beta dropped; beta->alpha dropped");
  world_->heal();
  EXPECT_EQ(listeners_->tcp_matrix(), all_pass(*world_));
  EXPECT_TRUE(listeners_->datagram_arrives("alpha", "beta"));
  EXPECT_EQ(world_->describe_faults(), "none");
}

TEST_F(NetnsWorldTest, OneWayPartitionLosesOnlyOneDirection) {
  world_->partition_one_way("alpha", "beta");
  EXPECT_FALSE(listeners_->datagram_arrives("alpha", "beta"));
  EXPECT_TRUE(listeners_->datagram_arrives("beta", "alpha"));
  // TCP needs both directions: connections either side opens stall.
  EXPECT_EQ(listeners_->tcp_matrix(), all_pass(*world_, {"alpha->beta", "beta->alpha"}));
  world_->heal();
  EXPECT_TRUE(listeners_->datagram_arrives("alpha", "beta"));
  EXPECT_EQ(listeners_->tcp_matrix(), all_pass(*world_));
}

TEST_F(NetnsWorldTest, IsolateCutsTheHostFromClientsToo) {
  world_->isolate("alpha");
  EXPECT_EQ(listeners_->tcp_matrix(),
            all_pass(*world_, {"alpha->beta", "beta->alpha", "alpha->client", "client->alpha"}));
  EXPECT_TRUE(tcp_connects(world_->netns("alpha"), "127.0.0.1", kTcpPort)) << "an isolated host still has loopback";
  world_->heal();
  EXPECT_EQ(listeners_->tcp_matrix(), all_pass(*world_));
}

TEST_F(NetnsWorldTest, LinkDownCutsTheHostUntilHealed) {
  world_->link_down("beta");
  EXPECT_EQ(listeners_->tcp_matrix(),
            all_pass(*world_, {"alpha->beta", "beta->alpha", "beta->client", "client->beta"}));
  EXPECT_FALSE(listeners_->datagram_arrives("beta", "alpha"));
  world_->heal();
  EXPECT_EQ(listeners_->tcp_matrix(), all_pass(*world_));
}

TEST_F(NetnsWorldTest, PauseFreezesAndKillEndsEveryProcessOfAHost) {
  RedisServerOptions options;
  options.netns = world_->netns("alpha");
  options.bind = world_->address("alpha");
  options.port = 6379;  // the well-known port: this host is ours alone
  RedisServer redis(options);
  auto ping = [&](std::chrono::milliseconds timeout) {
    try {
      NetnsScope in(world_->netns("client"));
      RedisClient c(world_->address("alpha"), 6379, timeout);
      return c.command({"PING"}).str == "PONG";
    } catch (const std::exception&) {
      return false;
    }
  };
  ASSERT_TRUE(ping(2s)) << redis.log_tail();
  EXPECT_GE(world_->pause("alpha"), 1);
  EXPECT_FALSE(ping(800ms)) << "a paused host answered";
  EXPECT_TRUE(redis.running()) << "pause must not end the process";
  EXPECT_GE(world_->resume("alpha"), 1);
  EXPECT_TRUE(ping(2s)) << "the resumed host does not answer";
  EXPECT_GE(world_->kill_all("alpha"), 1);
  // kill_all returns once no process is left in the namespace, but a dying
  // task leaves its namespaces before it becomes a zombie its parent can
  // reap, so "not running" is seen a moment later.
  EXPECT_TRUE(sdk::testing::eventually([&] { return !redis.running(); }, 5s)) << "kill -9 did not end redis";
  EXPECT_FALSE(ping(800ms));
  redis.restart();
  EXPECT_TRUE(ping(2s)) << "restarted in its namespace, on the same address and port";
}

TEST(NetnsWorldTeardown, DestructorRemovesEveryNamespace) {
  if (auto why = NetnsWorld::unavailable_reason()) GTEST_SKIP() << "NETWORK NAMESPACES UNAVAILABLE: " << *why;
  std::vector<std::string> names;
  sdk::ChildProcess left_behind;  // outlives the world, which must end it
  {
    NetnsWorld world({"alpha", "beta"});
    for (const auto& h : world.hosts()) names.push_back(world.netns(h));
    // A process left running in a namespace does not keep it alive.
    sdk::ChildSpec sleeper;
    sleeper.argv = {"ip", "netns", "exec", world.netns("beta"), "sleep", "600"};
    sleeper.log_file = "/dev/null";
    left_behind = start_background(sleeper);
    ASSERT_TRUE(sdk::testing::eventually([&] { return !netns_pids(world.netns("beta")).empty(); }, 5s));
  }
  EXPECT_FALSE(left_behind.running());
  const std::string list = ip_netns_list();
  for (const auto& n : names) EXPECT_EQ(list.find(n), std::string::npos) << n << " left behind:\n" << list;
}

TEST(NetnsWorldTeardown, LeftoversOfADeadTestAreSweptAtTheNextStart) {
  if (auto why = NetnsWorld::unavailable_reason()) GTEST_SKIP() << "NETWORK NAMESPACES UNAVAILABLE: " << *why;
  // A test process that was killed -9: its pid is gone, its namespace and a
  // process inside it are still there.
  sdk::ProcessSpec quick;
  quick.argv = {"sh", "-c", "echo $$"};
  auto r = sdk::run_process(quick);
  ASSERT_TRUE(r.ok() && r->succeeded());
  const std::string dead_pid = r->stdout_text.substr(0, r->stdout_text.find('\n'));
  const std::string leftover = "tnd" + dead_pid + "n0-alpha";
  sdk::ProcessSpec add;
  add.argv = {"ip", "netns", "add", leftover};
  ASSERT_TRUE(sdk::run_process(add)->succeeded());
  sdk::ChildSpec sleeper;
  sleeper.argv = {"ip", "netns", "exec", leftover, "sleep", "600"};
  sleeper.log_file = "/dev/null";
  sdk::ChildProcess inside = start_background(sleeper);
  ASSERT_TRUE(sdk::testing::eventually([&] { return !netns_pids(leftover).empty(); }, 5s));

  NetnsWorld next;  // its constructor sweeps
  EXPECT_EQ(ip_netns_list().find(leftover), std::string::npos) << ip_netns_list();
  EXPECT_TRUE(sdk::testing::eventually([&] { return !inside.running(); }, 5s))
      << "the process left in the dead test's namespace still runs";
  EXPECT_NE(ip_netns_list().find(next.netns("alpha")), std::string::npos) << "a live test's namespace was swept";
}

}  // namespace
}  // namespace tandem::testsupport
