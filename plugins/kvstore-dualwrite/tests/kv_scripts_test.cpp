// Lua scripts and functions through the endpoint, against two real
// redis-servers (README "Scripts and functions"): the script cache and the
// function libraries are the same on both servers, read-only scripts are
// reads, and every script leaves both servers identical.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "kv_pair_fixture.h"

namespace tandem::kv::testing {
namespace {

constexpr const char* kLibrary =
    "#!lua name=tlib\n"
    "redis.register_function('tincr', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\n"
    "redis.register_function{function_name='tget', callback=function(keys) return redis.call('get', keys[1]) end, "
    "flags={'no-writes'}}\n";

class KvScriptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = make_node(sdk::Role::primary, local_.port(), peer_.port());
    node_.configure_and_start();
    ASSERT_TRUE(endpoint_ready(node_)) << node_.plugin->health().summary;
    client_ = connect(node_.endpoint_port);
  }
  void TearDown() override {
    client_.reset();
    if (node_.plugin) node_.plugin->stop();
  }
  RedisValue cmd(const std::vector<std::string>& argv) { return client_->command(argv); }
  // The same command's answer from each Redis directly: {local, peer}.
  std::pair<RedisValue, RedisValue> on_both(const std::vector<std::string>& argv) {
    RedisClient local("127.0.0.1", local_.port()), peer("127.0.0.1", peer_.port());
    return {local.command(argv), peer.command(argv)};
  }
  void expect_identical() {
    EXPECT_EQ(snapshot(local_.port()), snapshot(peer_.port())) << "the two Redis servers differ";
  }

  RedisServer local_;
  RedisServer peer_;
  Node node_;
  std::unique_ptr<RedisClient> client_;
};

TEST_F(KvScriptsTest, ScriptCacheAndFunctionLibrariesAreTheSameOnBothServers) {
  auto sha = cmd({"SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"});
  ASSERT_EQ(sha.type, RedisValue::Type::string) << sha.describe();
  auto [l1, p1] = on_both({"SCRIPT", "EXISTS", sha.str});
  EXPECT_EQ(l1.elements.at(0).integer, 1) << "the local Redis lacks the loaded script";
  EXPECT_EQ(p1.elements.at(0).integer, 1) << "the peer's Redis lacks the loaded script";
  EXPECT_EQ(cmd({"SCRIPT", "EXISTS", sha.str, "0000"}).describe(),
            on_both({"SCRIPT", "EXISTS", sha.str, "0000"}).first.describe());

  ASSERT_EQ(cmd({"SET", "k", "v"}).str, "OK");
  EXPECT_EQ(cmd({"EVALSHA_RO", sha.str, "1", "k"}).str, "v");
  EXPECT_EQ(cmd({"EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"}).str, "v");
  auto ro_write = cmd({"EVAL_RO", "return redis.call('set', KEYS[1], 'x')", "1", "k"});
  ASSERT_TRUE(ro_write.is_error());
  EXPECT_NE(ro_write.str.find("Write commands are not allowed from read-only scripts"), std::string::npos)
      << ro_write.str;

  EXPECT_EQ(cmd({"FUNCTION", "LOAD", kLibrary}).str, "tlib");
  auto [l2, p2] = on_both({"FUNCTION", "LIST", "LIBRARYNAME", "tlib"});
  EXPECT_EQ(l2.elements.size(), 1u) << l2.describe();
  EXPECT_EQ(p2.elements.size(), 1u) << p2.describe();
  EXPECT_EQ(cmd({"FCALL_RO", "tget", "1", "k"}).str, "v");
  EXPECT_EQ(cmd({"FUNCTION", "LIST"}).elements.size(), 1u);
  auto dump = cmd({"FUNCTION", "DUMP"});
  ASSERT_EQ(dump.type, RedisValue::Type::string);
  auto err = cmd({"FUNCTION", "LOAD", kLibrary});
  EXPECT_EQ(err.str, "ERR Library 'tlib' already exists") << "Redis's own error passes through";

  EXPECT_EQ(cmd({"FUNCTION", "DELETE", "tlib"}).str, "OK");
  auto [l3, p3] = on_both({"FUNCTION", "LIST"});
  EXPECT_TRUE(l3.elements.empty() && p3.elements.empty()) << l3.describe() << " / " << p3.describe();
  EXPECT_EQ(cmd({"FUNCTION", "RESTORE", dump.str}).str, "OK");
  auto [l4, p4] = on_both({"FUNCTION", "LIST"});
  EXPECT_EQ(l4.elements.size(), 1u);
  EXPECT_EQ(p4.elements.size(), 1u);
  EXPECT_EQ(cmd({"FUNCTION", "FLUSH"}).str, "OK");
  auto [l5, p5] = on_both({"FUNCTION", "LIST"});
  EXPECT_TRUE(l5.elements.empty() && p5.elements.empty());

  // Inside MULTI too; then SCRIPT FLUSH empties both caches.
  auto tx = client_->pipeline({{"MULTI"}, {"SCRIPT", "LOAD", "return 2"}, {"FUNCTION", "LOAD", kLibrary}, {"EXEC"}});
  ASSERT_EQ(tx[3].type, RedisValue::Type::array) << tx[3].describe();
  auto [l6, p6] = on_both({"FUNCTION", "LIST"});
  EXPECT_EQ(l6.elements.size(), 1u);
  EXPECT_EQ(p6.elements.size(), 1u);
  EXPECT_EQ(cmd({"SCRIPT", "FLUSH"}).str, "OK");
  auto [l7, p7] = on_both({"SCRIPT", "EXISTS", sha.str});
  EXPECT_EQ(l7.elements.at(0).integer, 0);
  EXPECT_EQ(p7.elements.at(0).integer, 0);

  // KILL would queue behind the script it should stop: refused, clearly.
  for (auto sub : {"SCRIPT", "FUNCTION"}) {
    auto kill = cmd({sub, "KILL"});
    ASSERT_TRUE(kill.is_error());
    EXPECT_NE(kill.str.find("not supported by the tandem endpoint"), std::string::npos) << kill.str;
  }
  EXPECT_TRUE(cmd({"SCRIPT", "NOSUCH"}).is_error());
  EXPECT_EQ(cmd({"PING"}).str, "PONG");
  expect_identical();
}

}  // namespace
}  // namespace tandem::kv::testing
