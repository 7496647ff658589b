// A primary coming back (crash, reboot) asks its peer before its stores
// start: when the peer was promoted meanwhile, the stores start fenced and
// never open for writes, rather than until the peer monitor's first answer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "in_process_daemon.h"
#include "support/test_http.h"
#include "tandem/sdk/file_util.h"

namespace tandem::testplugins {
namespace {

// A peer tandemd that only answers GET /v1/status with a fixed body.
class FakePeer {
 public:
  explicit FakePeer(std::string status_body) : body_(std::move(status_body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("fake peer: cannot listen");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakePeer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)::recv(c, buf, sizeof buf, 0);  // one small GET; its content does not matter here
      const std::string reply =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body_.size()) +
          "\r\nConnection: close\r\n\r\n" + body_;
      (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  std::string body_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A primary node (fresh state: epoch 1) whose peer answers with `peer_status`,
// started with one test store; returns once the store has started.
struct PrimaryAgainstPeer {
  explicit PrimaryAgainstPeer(const std::string& peer_status, core::HooksConfig hooks = {}) : peer(peer_status) {
    InProcessOptions o;
    o.peer_api_url = peer.url();
    o.tuning.runtime.hooks = std::move(hooks);
    daemon = std::make_unique<InProcessDaemon>(std::vector<StoreSpec>{{"store", plugin}}, o);
    started = sdk::testing::eventually([&] { return plugin->started.load(); }, std::chrono::seconds(10));
  }
  FakePeer peer;
  std::shared_ptr<TestStorePlugin> plugin = std::make_shared<TestStorePlugin>();
  std::unique_ptr<InProcessDaemon> daemon;
  bool started = false;
};

TEST(StartupFencing, APrimaryWhosePeerIsAheadStartsItsStoresFenced) {
  PrimaryAgainstPeer node(R"({"role":"primary","epoch":7,"fenced":false})");
  ASSERT_TRUE(node.started);
  EXPECT_TRUE(node.plugin->fenced_at_start) << "the store started before the node knew it was fenced";
  auto status = testhttp::get(node.daemon->port, "/v1/status").json();
  EXPECT_TRUE(status["fenced"].get<bool>());
  EXPECT_NE(status.value("fenced_reason", "").find("epoch 7"), std::string::npos) << status.dump();
  EXPECT_EQ(testhttp::get(node.daemon->port, "/monitor/replication").json()["replication_mode"], "fenced");
}

TEST(StartupFencing, APrimaryWhosePeerIsNotAheadStartsUnfenced) {
  PrimaryAgainstPeer node(R"({"role":"secondary","epoch":1,"fenced":false})");
  ASSERT_TRUE(node.started);
  EXPECT_FALSE(node.plugin->fenced_at_start);
  EXPECT_FALSE(testhttp::get(node.daemon->port, "/v1/status").json()["fenced"].get<bool>());
}

// A load balancer must never send writes to a fenced former primary: it still
// holds the primary role in its state, but every "may I write here" check says no.
TEST(StartupFencing, AFencedPrimaryAnswers503ToTheLoadBalancerChecks) {
  PrimaryAgainstPeer node(R"({"role":"primary","epoch":7,"fenced":false})");
  ASSERT_TRUE(node.started);
  int port = node.daemon->port;
  ASSERT_TRUE(testhttp::get(port, "/v1/status").json()["fenced"].get<bool>());
  for (const char* path : {"/primary", "/read-write", "/v1/stores/store/primary", "/readiness"}) {
    auto r = testhttp::get(port, path);
    EXPECT_EQ(r.status, 503) << path << ": " << r.body;
    EXPECT_EQ(r.json()["fenced"], true) << path;
    EXPECT_EQ(r.json()["reason"].get<std::string>().rfind("fenced: ", 0), 0u) << path << ": " << r.body;
    EXPECT_EQ(testhttp::request(port, "HEAD", path).status, 503) << path;
  }
  // Nor is it a replica: it has not rejoined.
  EXPECT_EQ(testhttp::get(port, "/replica").status, 503);
  // The process itself is alive.
  EXPECT_EQ(testhttp::get(port, "/liveness").status, 200);
}

TEST(StartupFencing, AnUnfencedPrimaryAnswers200ToTheSameChecks) {
  PrimaryAgainstPeer node(R"({"role":"secondary","epoch":1,"fenced":false})");
  ASSERT_TRUE(node.started);
  int port = node.daemon->port;
  // The store's health is cached a moment after it starts.
  EXPECT_TRUE(
      sdk::testing::eventually([&] { return testhttp::get(port, "/primary").status == 200; }, std::chrono::seconds(20)))
      << testhttp::get(port, "/primary").body;
  EXPECT_EQ(testhttp::get(port, "/v1/stores/store/primary").status, 200);
  EXPECT_EQ(testhttp::get(port, "/readiness").status, 200);
}

// [hooks] on fencing: on_fenced and on_role_change run with what happened.
TEST(StartupFencing, FencingFiresTheOnFencedAndOnRoleChangeHooks) {
  sdk::testing::TempDir dir;
  core::HooksConfig hooks;
  for (const char* event : {"on_fenced", "on_role_change"}) {
    auto script = dir.path() / (std::string(event) + ".sh");
    sdk::atomic_write_file(script,
                           "#!/bin/sh\n{ echo \"args: $*\"; env | grep '^TANDEM_' | sort; } > '" +
                               (dir.path() / (std::string(event) + ".out")).string() + ".tmp' && mv '" +
                               (dir.path() / (std::string(event) + ".out")).string() + ".tmp' '" +
                               (dir.path() / (std::string(event) + ".out")).string() + "'\n",
                           0755);
    hooks.commands[event] = core::HookCommand{event, {script.string()}, std::chrono::seconds(10), "test:1:1"};
  }
  PrimaryAgainstPeer node(R"({"role":"primary","epoch":7,"fenced":false})", hooks);
  ASSERT_TRUE(node.started);
  auto out = [&](const char* event) {
    auto p = dir.path() / (std::string(event) + ".out");
    return std::filesystem::exists(p) ? sdk::read_file(p) : std::string();
  };
  ASSERT_TRUE(sdk::testing::eventually([&] { return !out("on_fenced").empty() && !out("on_role_change").empty(); },
                                       std::chrono::seconds(20)));
  EXPECT_NE(out("on_fenced").find("args: on_fenced fenced"), std::string::npos) << out("on_fenced");
  EXPECT_NE(out("on_fenced").find("TANDEM_PEER_EPOCH=7"), std::string::npos);
  EXPECT_NE(out("on_fenced").find("TANDEM_REASON=peer beta is at epoch 7"), std::string::npos) << out("on_fenced");
  EXPECT_NE(out("on_role_change").find("TANDEM_OLD_ROLE=primary"), std::string::npos) << out("on_role_change");
  EXPECT_NE(out("on_role_change").find("TANDEM_NEW_ROLE=fenced"), std::string::npos);
  EXPECT_NE(out("on_role_change").find("TANDEM_NODE=alpha"), std::string::npos);
}

// on_store_health_change: a store going from ok to failed runs the hook with both statuses.
TEST(StartupFencing, AStoreHealthChangeFiresItsHook) {
  sdk::testing::TempDir dir;
  auto script = dir.path() / "health.sh";
  auto log = dir.path() / "health.log";
  sdk::atomic_write_file(
      script,
      "#!/bin/sh\necho \"$TANDEM_STORE $TANDEM_OLD_STATUS->$TANDEM_NEW_STATUS ($1 $2)\" >> '" + log.string() + "'\n",
      0755);
  core::HooksConfig hooks;
  hooks.commands["on_store_health_change"] =
      core::HookCommand{"on_store_health_change", {script.string()}, std::chrono::seconds(10), "test:1:1"};
  PrimaryAgainstPeer node(R"({"role":"secondary","epoch":1,"fenced":false})", hooks);
  ASSERT_TRUE(node.started);
  auto text = [&] { return std::filesystem::exists(log) ? sdk::read_file(log) : std::string(); };
  // The first look only records the status; a change is what fires. Two
  // more health refreshes after "ok" is served: the hooks' look has seen it.
  ASSERT_TRUE(sdk::testing::eventually(
      [&] { return testhttp::get(node.daemon->port, "/v1/status").json()["stores"][0]["health"]["status"] == "ok"; },
      std::chrono::seconds(10)));
  const int calls = node.plugin->health_calls.load();
  ASSERT_TRUE(sdk::testing::eventually([&] { return node.plugin->health_calls.load() >= calls + 2; },
                                       std::chrono::seconds(10)));
  node.plugin->set_status(sdk::HealthStatus::failed);
  ASSERT_TRUE(sdk::testing::eventually([&] { return text().find("store ok->failed") != std::string::npos; },
                                       std::chrono::seconds(20)))
      << text();
  EXPECT_NE(text().find("(on_store_health_change primary)"), std::string::npos) << text();
}

}  // namespace
}  // namespace tandem::testplugins
