// The replication tap against a real redis-server: it reads what Redis
// itself computed (a script's effects, the member SPOP chose), acknowledges
// its offset as a replica does, continues after a reconnect without a new
// full sync, and says why when Redis refuses it.
#include "replication_tap.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <mutex>
#include <thread>

#include "support/redis_server.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::kv {
namespace {

using sdk::testing::eventually;
using testsupport::RedisClient;
using testsupport::RedisServer;
using testsupport::RedisServerOptions;
using Command = std::vector<std::string>;

// A tap on its own io thread, recording what its callbacks saw.
class TapRun {
 public:
  explicit TapRun(ReplicationTap::Options options) : work_(io_.get_executor()) {
    tap_ =
        std::make_shared<ReplicationTap>(io_, std::move(options),
                                         ReplicationTap::Callbacks{[this](bool full) {
                                                                     std::lock_guard l(mu_);
                                                                     syncs_.push_back(full);
                                                                   },
                                                                   [this](const RespParser& p, std::uint64_t offset) {
                                                                     Command c;
                                                                     for (std::size_t i = 0; i < p.size(); ++i)
                                                                       c.emplace_back(p.element(i));
                                                                     std::lock_guard l(mu_);
                                                                     if (c.front() != "PING" && c.front() != "SELECT")
                                                                       commands_.push_back(c);
                                                                     offset_ = offset;
                                                                   },
                                                                   [this](const std::string& why) {
                                                                     std::lock_guard l(mu_);
                                                                     downs_.push_back(why);
                                                                   },
                                                                   [this] {
                                                                     std::lock_guard l(mu_);
                                                                     ++snapshots_;
                                                                   }});
    boost::asio::post(io_, [t = tap_] { t->start(); });
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TapRun() {
    boost::asio::post(io_, [t = tap_] { t->stop(); });
    work_.reset();
    io_.stop();
    thread_.join();
  }
  std::vector<Command> commands() {
    std::lock_guard l(mu_);
    return commands_;
  }
  std::vector<bool> syncs() {
    std::lock_guard l(mu_);
    return syncs_;
  }
  std::vector<std::string> downs() {
    std::lock_guard l(mu_);
    return downs_;
  }
  std::uint64_t offset() {
    std::lock_guard l(mu_);
    return offset_;
  }
  int snapshots() {
    std::lock_guard l(mu_);
    return snapshots_;
  }
  bool has(const Command& c) {
    auto all = commands();
    return std::find(all.begin(), all.end(), c) != all.end();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::shared_ptr<ReplicationTap> tap_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Command> commands_;  // without PING and SELECT
  std::vector<bool> syncs_;
  std::vector<std::string> downs_;
  std::uint64_t offset_ = 0;
  int snapshots_ = 0;
};

std::string info_field(RedisClient& c, const std::string& section, const std::string& key) {
  auto text = c.command({"INFO", section}).str;
  auto at = text.find(key + ":");
  if (at == std::string::npos) return "";
  auto end = text.find("\r\n", at);
  return text.substr(at + key.size() + 1, end - at - key.size() - 1);
}

RedisServerOptions no_sync_delay() {
  RedisServerOptions o;
  o.extra_args = {"--repl-diskless-sync-delay", "0"};
  return o;
}

ReplicationTap::Options tap_options(int port) {
  ReplicationTap::Options o;
  o.port = port;
  return o;
}

// The snapshot is skipped whichever form Redis sends it in (diskless: an end
// mark; from disk: a length), and it spans many reads (about 4 MB).
void expect_the_stream_carries_what_redis_computed(RedisServerOptions options) {
  RedisServer redis(options);
  RedisClient c("127.0.0.1", redis.port());
  std::vector<Command> preload;
  for (int i = 0; i < 20000; ++i) preload.push_back({"SET", "before:" + std::to_string(i), std::string(200, 'v')});
  for (auto& r : c.pipeline(preload)) ASSERT_EQ(r.str, "OK");
  TapRun tap(tap_options(redis.port()));
  ASSERT_TRUE(eventually([&] { return !tap.syncs().empty(); }, std::chrono::seconds(20))) << redis.log_tail();
  EXPECT_EQ(tap.syncs(), std::vector<bool>{true});

  ASSERT_EQ(c.command({"SET", "a", "1"}).str, "OK");
  c.command({"EVAL", "redis.call('incr', 'a'); redis.call('set', 'b', redis.call('get', 'a')); return 1", "0"});
  c.command({"SADD", "s", "m1", "m2", "m3"});
  const std::string popped = c.command({"EVAL", "return redis.call('spop', KEYS[1])", "1", "s"}).str;
  ASSERT_FALSE(popped.empty());
  ASSERT_TRUE(eventually([&] { return tap.has({"SREM", "s", popped}); }, std::chrono::seconds(10)));
  // The snapshot's data is not in the stream; a script is its effects
  // (inside MULTI/EXEC when there are several), named as the script wrote
  // them; SPOP is the member Redis chose.
  const std::vector<Command> expected = {{"SET", "a", "1"},    {"MULTI"}, {"incr", "a"},
                                         {"set", "b", "2"},    {"EXEC"},  {"SADD", "s", "m1", "m2", "m3"},
                                         {"SREM", "s", popped}};
  EXPECT_EQ(tap.commands(), expected);
  // Its offset is the server's, and the server knows it (the tap's ACKs).
  EXPECT_TRUE(
      eventually([&] { return std::to_string(tap.offset()) == info_field(c, "replication", "master_repl_offset"); },
                 std::chrono::seconds(10)));
  EXPECT_TRUE(eventually(
      [&] {
        return info_field(c, "replication", "slave0").find("offset=" + std::to_string(tap.offset()) + ",") !=
               std::string::npos;
      },
      std::chrono::seconds(10)))
      << info_field(c, "replication", "slave0");
  // WAIT counts it: it answers GETACK.
  EXPECT_EQ(c.command({"WAIT", "1", "5000"}).integer, 1);
  EXPECT_TRUE(tap.downs().empty()) << tap.downs().front();
}

TEST(ReplicationTap, TheStreamCarriesWhatRedisComputedAfterADisklessSnapshot) {
  expect_the_stream_carries_what_redis_computed(no_sync_delay());
}

TEST(ReplicationTap, TheStreamCarriesWhatRedisComputedAfterASnapshotFromDisk) {
  RedisServerOptions o;
  o.extra_args = {"--repl-diskless-sync", "no"};
  expect_the_stream_carries_what_redis_computed(o);
}

TEST(ReplicationTap, AReconnectContinuesWhereItStopped) {
  RedisServer redis(no_sync_delay());
  RedisClient c("127.0.0.1", redis.port());
  TapRun tap(tap_options(redis.port()));
  ASSERT_TRUE(eventually([&] { return !tap.syncs().empty(); }, std::chrono::seconds(20)));
  c.command({"SET", "x", "1"});
  ASSERT_TRUE(eventually([&] { return tap.has({"SET", "x", "1"}); }, std::chrono::seconds(10)));
  EXPECT_EQ(c.command({"CLIENT", "KILL", "TYPE", "replica"}).integer, 1);
  c.command({"SET", "y", "2"});  // while it is away, or just back
  ASSERT_TRUE(eventually([&] { return tap.has({"SET", "y", "2"}); }, std::chrono::seconds(10))) << redis.log_tail();
  EXPECT_EQ(tap.syncs(), (std::vector<bool>{true, false})) << "the reconnect was not a partial resync";
  EXPECT_EQ(info_field(c, "stats", "sync_partial_ok"), "1");
  EXPECT_EQ(info_field(c, "stats", "sync_full"), "1");
  const std::vector<Command> expected = {{"SET", "x", "1"}, {"SET", "y", "2"}};
  EXPECT_EQ(tap.commands(), expected) << "a command was missed or read twice";
  ASSERT_FALSE(tap.downs().empty());
}

// The endpoint parks its tap when no script runs and resumes it for the next
// one: a resume must not cost Redis a snapshot, and must read from where
// Redis's stream is at that moment.
TEST(ReplicationTap, JoiningAtTheCurrentEndTakesNoSnapshotWhileRedisKeepsItsBacklog) {
  RedisServer redis(no_sync_delay());
  RedisClient c("127.0.0.1", redis.port());
  auto options = tap_options(redis.port());
  options.join_at_current = true;
  {
    // No backlog yet (no replica ever connected): Redis can only answer with a full sync.
    TapRun first(options);
    ASSERT_TRUE(eventually([&] { return !first.syncs().empty(); }, std::chrono::seconds(20))) << redis.log_tail();
    EXPECT_EQ(first.syncs(), std::vector<bool>{true});
    EXPECT_EQ(first.snapshots(), 1);
    c.command({"SET", "a", "1"});
    ASSERT_TRUE(eventually([&] { return first.has({"SET", "a", "1"}); }, std::chrono::seconds(10)));
  }
  ASSERT_TRUE(
      eventually([&] { return info_field(c, "replication", "connected_slaves") == "0"; }, std::chrono::seconds(10)));
  c.command({"SET", "away", "1"});  // written while no tap reads: never to be read
  const std::string offset_before = info_field(c, "replication", "master_repl_offset");
  TapRun second(options);
  ASSERT_TRUE(eventually([&] { return !second.syncs().empty(); }, std::chrono::seconds(20))) << redis.log_tail();
  EXPECT_EQ(second.syncs(), std::vector<bool>{false}) << "the resume was not a partial resync";
  EXPECT_EQ(second.snapshots(), 0);
  EXPECT_EQ(info_field(c, "stats", "sync_full"), "1") << "Redis made a second snapshot";
  EXPECT_EQ(info_field(c, "stats", "sync_partial_ok"), "1");
  c.command({"SET", "b", "2"});
  ASSERT_TRUE(eventually([&] { return second.has({"SET", "b", "2"}); }, std::chrono::seconds(10)));
  EXPECT_EQ(second.commands(), (std::vector<Command>{{"SET", "b", "2"}}))
      << "it read what was written before it joined (master_repl_offset was " << offset_before << ")";
}

TEST(ReplicationTap, AWrongPasswordIsReportedAndNothingSyncs) {
  RedisServerOptions o = no_sync_delay();
  o.password = "right-pw";
  RedisServer redis(o);
  auto options = tap_options(redis.port());
  options.password = "wrong-pw";
  {
    TapRun tap(options);
    ASSERT_TRUE(eventually([&] { return !tap.downs().empty(); }, std::chrono::seconds(10)));
    EXPECT_NE(tap.downs().front().find("AUTH refused"), std::string::npos) << tap.downs().front();
    EXPECT_TRUE(tap.syncs().empty());
  }
  options.password = "right-pw";
  TapRun tap(options);
  EXPECT_TRUE(eventually([&] { return !tap.syncs().empty(); }, std::chrono::seconds(20)));
}

}  // namespace
}  // namespace tandem::kv
