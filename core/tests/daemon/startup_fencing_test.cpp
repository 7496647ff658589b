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
      const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
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

TEST(StartupFencing, APrimaryWhosePeerIsAheadStartsItsStoresFenced) {
  FakePeer peer(R"({"role":"primary","epoch":7,"fenced":false})");
  auto plugin = std::make_shared<TestStorePlugin>();
  InProcessOptions o;
  o.peer_api_url = peer.url();
  InProcessDaemon d({{"store", plugin}}, o);
  ASSERT_TRUE(sdk::testing::eventually([&] { return plugin->started.load(); }, std::chrono::seconds(10)));
  EXPECT_TRUE(plugin->fenced_at_start) << "the store started before the node knew it was fenced";
  auto status = testhttp::get(d.port, "/v1/status").json();
  EXPECT_TRUE(status["fenced"].get<bool>());
  EXPECT_NE(status.value("fenced_reason", "").find("epoch 7"), std::string::npos) << status.dump();
  EXPECT_EQ(testhttp::get(d.port, "/monitor/replication").json()["replication_mode"], "fenced");
}

TEST(StartupFencing, APrimaryWhosePeerIsNotAheadStartsUnfenced) {
  FakePeer peer(R"({"role":"secondary","epoch":1,"fenced":false})");
  auto plugin = std::make_shared<TestStorePlugin>();
  InProcessOptions o;
  o.peer_api_url = peer.url();
  InProcessDaemon d({{"store", plugin}}, o);
  ASSERT_TRUE(sdk::testing::eventually([&] { return plugin->started.load(); }, std::chrono::seconds(10)));
  EXPECT_FALSE(plugin->fenced_at_start);
  EXPECT_FALSE(testhttp::get(d.port, "/v1/status").json()["fenced"].get<bool>());
}

}  // namespace
}  // namespace tandem::testplugins
