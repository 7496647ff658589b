// The SDK's HTTP client (tandem/sdk/net/http_client.h) against a real server
// on a free loopback port: tandemd's own API server (api/http_server.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "api/http_server.h"
#include "tandem/sdk/net/http_client.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::core {
namespace {

namespace http = boost::beast::http;
using sdk::net::Request;
using sdk::net::Url;

// A server that answers every request with what it received, as JSON;
// /status/N answers with status N, /big with 2 MiB, /hang never answers
// until the test releases it.
class EchoServer {
 public:
  explicit EchoServer(std::string bind = "127.0.0.1", std::chrono::milliseconds idle = std::chrono::seconds(10)) {
    HttpServerOptions o;
    o.bind_address = std::move(bind);
    o.port = 0;
    o.limits.header_timeout = idle;
    server_ = std::make_unique<HttpServer>(o, [this](HttpRequest&& req, HttpResponder respond) {
      std::string target(req.target());
      if (target == "/hang") {
        std::lock_guard l(mu_);
        held_.push_back(std::move(respond));
        return;
      }
      HttpResponse res{http::status::ok, 11};
      if (target.rfind("/status/", 0) == 0) res.result(std::stoi(target.substr(8)));
      res.set(http::field::content_type, "application/json");
      nlohmann::json j{{"method", std::string(req.method_string())},
                       {"target", target},
                       {"body", req.body()},
                       {"host", std::string(req[http::field::host])},
                       {"content_type", std::string(req[http::field::content_type])},
                       {"authorization", std::string(req[http::field::authorization])}};
      res.body() = target == "/big" ? std::string(2u << 20, 'x') : j.dump();
      res.prepare_payload();
      respond(std::move(res));
    });
    server_->start();
  }
  ~EchoServer() {
    std::lock_guard l(mu_);
    for (auto& respond : held_) respond(json_error(503, "test over"));
  }
  Url url(std::string host = "127.0.0.1") const { return Url{sdk::net::Scheme::http, host, server_->port(), ""}; }
  HttpServer& server() { return *server_; }

 private:
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::vector<HttpResponder> held_;
};

nlohmann::json echoed(const sdk::Result<sdk::net::Response>& r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
  if (!r.ok()) return {};
  return nlohmann::json::parse(r->body);
}

TEST(HttpClientTest, GetSendsHostAndTargetUnderTheBasePath) {
  EchoServer es;
  Url url = es.url();
  url.path = "/prefix";
  Request req;
  req.target = "/v1/status";
  auto r = sdk::net::request(url, req);
  auto j = echoed(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["target"], "/prefix/v1/status");
  EXPECT_EQ(j["host"], "127.0.0.1:" + std::to_string(es.server().port()));
}

TEST(HttpClientTest, PostSendsBodyAndHeaders) {
  EchoServer es;
  Request req;
  req.method = "POST";
  req.target = "/v1/rejoin";
  req.body = R"({"a":1})";
  req.headers["Authorization"] = "Bearer t0ken";
  auto j = echoed(sdk::net::request(es.url(), req));
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["body"], R"({"a":1})");
  EXPECT_EQ(j["content_type"], "application/json");
  EXPECT_EQ(j["authorization"], "Bearer t0ken");

  req.headers["Content-Type"] = "application/x-ndjson";
  EXPECT_EQ(echoed(sdk::net::request(es.url(), req))["content_type"], "application/x-ndjson");
}

TEST(HttpClientTest, AnyHttpStatusIsAResponse) {
  EchoServer es;
  for (int status : {404, 500, 503}) {
    Request req;
    req.target = "/status/" + std::to_string(status);
    auto r = sdk::net::request(es.url(), req);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r->status, status);
  }
}

TEST(HttpClientTest, HeadHasNoBody) {
  EchoServer es;
  Request req;
  req.method = "HEAD";
  auto r = sdk::net::request(es.url(), req);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
}

TEST(HttpClientTest, NoServerIsUnavailable) {
  Url url{sdk::net::Scheme::http, "127.0.0.1", static_cast<std::uint16_t>(sdk::testing::free_port()), ""};
  Request req;
  req.target = "/v1/status";
  auto r = sdk::net::request(url, req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), sdk::ErrorCode::unavailable);
  EXPECT_NE(r.message().find("GET " + url.to_string() + "/v1/status: cannot connect"), std::string::npos)
      << r.message();
}

TEST(HttpClientTest, ASilentServerIsATimeoutNotAHang) {
  EchoServer es;
  Request req;
  req.target = "/hang";
  req.timeout = std::chrono::milliseconds(300);
  auto r = sdk::net::request(es.url(), req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("no answer within 300 ms"), std::string::npos) << r.message();
}

