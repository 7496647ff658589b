// Automatic failover's gate on the KV journal (issue 16): two real tandemd in
// mode "automatic" on a real etcd, each with a kvstore-dualwrite store on a
// real Redis. beta's Redis is stopped, so alpha journals the writes it takes
// (peer_down = "journal") and tells beta how much it holds (kv_status over
// the peer channel); then alpha's host dies (tandemd and Redis, kill -9).
// Journal above `maximum_lag_on_failover`: beta stays secondary; status,
// tandemctl status, /metrics and the log say why.
#include <thread>

#include "auto_failover_pair.h"
#include "support/redis_server.h"

namespace {

using namespace std::chrono_literals;
using namespace tandem::autofailover_test;
using tandem::testsupport::RedisClient;
using tandem::testsupport::RedisServer;
using tandem::testsupport::RedisServerOptions;

constexpr std::uint64_t kMaxLag = 4 * 1024;

class AutoFailoverKvGate : public AutoFailoverPair {
 protected:
  void SetUp() override {
    AutoFailoverPair::SetUp();
    for (int i = 0; i < 2; ++i) {
      redis_[i] = std::make_unique<RedisServer>(RedisServerOptions{});
      endpoint_port_[i] = tandem::sdk::testing::free_port();
    }
    failover_extra_ = "maximum_lag_on_failover = \"4KiB\"\n";
  }

  std::string stores_toml(int i) override {
    return "[stores.kv]\nplugin = \"kvstore-dualwrite\"\nlisten_address = \"127.0.0.1\"\nlisten_port = " +
           std::to_string(endpoint_port_[i]) + "\nlocal_port = " + std::to_string(redis_[i]->port()) +
           "\npeer_host = \"127.0.0.1\"\npeer_port = " + std::to_string(redis_[1 - i]->port()) +
           "\npeer_down = \"journal\"\njournal_dir = \"" + (nodes_[i].dir / "kv-journal").string() + "\"\n";
  }

  nlohmann::json kv_health(int i) { return store_health(i, "kv"); }

  std::unique_ptr<RedisServer> redis_[2];
  int endpoint_port_[2] = {0, 0};
};

TEST_F(AutoFailoverKvGate, JournalAboveTheGateNoPromotionAndSaysWhy) {
  start_pair();
  if (HasFatalFailure()) return;
  std::this_thread::sleep_for(kTtl + 1s);  // past beta's start-up grace: it watches

  redis_[1]->stop();
  // 200 writes of 100 bytes through alpha's endpoint: journaled, beta's Redis is down.
  RedisClient client("127.0.0.1", endpoint_port_[0], 10s);
  const std::string value(100, 'v');
  int acked = 0;
  for (int n = 0; n < 200; ++n)
    if (client.command({"SET", "journaled:" + std::to_string(n), value}).str == "OK") ++acked;
  ASSERT_EQ(acked, 200) << status(0).dump();
  ASSERT_TRUE(tandem::sdk::testing::eventually(
      [&] {
        auto h = kv_health(1);
        return h.contains("lag_bytes") && h["lag_bytes"].is_number_unsigned() &&
               h["lag_bytes"].get<std::uint64_t>() > kMaxLag;
      },
      20s))
      << "beta never learnt of alpha's journal: " << kv_health(1).dump() << kv_health(0).dump();

  nodes_[0].daemon.kill();
  redis_[0]->kill9();
  redis_[1]->restart();
  const auto killed = Clock::now();
  ASSERT_TRUE(takeover_refused_soon(1)) << "beta never reported a refused takeover: " << status(1).dump() << logs();
  std::printf(
      "[ figure ] primary's host killed with %s bytes journaled -> beta refuses after %lld ms\n",
      kv_health(1)["lag_bytes"].dump().c_str(),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count()));

  expect_stays_secondary(1, ttl_ + 2s, "with a journal above the gate");
  if (HasFatalFailure()) return;
  auto s = status(1);
  EXPECT_EQ(s.value("epoch", 0), 1) << s.dump();
  const std::string decision = s["failover"].value("decision", "");
  EXPECT_NE(decision.find("takeover is refused: store 'kv' lags "), std::string::npos) << decision;
  EXPECT_NE(decision.find("maximum_lag_on_failover (" + std::to_string(kMaxLag) + ")"), std::string::npos) << decision;
  EXPECT_NE(kv_health(1).value("summary", "").find("the primary last reported 200 writes journaled"), std::string::npos)
      << kv_health(1).dump();
  auto printed = ctl(1, {"status"});
  EXPECT_NE(printed.stdout_text.find("takeover is refused: store 'kv' lags"), std::string::npos)
      << printed.stdout_text << printed.stderr_text;
  const std::string m = metrics(1);
  EXPECT_NE(m.find("\ntandem_takeover_refused 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("tandem_store_lag_bytes{store=\"kv\"}"), std::string::npos) << m;
  EXPECT_NE(nodes_[1].daemon.log_tail(20000).find("takeover is refused: store 'kv' lags"), std::string::npos);
}

}  // namespace
