// Malformed, oversized and slow clients never crash or stall the API: each
// case runs while well-behaved clients keep getting answers.
#include <gtest/gtest.h>

#include <fcntl.h>

#include <filesystem>
#include <thread>

#include "in_process_daemon.h"
#include "support/test_http.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testplugins {
namespace {

using namespace std::chrono_literals;
using sdk::testing::eventually;

InProcessOptions short_timeouts() {
  InProcessOptions o;
  o.tuning.api.limits.header_timeout = 2s;  // keeps the suite quick; the defaults are 5 s and 10 s
  o.tuning.api.limits.body_timeout = 2s;
  o.tuning.api.limits.connections.max_connections = 64;
  return o;
}

bool api_answers(int port) { return testhttp::get(port, "/v1/status").status == 200; }

TEST(ApiHardening, GarbageBytesGet400AndTheServerCarriesOn) {
  InProcessDaemon d({{"s", std::make_shared<TestStorePlugin>()}}, short_timeouts());
  // Sized from the literal (it has NULs inside): a hard-coded length read past its end.
  static const char kTlsHello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello?\r\n\r\n";
  for (std::string garbage : {std::string(kTlsHello, sizeof kTlsHello - 1), std::string("NOT HTTP AT ALL\r\n\r\n"),
                              std::string("GET /v1/status HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
                              std::string("GET /v1/status HTTP/1.1\r\nBad Header Line\r\n\r\n")}) {
    testhttp::Connection c(d.port);
    c.send(garbage);
    bool closed = false;
    std::string answer = c.read_until_closed(10s, &closed);
    EXPECT_TRUE(closed) << "connection left open after garbage";
    auto r = testhttp::parse_reply(answer);
    EXPECT_EQ(r.status, 400) << answer;
    EXPECT_TRUE(nlohmann::json::parse(r.body).contains("error"));
    EXPECT_TRUE(api_answers(d.port));
  }
}

TEST(ApiHardening, InvalidBytesInThePathGet400WithAShortJsonError) {
  InProcessDaemon d({{"s", std::make_shared<TestStorePlugin>()}}, short_timeouts());
  for (std::string target :
       {"/v1/stores/%ff", "/v1/stores/%c3%28", "/v1/stores/%ed%a0%80", "/v1/stores/%c0%af", "/v1/stores/a%00b",
        "/v1/stores/a%0ab", "/v1/stores/s/actions/%fe", "/v1/stores/%zz", "/v1/stores/%f", "/v1/stores/s/events%ff"}) {
    auto r = testhttp::get(d.port, target);
    EXPECT_EQ(r.status, 400) << target << ": " << r.body;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << target << ": " << r.body;
    EXPECT_LT(j["error"].get<std::string>().size(), 100u) << r.body;
    EXPECT_EQ(r.body.find("json"), std::string::npos) << "library text leaked: " << r.body;
  }
  // Valid UTF-8 that names no store is a 404, and the server carries on.
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/%c3%a9").status, 404);
  EXPECT_EQ(testhttp::get(d.port, "/v1/stores/s").status, 200);
  // Elsewhere, an invalid byte never turns the answer into a 500.
  EXPECT_EQ(testhttp::get(d.port, "/v1/nothing%ff").status, 404);
}

TEST(ApiHardening, HugeHeadersGet431) {
  InProcessDaemon d({}, short_timeouts());
  testhttp::Connection c(d.port);
  std::string req = "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  c.send(req);
  bool closed = false;
  auto r = testhttp::parse_reply(c.read_until_closed(10s, &closed));
  EXPECT_EQ(r.status, 431);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(api_answers(d.port));
  // Many headers that add up past the limit count too.
  testhttp::Connection c2(d.port);
  std::string many = "GET /v1/status HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 700; ++i) many += "X-H" + std::to_string(i) + ": 0123456789\r\n";
  c2.send(many + "\r\n");
  EXPECT_EQ(testhttp::parse_reply(c2.read_until_closed(10s)).status, 431);
}

TEST(ApiHardening, OversizedBodyGets413) {
  InProcessDaemon d({{"s", std::make_shared<TestStorePlugin>()}}, short_timeouts());
  testhttp::Connection c(d.port);
  std::string head =
      "POST /v1/stores/s/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\n"
      "Content-Length: " +
      std::to_string(2 * 1024 * 1024) + "\r\n\r\n";
  c.send(head);
  c.send(std::string(64 * 1024, ' '));  // the server answers without waiting for the rest
  auto r = testhttp::parse_reply(c.read_until_closed(10s));
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(api_answers(d.port));
}

TEST(ApiHardening, SlowlorisIsCutOffWhileOthersAreServed) {
  InProcessDaemon d({{"s", std::make_shared<TestStorePlugin>()}}, short_timeouts());
  // Several clients each dribble a request that never completes.
  std::vector<std::unique_ptr<testhttp::Connection>> slow;
  for (int i = 0; i < 8; ++i) {
    slow.push_back(std::make_unique<testhttp::Connection>(d.port));
    ASSERT_TRUE(slow.back()->send("GET /v1/status HTTP/1.1\r\nHost: x\r\n"));
  }
  std::atomic<bool> done{false};
  std::thread dribbler([&] {
    for (int i = 0; i < 40 && !done; ++i) {
      for (auto& c : slow) c->send("X-Slow: 1\r\n");
      std::this_thread::sleep_for(200ms);
    }
  });
  // Meanwhile well-behaved clients get complete answers.
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(api_answers(d.port)) << "request " << i;
  // The dribblers are disconnected by the read deadline although they keep sending.
  for (auto& c : slow) {
    bool closed = false;
    std::string got = c->read_until_closed(30s, &closed);
    EXPECT_TRUE(closed) << "a slow client was never cut off";
    EXPECT_EQ(got, "");  // no answer to a request that never completed
  }
  done = true;
  dribbler.join();
  EXPECT_TRUE(api_answers(d.port));
}

// A full table makes room by closing the connection idle longest, so a
// newcomer is answered; only when no connection is idle (all in the middle
// of a request) is it refused. Idle connections end at the header deadline.
TEST(ApiHardening, IdleConnectionsMakeRoomForNewcomersAndAreClosedByTheHeaderDeadline) {
  InProcessOptions o = short_timeouts();
  o.tuning.api.limits.header_timeout = 30s;  // the first part must not depend on a deadline
  o.tuning.api.limits.connections = {.max_connections = 8, .per_address = 8, .reserved = 0};
  {
    InProcessDaemon d({}, o);
    std::vector<std::unique_ptr<testhttp::Connection>> idle;
    for (int i = 0; i < 8; ++i) idle.push_back(std::make_unique<testhttp::Connection>(d.port));
    // Each newcomer over the cap is answered; the oldest idle connections are closed for them.
    for (int i = 0; i < 3; ++i) {
      auto r = testhttp::get(d.port, "/v1/status");
      EXPECT_EQ(r.status, 200) << r.head;
    }
    bool closed = false;
    idle[0]->read_until_closed(10s, &closed);
    EXPECT_TRUE(closed) << "the oldest idle connection was not closed for the newcomer";
    // Connections in the middle of a request are never closed for a newcomer.
    std::vector<std::unique_ptr<testhttp::Connection>> busy;
    for (int i = 0; i < 8; ++i) {
      busy.push_back(std::make_unique<testhttp::Connection>(d.port));
      busy.back()->send("GET /v1/status HTTP/1.1\r\nHost: x\r\n");
    }
    testhttp::Reply extra;
    EXPECT_TRUE(eventually(
        [&] {
          extra = testhttp::get(d.port, "/v1/status");
          return extra.status == 503;
        },
        10s))
        << extra.status;
    EXPECT_NE(extra.body.find("too many connections"), std::string::npos) << extra.body;
    for (auto& c : busy) EXPECT_TRUE(c->send("\r\n")) << "a busy connection was closed";
    for (std::size_t i = 0; i < busy.size(); ++i) {
      auto r = busy[i]->read_reply(10s);
      EXPECT_TRUE(r && r->status == 200) << "busy connection " << i
                                         << "'s request was not answered: " << (r ? r->head + r->body : "closed");
    }
  }
  // Idle connections hit the header deadline; then there is room again.
  o.tuning.api.limits.header_timeout = 2s;
  InProcessDaemon d({}, o);
  std::vector<std::unique_ptr<testhttp::Connection>> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(std::make_unique<testhttp::Connection>(d.port));
  for (auto& c : idle) {
    bool closed = false;
    EXPECT_EQ(c->read_until_closed(20s, &closed), "");
    EXPECT_TRUE(closed);
  }
  EXPECT_TRUE(eventually([&] { return api_answers(d.port); }, 10s));
}

TEST(ApiHardening, ManyConcurrentClientsAllGetAnswers) {
  InProcessDaemon d({{"s", std::make_shared<TestStorePlugin>()}}, short_timeouts());
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 25; ++i)
        if (testhttp::get(d.port, "/monitor/replication").status == 200) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 200);
}

// Plugins start long-lived subprocesses (pg_ctl, rsync daemons): none may
// inherit the API's listener or connections, or the port stays bound after
// tandemd exits and a restart cannot listen again.
TEST(ApiHardening, SocketsAreNotInheritedBySubprocesses) {
  InProcessOptions o = short_timeouts();
  o.peer_api_url = "http://127.0.0.1:" + std::to_string(sdk::testing::free_port());
  InProcessDaemon d({{"s", std::make_shared<TestStorePlugin>()}}, o);
  testhttp::Connection keep(d.port);
  ASSERT_TRUE(keep.send("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(keep.read_reply(10s).has_value());
  int sockets = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::stoi(entry.path().filename().string());
    std::error_code ec;
    auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (ec || target.string().rfind("socket:", 0) != 0) continue;
    ++sockets;
    int flags = ::fcntl(fd, F_GETFD);
    EXPECT_TRUE(flags >= 0 && (flags & FD_CLOEXEC)) << "socket fd " << fd << " would be inherited";
  }
  EXPECT_GE(sockets, 3);  // the listener, the accepted connection, the test's own end
}

}  // namespace
}  // namespace tandem::testplugins