// Plugin::interrupt's way out of a silent server: the flag ends the exchange
// in flight, on a kept-alive Connection too, which then serves again.
TEST(HttpClientTest, TheCancelFlagEndsARequestInFlight) {
  EchoServer es;
  sdk::net::Connection connection(es.url());
  std::atomic<bool> cancel{false};
  Request req;
  req.target = "/hang";
  req.timeout = std::chrono::seconds(60);
  req.cancel = &cancel;
  auto pending = std::async(std::launch::async, [&] { return connection.request(req); });
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  cancel = true;
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "not cancelled";
  auto r = pending.get();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("cancelled"), std::string::npos) << r.message();

  // Already cancelled: not even sent. Cleared: the same connection works.
  auto again = connection.request(req);
  EXPECT_FALSE(again.ok());
  cancel = false;
  req.target = "/after";
  EXPECT_EQ(echoed(connection.request(req))["target"], "/after");
}

TEST(HttpClientTest, AnAnswerOverTheLimitIsAnError) {
  EchoServer es;
  Request req;
  req.target = "/big";
  req.max_response_bytes = 1u << 20;
  auto r = sdk::net::request(es.url(), req);
  ASSERT_FALSE(r.ok()) << r->status << ": " << r->body.size() << " bytes";
  EXPECT_NE(r.message().find("reading the answer failed"), std::string::npos) << r.message();
  req.max_response_bytes = 4u << 20;
  auto ok = sdk::net::request(es.url(), req);
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->body.size(), 2u << 20);
}

TEST(HttpClientTest, HttpsToAClosedPortFailsOnTheLoop) {
  Url url{sdk::net::Scheme::https, "127.0.0.1", 1, ""};
  auto r = sdk::net::request(url, Request{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), sdk::ErrorCode::unavailable) << r.message();

  boost::asio::io_context io;
  std::optional<sdk::Result<sdk::net::Response>> async;
  sdk::net::async_request(io, url, Request{}, [&](sdk::Result<sdk::net::Response> a) { async.emplace(std::move(a)); });
  EXPECT_FALSE(async) << "the callback runs on the loop, not inside the call";
  io.run();
  ASSERT_TRUE(async);
  EXPECT_EQ(async->code(), sdk::ErrorCode::unavailable);

  sdk::net::Connection connection(url);
  EXPECT_EQ(connection.request(Request{}).code(), sdk::ErrorCode::unavailable);
}

TEST(HttpClientTest, AsyncRequestsCompleteOnTheLoopOnceEach) {
  EchoServer es;
  boost::asio::io_context io;
  std::vector<std::string> targets;
  std::atomic<int> calls{0};
  for (int i = 0; i < 5; ++i) {
    Request req;
    req.target = "/n" + std::to_string(i);
    sdk::net::async_request(io, es.url(), req, [&](sdk::Result<sdk::net::Response> r) {
      ++calls;
      targets.push_back(echoed(r)["target"]);
    });
  }
  Url dead{sdk::net::Scheme::http, "127.0.0.1", static_cast<std::uint16_t>(sdk::testing::free_port()), ""};
  sdk::net::async_request(io, dead, Request{}, [&](sdk::Result<sdk::net::Response> r) {
    ++calls;
    EXPECT_EQ(r.code(), sdk::ErrorCode::unavailable);
  });
  io.run();
  EXPECT_EQ(calls.load(), 6);
  std::sort(targets.begin(), targets.end());
  EXPECT_EQ(targets, (std::vector<std::string>{"/n0", "/n1", "/n2", "/n3", "/n4"}));
}

TEST(HttpClientTest, ConnectionReusesOneSocketAndSurvivesTheServerClosingIt) {
  EchoServer es("127.0.0.1", std::chrono::milliseconds(200));
  sdk::net::Connection connection(es.url());
  for (int i = 0; i < 3; ++i) {
    Request req;
    req.target = "/k" + std::to_string(i);
    EXPECT_EQ(echoed(connection.request(req))["target"], req.target);
    EXPECT_EQ(es.server().open_connections(), 1);
  }
  // The server drops the idle connection; the next request notices and
  // resends once on a new one.
  while (es.server().open_connections() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Request req;
  req.method = "POST";
  req.target = "/after-idle";
  EXPECT_EQ(echoed(connection.request(req))["target"], "/after-idle");
}

TEST(HttpClientTest, Ipv6Loopback) {
  auto es = std::make_unique<EchoServer>("::1");
  auto url = sdk::net::parse_reachable_url("http://[::1]:" + std::to_string(es->server().port()));
  ASSERT_TRUE(url.ok()) << url.message();
  auto j = echoed(sdk::net::request(*url, Request{}));
  EXPECT_EQ(j["host"], "[::1]:" + std::to_string(es->server().port()));
}

}  // namespace
}  // namespace tandem::core
