// kill -9 of the hosting process during a write load: every acknowledged write
// is on the secondary's Redis (and the primary's), because a write is only
// acknowledged after both applied it.
#include <gtest/gtest.h>

#include <fstream>

#include "kv_pair_fixture.h"
#include "support/background_process.h"

namespace tandem::kv::testing {
namespace {

TEST(KvCrash, KillNineOfTheHostLosesNoAcknowledgedWrite) {
  RedisServer local(aof_options());
  RedisServer peer(aof_options());
  sdk::testing::TempDir dir;
  int port = sdk::testing::free_port();
  nlohmann::json config{{"listen_port", port},      {"local_port", local.port()}, {"peer_port", peer.port()},
                        {"peer_host", "127.0.0.1"}, {"sample_rate", 0},           {"reconnect_interval", "100ms"}};
  std::ofstream(dir.path() / "kv.json") << config.dump();
  sdk::ChildSpec spec;
  spec.argv = {KV_TEST_RUNNER, (dir.path() / "kv.json").string(), (dir.path() / "data").string()};
  spec.log_file = dir.path() / "runner.log";
  sdk::ChildProcess runner = testsupport::start_background(spec);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, std::chrono::seconds(20))) << runner.log_tail();

  std::vector<std::unique_ptr<Writer>> writers;
  for (int i = 0; i < 4; ++i) writers.push_back(std::make_unique<Writer>(port, i));
  for (auto& w : writers) w->start();
  auto every_writer_past = [&](std::size_t n) {
    for (auto& w : writers)
      if (w->acked_count() <= n) return false;
    return true;
  };
  ASSERT_TRUE(sdk::testing::eventually([&] { return every_writer_past(1500); }, std::chrono::seconds(60)))
      << runner.log_tail();
  runner.kill();
  for (auto& w : writers) w->stop();
  std::size_t acked = 0;
  for (auto& w : writers) {
    acked += w->acked_count();
    expect_acked_present(*w, peer.port(), "secondary");
    expect_acked_present(*w, local.port(), "primary");
  }
  EXPECT_GT(acked, 6000u);

  // The host comes back and serves again on the same data dir.
  sdk::ChildProcess again = testsupport::start_background(spec);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, std::chrono::seconds(20))) << again.log_tail();
  auto c = connect(port);
  EXPECT_EQ(c->command({"SET", "after-restart", "1"}).str, "OK");
  RedisClient p("127.0.0.1", peer.port());
  EXPECT_EQ(p.command({"GET", "after-restart"}).str, "1");
}

}  // namespace
}  // namespace tandem::kv::testing
