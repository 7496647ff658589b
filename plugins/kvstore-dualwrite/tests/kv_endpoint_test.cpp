// The RESP endpoint against two real redis-servers: every command family ends
// with both stores identical; pipelining, concurrency, MULTI/EXEC, SPOP and
// expiries; bad input is refused without disturbing other clients.
#include <gtest/gtest.h>
#include <chrono>
#include <cstdlib>
#include <mutex>

#include <iostream>

#include <thread>

#include <atomic>

#include <boost/asio.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "kv_pair_fixture.h"
#include "tandem/sdk/file_util.h"

namespace tandem::kv::testing {
namespace {

class KvEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override { start_node({}); }
  void start_node(nlohmann::json extra) {
    node_ = make_node(sdk::Role::primary, local_.port(), peer_.port(), extra);
    node_.configure_and_start();
    ASSERT_TRUE(endpoint_ready(node_)) << node_.plugin->health().summary;
    client_ = connect(node_.endpoint_port);
  }
  void TearDown() override {
    client_.reset();
    if (node_.plugin) node_.plugin->stop();
  }
  RedisValue cmd(const std::vector<std::string>& argv) { return client_->command(argv); }
  void expect_identical() {
    auto a = snapshot(local_.port());
    auto b = snapshot(peer_.port());
    EXPECT_EQ(a, b) << "the two Redis servers differ";
    EXPECT_FALSE(a.empty());
  }

  RedisServer local_;
  RedisServer peer_;
  Node node_;
  std::unique_ptr<RedisClient> client_;
};

TEST_F(KvEndpointTest, StringsAndCountersReachBothStores) {
  EXPECT_EQ(cmd({"SET", "s1", "hello"}).str, "OK");
  EXPECT_EQ(cmd({"APPEND", "s1", " world"}).integer, 11);
  EXPECT_EQ(cmd({"GET", "s1"}).str, "hello world");
  EXPECT_EQ(cmd({"MSET", "a", "1", "b", "2"}).str, "OK");
  EXPECT_EQ(cmd({"INCR", "a"}).integer, 2);
  EXPECT_EQ(cmd({"INCRBY", "a", "10"}).integer, 12);
  EXPECT_EQ(cmd({"DECR", "b"}).integer, 1);
  EXPECT_EQ(cmd({"INCRBYFLOAT", "f", "1.5"}).str, "1.5");
  EXPECT_EQ(cmd({"SETRANGE", "s1", "0", "J"}).integer, 11);
  EXPECT_EQ(cmd({"GETSET", "b", "x"}).str, "1");
  EXPECT_EQ(cmd({"SETNX", "b", "y"}).integer, 0);
  EXPECT_EQ(cmd({"GETDEL", "b"}).str, "x");
  EXPECT_EQ(cmd({"SETBIT", "bits", "7", "1"}).integer, 0);
  EXPECT_EQ(cmd({"MGET", "a", "s1"}).elements.size(), 2u);
  RedisClient peer("127.0.0.1", peer_.port());
  EXPECT_EQ(peer.command({"GET", "s1"}).str, "Jello world");
  expect_identical();
}

TEST_F(KvEndpointTest, HashesListsSetsSortedSetsAndKeySpace) {
  EXPECT_EQ(cmd({"HSET", "h", "f1", "v1", "f2", "v2"}).integer, 2);
  EXPECT_EQ(cmd({"HINCRBY", "h", "n", "5"}).integer, 5);
  EXPECT_EQ(cmd({"HDEL", "h", "f2"}).integer, 1);
  EXPECT_EQ(cmd({"HGETALL", "h"}).elements.size(), 4u);
  EXPECT_EQ(cmd({"RPUSH", "l", "a", "b", "c", "d"}).integer, 4);
  EXPECT_EQ(cmd({"LPOP", "l"}).str, "a");
  EXPECT_EQ(cmd({"LSET", "l", "0", "B"}).str, "OK");
  EXPECT_EQ(cmd({"LMOVE", "l", "l2", "RIGHT", "LEFT"}).str, "d");
  EXPECT_EQ(cmd({"LRANGE", "l", "0", "-1"}).elements.size(), 2u);
  EXPECT_EQ(cmd({"SADD", "s", "x", "y", "z"}).integer, 3);
  EXPECT_EQ(cmd({"SREM", "s", "z"}).integer, 1);
  EXPECT_EQ(cmd({"SUNIONSTORE", "s2", "s", "s"}).integer, 2);
  EXPECT_EQ(cmd({"ZADD", "z", "1", "one", "2", "two", "3", "three"}).integer, 3);
  EXPECT_EQ(cmd({"ZINCRBY", "z", "5", "one"}).str, "6");
  EXPECT_EQ(cmd({"ZPOPMIN", "z"}).elements[0].str, "two");
  EXPECT_EQ(cmd({"ZRANGE", "z", "0", "-1"}).elements.size(), 2u);
  EXPECT_EQ(cmd({"RENAME", "s2", "s3"}).str, "OK");
  EXPECT_EQ(cmd({"COPY", "h", "h2"}).integer, 1);
  EXPECT_EQ(cmd({"DEL", "l2"}).integer, 1);
  EXPECT_EQ(cmd({"EXISTS", "h", "h2", "l2"}).integer, 2);
  EXPECT_EQ(cmd({"PFADD", "hll", "a", "b"}).integer, 1);
  EXPECT_EQ(cmd({"PFCOUNT", "hll"}).integer, 2);
  expect_identical();
}

TEST_F(KvEndpointTest, RelativeExpiriesBecomeTheSameAbsoluteInstant) {
  EXPECT_EQ(cmd({"SET", "e1", "v", "EX", "1000"}).str, "OK");
  EXPECT_EQ(cmd({"SETEX", "e2", "2000", "v"}).str, "OK");
  EXPECT_EQ(cmd({"PSETEX", "e3", "3000000", "v"}).str, "OK");
  EXPECT_EQ(cmd({"SET", "e4", "v"}).str, "OK");
  EXPECT_EQ(cmd({"EXPIRE", "e4", "500"}).integer, 1);
  EXPECT_EQ(cmd({"SET", "e5", "v"}).str, "OK");
  EXPECT_EQ(cmd({"PEXPIRE", "e5", "700000", "NX"}).integer, 1);
  EXPECT_EQ(cmd({"GETEX", "e4", "PX", "900000"}).str, "v");
  EXPECT_GT(cmd({"TTL", "e1"}).integer, 900);
  // Seen from each server, every key expires at exactly the same millisecond.
  RedisClient local("127.0.0.1", local_.port()), peer("127.0.0.1", peer_.port());
  for (auto key : {"e1", "e2", "e3", "e4", "e5"}) {
    auto a = local.command({"PEXPIRETIME", key}).integer;
    EXPECT_GT(a, 0) << key;
    EXPECT_EQ(a, peer.command({"PEXPIRETIME", key}).integer) << key;
  }
  // A key that expires soon disappears from both.
  EXPECT_EQ(cmd({"SET", "short", "v", "PX", "150"}).str, "OK");
  EXPECT_TRUE(sdk::testing::eventually(
      [&] {
        return local.command({"EXISTS", "short"}).integer == 0 && peer.command({"EXISTS", "short"}).integer == 0;
      },
      std::chrono::seconds(10)));
  // Invalid expiries are refused (by the secondary) and reach neither store.
  EXPECT_TRUE(cmd({"SETEX", "bad", "0", "v"}).is_error());
  EXPECT_EQ(peer.command({"EXISTS", "bad"}).integer, 0);
  EXPECT_EQ(local.command({"EXISTS", "bad"}).integer, 0);
  expect_identical();
}

TEST_F(KvEndpointTest, SpopReplicatesThePoppedMembersNotTheRandomChoice) {
  std::vector<std::string> sadd{"SADD", "pool"};
  for (int i = 0; i < 200; ++i) sadd.push_back("m" + std::to_string(i));
  EXPECT_EQ(cmd(sadd).integer, 200);
  std::set<std::string> popped;
  for (int i = 0; i < 20; ++i) {
    auto one = cmd({"SPOP", "pool"});
    ASSERT_EQ(one.type, RedisValue::Type::string) << one.describe();
    popped.insert(one.str);
    auto many = cmd({"SPOP", "pool", "3"});
    ASSERT_EQ(many.elements.size(), 3u) << many.describe();
    for (auto& m : many.elements) popped.insert(m.str);
  }
  EXPECT_EQ(popped.size(), 80u);
  EXPECT_EQ(cmd({"SCARD", "pool"}).integer, 120);
  EXPECT_EQ(cmd({"SPOP", "missing"}).type, RedisValue::Type::nil);
  EXPECT_TRUE(cmd({"SPOP", "pool", "notanumber"}).is_error());
  RedisClient peer("127.0.0.1", peer_.port());
  for (auto& m : popped) EXPECT_EQ(peer.command({"SISMEMBER", "pool", m}).integer, 0) << m;
  expect_identical();
}

TEST_F(KvEndpointTest, XaddGeneratedIdsAreTheSameOnBothServers) {
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    auto r = cmd({"XADD", "events", "MAXLEN", "~", "100", "*", "n", std::to_string(i)});
    ASSERT_EQ(r.type, RedisValue::Type::string) << r.describe();
    ids.push_back(r.str);
  }
  auto partial = cmd({"XADD", "events", "NOMKSTREAM", "99999999999999-*", "n", "p"});
  ASSERT_EQ(partial.type, RedisValue::Type::string) << partial.describe();
  EXPECT_EQ(partial.str, "99999999999999-0");
  EXPECT_EQ(cmd({"XADD", "events", "99999999999999-5", "n", "explicit"}).str, "99999999999999-5");
  EXPECT_EQ(cmd({"XADD", "nostream", "NOMKSTREAM", "*", "n", "x"}).type, RedisValue::Type::nil);
  EXPECT_TRUE(cmd({"XADD", "events", "1-1", "n", "too-small"}).is_error());
  EXPECT_TRUE(cmd({"XADD", "events", "MAXLEN"}).is_error());
  EXPECT_EQ(cmd({"XDEL", "events", ids.back()}).integer, 1);
  EXPECT_GE(cmd({"XTRIM", "events", "MAXLEN", "~", "50"}).integer, 0);
  RedisClient local("127.0.0.1", local_.port()), peer("127.0.0.1", peer_.port());
  auto mine = local.command({"XRANGE", "events", "-", "+"});
  auto theirs = peer.command({"XRANGE", "events", "-", "+"});
  ASSERT_GE(mine.elements.size(), 50u);
  ASSERT_EQ(mine.elements.size(), theirs.elements.size());
  for (std::size_t i = 0; i < mine.elements.size(); ++i)
    EXPECT_EQ(mine.elements[i].elements.at(0).str, theirs.elements[i].elements.at(0).str) << i;
  EXPECT_EQ(cmd({"XLEN", "events"}).integer, static_cast<long long>(mine.elements.size()));
  EXPECT_EQ(cmd({"XREAD", "COUNT", "2", "STREAMS", "events", "0"}).type, RedisValue::Type::array);
  EXPECT_EQ(peer.command({"EXISTS", "nostream"}).integer, 0);
  expect_identical();
}

TEST_F(KvEndpointTest, XreadBlockWaitsForTheNextXaddAndTimesOut) {
  EXPECT_EQ(cmd({"XADD", "feed", "1-1", "n", "old"}).str, "1-1");
  // Data already there: answered at once.
  auto now = cmd({"XREAD", "BLOCK", "0", "STREAMS", "feed", "0-0"});
  ASSERT_EQ(now.type, RedisValue::Type::array) << now.describe();
  // Nothing new: the timeout's null.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(cmd({"XREAD", "BLOCK", "300", "STREAMS", "feed", "$"}).type, RedisValue::Type::nil);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  EXPECT_TRUE(cmd({"XREAD", "BLOCK", "-1", "STREAMS", "feed", "$"}).is_error());
  EXPECT_TRUE(cmd({"XREAD", "BLOCK", "10", "STREAMS", "feed"}).is_error());
  // '$' on a stream and on a missing one: woken by the next XADD to either, which it returns (not 1-1).
  for (const char* target : {"feed", "fresh"}) {
    RedisValue got;
    std::thread reader([&] {
      auto c = connect(node_.endpoint_port);
      got = c->command({"XREAD", "COUNT", "10", "BLOCK", "10000", "STREAMS", "other", "feed", "fresh", "$", "$", "$"});
    });
    ASSERT_TRUE(sdk::testing::eventually(
        [&] { return cmd({"INFO"}).str.find("blocked_clients:1") != std::string::npos; }, std::chrono::seconds(10)));
    EXPECT_EQ(cmd({"SET", "unrelated", "x"}).str, "OK");
    auto id = cmd({"XADD", target, "*", "n", "new"});
    ASSERT_EQ(id.type, RedisValue::Type::string) << id.describe();
    reader.join();
    ASSERT_EQ(got.type, RedisValue::Type::array) << got.describe();
    ASSERT_EQ(got.elements.size(), 1u) << got.describe();
    EXPECT_EQ(got.elements[0].elements.at(0).str, target);
    auto& entries = got.elements[0].elements.at(1).elements;
    ASSERT_EQ(entries.size(), 1u) << got.describe();
    EXPECT_EQ(entries[0].elements.at(0).str, id.str);
  }
  expect_identical();
}

TEST_F(KvEndpointTest, SpopAndXaddInsideMultiGetTheSecondarysEffectOnThePrimary) {
  std::vector<std::string> sadd{"SADD", "pool"};
  for (int i = 0; i < 50; ++i) sadd.push_back("m" + std::to_string(i));
  EXPECT_EQ(cmd(sadd).integer, 50);
  EXPECT_EQ(cmd({"SET", "str", "x"}).str, "OK");
  for (int round = 0; round < 5; ++round) {
    EXPECT_EQ(cmd({"MULTI"}).str, "OK");
    EXPECT_EQ(cmd({"SPOP", "pool"}).str, "QUEUED");
    EXPECT_EQ(cmd({"XADD", "s", "*", "round", std::to_string(round)}).str, "QUEUED");
    EXPECT_EQ(cmd({"SPOP", "pool", "2"}).str, "QUEUED");
    EXPECT_EQ(cmd({"SPOP", "missing"}).str, "QUEUED");
    EXPECT_EQ(cmd({"SPOP", "str"}).str, "QUEUED");
    EXPECT_EQ(cmd({"XADD", "s", "*", "second", std::to_string(round)}).str, "QUEUED");
    EXPECT_EQ(cmd({"INCR", "n"}).str, "QUEUED");
    auto exec = cmd({"EXEC"});
    ASSERT_EQ(exec.type, RedisValue::Type::array) << exec.describe();
    ASSERT_EQ(exec.elements.size(), 7u);
    EXPECT_EQ(exec.elements[0].type, RedisValue::Type::string) << exec.describe();
    EXPECT_EQ(exec.elements[1].type, RedisValue::Type::string) << exec.describe();
    EXPECT_EQ(exec.elements[2].elements.size(), 2u) << exec.describe();
    EXPECT_EQ(exec.elements[3].type, RedisValue::Type::nil) << exec.describe();
    EXPECT_TRUE(exec.elements[4].is_error()) << "WRONGTYPE, as on both servers";
    EXPECT_EQ(exec.elements[6].integer, round + 1);
  }
  EXPECT_EQ(cmd({"SCARD", "pool"}).integer, 35);
  EXPECT_EQ(cmd({"XLEN", "s"}).integer, 10);
  expect_identical();
}

TEST_F(KvEndpointTest, MultiExecRunsTheSameTransactionOnBoth) {
  EXPECT_EQ(cmd({"MULTI"}).str, "OK");
  EXPECT_EQ(cmd({"SET", "t1", "a"}).str, "QUEUED");
  EXPECT_EQ(cmd({"INCR", "t2"}).str, "QUEUED");
  EXPECT_EQ(cmd({"EXPIRE", "t1", "1000"}).str, "QUEUED");
  EXPECT_EQ(cmd({"GET", "t1"}).str, "QUEUED");
  auto exec = cmd({"EXEC"});
  ASSERT_EQ(exec.type, RedisValue::Type::array) << exec.describe();
  ASSERT_EQ(exec.elements.size(), 4u);
  EXPECT_EQ(exec.elements[1].integer, 1);
  EXPECT_EQ(exec.elements[3].str, "a");
  // A queued error aborts the whole transaction on both.
  EXPECT_EQ(cmd({"MULTI"}).str, "OK");
  EXPECT_EQ(cmd({"SET", "t3", "x"}).str, "QUEUED");
  EXPECT_TRUE(cmd({"WATCH", "t3"}).is_error()) << "not inside MULTI (and, as in Redis, no abort)";
  EXPECT_TRUE(cmd({"NOSUCHCOMMAND"}).is_error());
  auto aborted = cmd({"EXEC"});
  EXPECT_TRUE(aborted.is_error());
  EXPECT_NE(aborted.str.find("EXECABORT"), std::string::npos);
  EXPECT_EQ(cmd({"EXISTS", "t3"}).integer, 0);
  // DISCARD drops the queue.
  EXPECT_EQ(cmd({"MULTI"}).str, "OK");
  EXPECT_EQ(cmd({"SET", "t4", "x"}).str, "QUEUED");
  EXPECT_EQ(cmd({"DISCARD"}).str, "OK");
  EXPECT_EQ(cmd({"EXISTS", "t4"}).integer, 0);
  // A runtime error inside EXEC (WRONGTYPE) happens identically on both.
  EXPECT_EQ(cmd({"MULTI"}).str, "OK");
  EXPECT_EQ(cmd({"LPUSH", "t1", "x"}).str, "QUEUED");
  EXPECT_EQ(cmd({"SET", "t5", "y"}).str, "QUEUED");
  auto partial = cmd({"EXEC"});
  ASSERT_EQ(partial.elements.size(), 2u);
  EXPECT_TRUE(partial.elements[0].is_error());
  expect_identical();
}

TEST_F(KvEndpointTest, SecondaryErrorIsReturnedAndNothingDiverges) {
  EXPECT_EQ(cmd({"SET", "str", "v"}).str, "OK");
  auto r = cmd({"LPUSH", "str", "x"});
  ASSERT_TRUE(r.is_error());
  EXPECT_NE(r.str.find("WRONGTYPE"), std::string::npos);
  // Make the secondary alone hold a conflicting type: the write must fail there
  // and never reach the primary.
  RedisClient peer("127.0.0.1", peer_.port()), local("127.0.0.1", local_.port());
  peer.command({"SET", "only-peer", "v"});
  EXPECT_TRUE(cmd({"HSET", "only-peer", "f", "v"}).is_error());
  EXPECT_EQ(local.command({"EXISTS", "only-peer"}).integer, 0);
  peer.command({"DEL", "only-peer"});
  expect_identical();
}

TEST_F(KvEndpointTest, PipelinedRequestsKeepTheirOrder) {
  std::vector<std::vector<std::string>> batch;
  for (int i = 0; i < 2000; ++i) {
    batch.push_back({"RPUSH", "seq", std::to_string(i)});
    if (i % 7 == 0) batch.push_back({"LLEN", "seq"});
    if (i % 11 == 0) batch.push_back({"PING"});
  }
  auto replies = client_->pipeline(batch);
  ASSERT_EQ(replies.size(), batch.size());
  long pushed = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i][0] == "RPUSH")
      EXPECT_EQ(replies[i].integer, ++pushed);
    else if (batch[i][0] == "LLEN")
      EXPECT_EQ(replies[i].integer, pushed);  // reads see every earlier write
    else
      EXPECT_EQ(replies[i].str, "PONG");
  }
  auto list = cmd({"LRANGE", "seq", "0", "-1"});
  ASSERT_EQ(list.elements.size(), 2000u);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(list.elements[i].str, std::to_string(i));
  expect_identical();
}

TEST_F(KvEndpointTest, ConcurrentClientsLeaveBothStoresIdentical) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      try {
        RedisClient c("127.0.0.1", node_.endpoint_port);
        for (int i = 0; i < 300; ++i) {
          // Every client hits the same keys: the two stores must agree on the final order.
          auto r = c.pipeline({{"INCR", "shared-counter"},
                               {"RPUSH", "shared-list", std::to_string(t) + ":" + std::to_string(i)},
                               {"SET", "shared-last", std::to_string(t)},
                               {"HINCRBY", "h", "t" + std::to_string(t), "1"}});
          for (auto& x : r)
            if (x.is_error()) ++failures;
        }
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(cmd({"GET", "shared-counter"}).str, "2400");
  expect_identical();
}

// Issue 15's acceptance: a WATCH-based transfer between two keys from 20
// concurrent clients (KV_WATCH_TEST_SECONDS, default 30 s): each client reads
// both keys after WATCH and writes values computed from what it read, so a
// lost update shows as a sum that is not 0 or a count that does not match.
TEST_F(KvEndpointTest, WatchTransfersFromTwentyClientsMatchTheAcknowledgedCount) {
  const char* env = std::getenv("KV_WATCH_TEST_SECONDS");
  const auto duration = std::chrono::seconds(env ? std::atoi(env) : 30);
  ASSERT_EQ(cmd({"MSET", "acct-a", "0", "acct-b", "0"}).str, "OK");
  std::atomic<long> acknowledged{0}, aborted{0}, errors{0};
  const auto until = std::chrono::steady_clock::now() + duration;
  std::vector<std::thread> threads;
  for (int t = 0; t < 20; ++t) {
    threads.emplace_back([&] {
      try {
        RedisClient c("127.0.0.1", node_.endpoint_port);
        while (std::chrono::steady_clock::now() < until) {
          if (c.command({"WATCH", "acct-a", "acct-b"}).str != "OK") ++errors;
          auto a = std::stol(c.command({"GET", "acct-a"}).str);
          auto b = std::stol(c.command({"GET", "acct-b"}).str);
          auto r = c.pipeline({{"MULTI"},
                               {"SET", "acct-a", std::to_string(a - 1)},
                               {"SET", "acct-b", std::to_string(b + 1)},
                               {"EXEC"}});
          if (r[3].type == RedisValue::Type::array)
            ++acknowledged;
          else if (r[3].type == RedisValue::Type::nil)
            ++aborted;
          else
            ++errors;
        }
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  std::cout << "WATCH transfers: " << acknowledged.load() << " acknowledged, " << aborted.load()
            << " aborted by WATCH\n";
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(acknowledged.load(), 0);
  EXPECT_GT(aborted.load(), 0) << "20 clients on two keys must collide";
  RedisClient local("127.0.0.1", local_.port()), peer("127.0.0.1", peer_.port());
  for (RedisClient* r : {&local, &peer}) {
    EXPECT_EQ(r->command({"GET", "acct-b"}).str, std::to_string(acknowledged.load()));
    EXPECT_EQ(r->command({"GET", "acct-a"}).str, std::to_string(-acknowledged.load()));
  }
  expect_identical();
}

// Blocking pops: 10 consumers in BRPOP, 4 producers LPUSH 500 items each;
// every item is received exactly once and both servers end identical.
TEST_F(KvEndpointTest, BlockingPopsReceiveEveryPushedItemOnce) {
  constexpr int kProducers = 4, kItems = 500, kConsumers = 10;
  std::mutex mu;
  std::multiset<std::string> received;
  std::atomic<int> errors{0};
  std::vector<std::thread> consumers, producers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      try {
        RedisClient cl("127.0.0.1", node_.endpoint_port);
        for (;;) {
          auto r = cl.command({"BRPOP", "jobs", "other", "1"});
          if (r.type == RedisValue::Type::nil) break;  // 1 s without a job: done
          if (r.type != RedisValue::Type::array || r.elements.size() != 2) {
            ++errors;
            break;
          }
          std::lock_guard l(mu);
          received.insert(r.elements[1].str);
        }
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      try {
        RedisClient cl("127.0.0.1", node_.endpoint_port);
        for (int i = 0; i < kItems; ++i)
          if (cl.command({"LPUSH", "jobs", std::to_string(p) + ":" + std::to_string(i)}).is_error()) ++errors;
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (auto& th : producers) th.join();
  for (auto& th : consumers) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(received.size(), static_cast<std::size_t>(kProducers * kItems));
  for (int p = 0; p < kProducers; ++p)
    for (int i = 0; i < kItems; ++i) EXPECT_EQ(received.count(std::to_string(p) + ":" + std::to_string(i)), 1u);
  EXPECT_EQ(cmd({"LLEN", "jobs"}).integer, 0);
  EXPECT_EQ(cmd({"SET", "marker", "x"}).str, "OK");  // expect_identical needs a key
  expect_identical();
}

// FLUSHALL empties the database the endpoint serves, on both servers, and
// no other: the servers' other databases are not its clients' (sent as
// FLUSHDB, with its option; inside MULTI too).
TEST_F(KvEndpointTest, FlushallEmptiesTheServedDatabaseOnBothAndNoOther) {
  RedisClient local("127.0.0.1", local_.port()), peer("127.0.0.1", peer_.port());
  for (RedisClient* r : {&local, &peer}) {
    ASSERT_EQ(r->command({"SELECT", "1"}).str, "OK");
    ASSERT_EQ(r->command({"SET", "other-app", "kept"}).str, "OK");
    ASSERT_EQ(r->command({"SELECT", "0"}).str, "OK");
  }
  ASSERT_EQ(cmd({"MSET", "a", "1", "b", "2"}).str, "OK");
  EXPECT_EQ(cmd({"FLUSHALL"}).str, "OK");
  for (RedisClient* r : {&local, &peer}) EXPECT_EQ(r->command({"DBSIZE"}).integer, 0);
  ASSERT_EQ(cmd({"SET", "c", "3"}).str, "OK");
  EXPECT_EQ(cmd({"FLUSHALL", "ASYNC"}).str, "OK");
  for (RedisClient* r : {&local, &peer}) EXPECT_EQ(r->command({"DBSIZE"}).integer, 0);
  ASSERT_EQ(cmd({"SET", "d", "4"}).str, "OK");
  ASSERT_EQ(cmd({"MULTI"}).str, "OK");
  ASSERT_EQ(cmd({"FLUSHALL", "SYNC"}).str, "QUEUED");
  ASSERT_EQ(cmd({"SET", "e", "5"}).str, "QUEUED");
  EXPECT_EQ(cmd({"EXEC"}).elements.size(), 2u);
  EXPECT_TRUE(cmd({"FLUSHALL", "NOSUCHOPTION"}).is_error()) << "Redis's own syntax check still applies";
  for (RedisClient* r : {&local, &peer}) {
    EXPECT_EQ(r->command({"DBSIZE"}).integer, 1);
    EXPECT_EQ(r->command({"GET", "e"}).str, "5");
    ASSERT_EQ(r->command({"SELECT", "1"}).str, "OK");
    EXPECT_EQ(r->command({"GET", "other-app"}).str, "kept") << "another database was flushed";
  }
  expect_identical();
}

TEST_F(KvEndpointTest, UnsupportedCommandsGetAClearError) {
  for (auto c : std::vector<std::vector<std::string>>{{"DEBUG", "OBJECT", "k"},
                                                      {"SCRIPT", "KILL"},
                                                      {"CLUSTER", "INFO"},
                                                      {"SWAPDB", "0", "1"},
                                                      {"MOVE", "k", "1"},
                                                      {"NOSUCHCOMMAND"}}) {
    auto r = cmd(c);
    ASSERT_TRUE(r.is_error()) << c[0];
    EXPECT_NE(r.str.find(c[0]), std::string::npos) << r.str;
  }
  EXPECT_EQ(cmd({"NOSUCHCOMMAND", "a", "b"}).str,
            "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'a' 'b' ");
  EXPECT_EQ(cmd({"SET", "__tandem:epoch", "1"}).str.rfind("NOPERM", 0), 0u) << "tandem's keys are not writable";
  EXPECT_EQ(cmd({"CONFIG", "SET", "maxmemory", "1"}).str.rfind("ERR CONFIG SET 'maxmemory'", 0), 0u);
  EXPECT_EQ(cmd({"SELECT", "0"}).str, "OK");
  EXPECT_TRUE(cmd({"SELECT", "3"}).is_error());
  EXPECT_EQ(cmd({"PING"}).str, "PONG");
  EXPECT_EQ(cmd({"ECHO", "hi"}).str, "hi");
  EXPECT_EQ(cmd({"PING"}).str, "PONG");  // the connection still serves
}

// CLIENT LIST / INFO answer about the endpoint's own clients, in Redis's
// format: python-rq's worker sets a name and then looks its address up by
// that name in CLIENT LIST (it fails to start when the command is refused).
TEST_F(KvEndpointTest, ClientListShowsTheEndpointsClientsByName) {
  auto worker = connect(node_.endpoint_port);
  ASSERT_EQ(worker->command({"CLIENT", "SETNAME", "rq:worker:w1"}).str, "OK");
  const auto worker_id = worker->command({"CLIENT", "ID"}).integer;
  auto fields = [](const std::string& line) {
    std::map<std::string, std::string> out;
    std::istringstream in(line);
    for (std::string kv; in >> kv;)
      if (auto eq = kv.find('='); eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
    return out;
  };
  auto list = cmd({"CLIENT", "LIST"});
  ASSERT_FALSE(list.is_error()) << list.str;
  std::vector<std::string> lines;
  std::istringstream in(list.str);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u) << "only the endpoint's two clients, not the backends': " << list.str;
  auto w = fields(lines[0]).at("name") == "rq:worker:w1" ? fields(lines[0]) : fields(lines[1]);
  EXPECT_EQ(w["name"], "rq:worker:w1") << list.str;
  EXPECT_EQ(w["id"], std::to_string(worker_id));
  EXPECT_EQ(w["addr"].rfind("127.0.0.1:", 0), 0u) << list.str;
  EXPECT_EQ(w["laddr"], "127.0.0.1:" + std::to_string(node_.endpoint_port));
  EXPECT_EQ(w["flags"], "N");
  EXPECT_EQ(w["db"], "0");
  // Lines in id order, as Redis lists them.
  EXPECT_LT(std::stoll(fields(lines[0])["id"]), std::stoll(fields(lines[1])["id"]));
  // CLIENT INFO is the caller's own line; CLIENT LIST ID picks lines.
  auto info = fields(worker->command({"CLIENT", "INFO"}).str);
  EXPECT_EQ(info["id"], w["id"]);
  EXPECT_EQ(info["cmd"], "client");
  auto by_id = cmd({"CLIENT", "LIST", "ID", std::to_string(worker_id)}).str;
  EXPECT_EQ(fields(by_id)["name"], "rq:worker:w1") << by_id;
  EXPECT_EQ(std::count(by_id.begin(), by_id.end(), '\n'), 1) << by_id;
  EXPECT_EQ(cmd({"CLIENT", "LIST", "TYPE", "pubsub"}).str, "");
  EXPECT_EQ(cmd({"CLIENT", "LIST", "ID", "x"}).str, "ERR Invalid client ID");
  EXPECT_EQ(cmd({"CLIENT", "LIST", "BOGUS"}).str, "ERR syntax error");
  // A client in MULTI shows flag x and its queued count.
  ASSERT_EQ(worker->command({"MULTI"}).str, "OK");
  ASSERT_EQ(worker->command({"SET", "k", "v"}).str, "QUEUED");
  auto in_multi = fields(cmd({"CLIENT", "LIST", "ID", std::to_string(worker_id)}).str);
  EXPECT_EQ(in_multi["flags"], "x");
  EXPECT_EQ(in_multi["multi"], "1");
  EXPECT_EQ(worker->command({"DISCARD"}).str, "OK");
}

// Sends raw bytes on a fresh socket and returns what came back before the server closed it.
std::string raw_exchange(int port, const std::string& bytes) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  boost::system::error_code ec;
  boost::asio::write(s, boost::asio::buffer(bytes), ec);  // the server may close before taking it all
  std::string got;
  char buf[4096];
  for (;;) {
    auto n = s.read_some(boost::asio::buffer(buf), ec);
    if (ec) break;
    got.append(buf, n);
  }
  return got;
}

TEST_F(KvEndpointTest, MalformedRespGetsAnErrorAndOthersKeepWorking) {
  auto got = raw_exchange(node_.endpoint_port, "*2\r\n$3\r\nGET\r\n:12\r\n");
  EXPECT_NE(got.find("-ERR Protocol error"), std::string::npos) << got;
  got = raw_exchange(node_.endpoint_port, "*1\r\n$x\r\n");
  EXPECT_NE(got.find("-ERR Protocol error"), std::string::npos) << got;
  got = raw_exchange(node_.endpoint_port, "*1\r\n$4\r\nPING\r\n*1\r\n+PING\r\n");
  EXPECT_EQ(got.find("+PONG\r\n-ERR Protocol error"), 0u) << got;
  // Inline commands (telnet, redis-cli piping), mixed with RESP ones.
  got = raw_exchange(node_.endpoint_port, "SET inl \"a b\"\r\n*2\r\n$3\r\nGET\r\n$3\r\ninl\r\nPING\nQUIT\r\n");
  EXPECT_EQ(got, "+OK\r\n$3\r\na b\r\n+PONG\r\n+OK\r\n");
  EXPECT_EQ(cmd({"SET", "after", "ok"}).str, "OK");
  EXPECT_EQ(cmd({"GET", "after"}).str, "ok");
}

TEST(KvEndpointLimits, OversizedRequestIsRefusedAndOthersKeepWorking) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(), {{"max_request_size", "64KiB"}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  auto other = connect(node.endpoint_port);
  EXPECT_EQ(other->command({"SET", "k", "v"}).str, "OK");
  std::string big(200 * 1024, 'x');
  std::string request = "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  auto got = raw_exchange(node.endpoint_port, request);
  EXPECT_NE(got.find("max_request_size"), std::string::npos) << got.substr(0, 200);
  EXPECT_EQ(other->command({"GET", "k"}).str, "v");
  EXPECT_EQ(other->command({"EXISTS", "big"}).integer, 0);
  RedisClient p("127.0.0.1", peer.port());
  EXPECT_EQ(p.command({"EXISTS", "big"}).integer, 0);
  node.plugin->stop();
}

TEST(KvEndpointLimits, ClientsBeyondMaxClientsAreTurnedAway) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(), {{"max_clients", 2}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  auto a = connect(node.endpoint_port);
  auto b = connect(node.endpoint_port);
  EXPECT_EQ(a->command({"PING"}).str, "PONG");
  EXPECT_EQ(b->command({"PING"}).str, "PONG");
  auto got = raw_exchange(node.endpoint_port, "");  // sends nothing: just reads the greeting error
  EXPECT_NE(got.find("max number of clients"), std::string::npos) << got;
  b.reset();
  EXPECT_TRUE(sdk::testing::eventually(
      [&] { return raw_exchange(node.endpoint_port, "*1\r\n$4\r\nQUIT\r\n") == "+OK\r\n"; }, std::chrono::seconds(10)));
  node.plugin->stop();
}

TEST(KvEndpointAuth, ClientPasswordIsRequiredWhenConfigured) {
  sdk::testing::TempDir dir;
  auto pw = dir.path() / "client.pw";
  sdk::atomic_write_file(pw, "s3cret\n", 0600);
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(), {{"client_password_file", pw.string()}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  auto c = connect(node.endpoint_port);
  auto r = c->command({"GET", "k"});
  ASSERT_TRUE(r.is_error());
  EXPECT_NE(r.str.find("NOAUTH"), std::string::npos);
  EXPECT_TRUE(c->command({"AUTH", "wrong"}).is_error());
  EXPECT_EQ(c->command({"AUTH", "s3cret"}).str, "OK");
  EXPECT_EQ(c->command({"SET", "k", "v"}).str, "OK");
  for (auto& line : node.host->logger().lines()) EXPECT_EQ(line.find("s3cret"), std::string::npos) << line;
  node.plugin->stop();
}

TEST(KvEndpointAuth, BackendPasswordsComeFromFiles) {
  sdk::testing::TempDir dir;
  sdk::atomic_write_file(dir.path() / "local.pw", "lpw\n", 0600);
  sdk::atomic_write_file(dir.path() / "peer.pw", "ppw\n", 0600);
  RedisServerOptions lo, po;
  lo.password = "lpw";
  po.password = "ppw";
  RedisServer local(lo), peer(po);
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(),
                        {{"local_password_file", (dir.path() / "local.pw").string()},
                         {"peer_password_file", (dir.path() / "peer.pw").string()}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node)) << node.plugin->health().summary;
  auto c = connect(node.endpoint_port);
  EXPECT_EQ(c->command({"SET", "k", "v"}).str, "OK");
  RedisClient p("127.0.0.1", peer.port());
  p.command({"AUTH", "ppw"});
  EXPECT_EQ(p.command({"GET", "k"}).str, "v");
  node.plugin->stop();
}

TEST(KvEndpointRole, SecondaryDoesNotListen) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::secondary, local.port(), peer.port());
  node.configure_and_start();
  EXPECT_FALSE(sdk::testing::wait_for_port("127.0.0.1", node.endpoint_port, std::chrono::milliseconds(300)));
  auto r = node.plugin->sync();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(node.plugin->health().status, sdk::HealthStatus::ok) << node.plugin->health().summary;
  node.plugin->stop();
}

TEST(KvEndpointDivergence, SamplerAndCompareFindDifferingKeys) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(), {{"sample_rate", 1000}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  auto c = connect(node.endpoint_port);
  for (int i = 0; i < 50; ++i) c->command({"SET", "k" + std::to_string(i), "v"});
  c->command({"HSET", "h", "a", "1", "b", "2"});
  ASSERT_TRUE(node.plugin->sync().ok());
  auto cmp = node.plugin->diagnose("compare", {});
  ASSERT_TRUE(cmp.ok()) << cmp.message();
  EXPECT_TRUE(cmp->passed) << cmp->output;
  EXPECT_EQ(cmp->details["differing"], 0);
  // Change the peer behind the endpoint's back.
  RedisClient p("127.0.0.1", peer.port());
  p.command({"SET", "k7", "changed"});
  p.command({"HSET", "h", "a", "9"});
  p.command({"SET", "peer-only", "x"});
  cmp = node.plugin->diagnose("compare", {});
  ASSERT_TRUE(cmp.ok());
  EXPECT_FALSE(cmp->passed);
  EXPECT_EQ(cmp->details["differing"], 3) << cmp->output;
  EXPECT_NE(cmp->output.find("k7"), std::string::npos);
  EXPECT_NE(cmp->output.find("peer-only"), std::string::npos);
  ASSERT_TRUE(node.plugin->sync().ok());
  EXPECT_GE(node.host->recorded_metrics().value("kvstore_keys_compared_total").value_or(0), 50);
  // The sampler scans both servers: the key only the peer has is found too.
  EXPECT_EQ(node.host->recorded_metrics().value("kvstore_keys_differing").value_or(-1), 3);
  EXPECT_EQ(node.plugin->health().status, sdk::HealthStatus::degraded);
  node.plugin->stop();
}

// Keys that exist on one side only (written directly on one Redis, bypassing
// the endpoint) are found by the sampler, which SCANs both servers: within
// keys / sample_rate seconds, i.e. within keys / (sample_rate x sync_interval)
// sync rounds (counted here, not timed).
TEST(KvEndpointDivergence, OneSidedKeysAreFoundWithinKeysOverSampleRate) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(), {{"sample_rate", 500}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  auto c = connect(node.endpoint_port);
  const int keys = 1000;
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < keys; ++i) sets.push_back({"SET", "key:" + std::to_string(i), std::to_string(i)});
  for (auto& r : c->pipeline(sets)) ASSERT_EQ(r.str, "OK");
  RedisClient(("127.0.0.1"), peer.port()).command({"SET", "only-on-peer", "p"});
  RedisClient(("127.0.0.1"), local.port()).command({"SET", "only-on-local", "l"});
  // sample_rate 500 x sync_interval 200 ms: 100 keys of each side per round.
  const int rounds_allowed = (keys + 2) / 100 + 2;  // + 2: SCAN's COUNT is a hint
  auto& log = node.host->logger();
  int rounds = 0;
  auto t0 = std::chrono::steady_clock::now();
  while (rounds < rounds_allowed &&
         !(log.contains("key 'only-on-peer' differs") && log.contains("key 'only-on-local' differs"))) {
    ASSERT_TRUE(node.plugin->sync().ok());
    ++rounds;
  }
  std::cout << "both one-sided keys found after " << rounds << " sync rounds (allowed " << rounds_allowed
            << ", keys / sample_rate = " << (keys + 2) / 500.0 << " s of sync rounds; here "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms)" << std::endl;
  EXPECT_TRUE(log.contains("key 'only-on-peer' differs")) << "after " << rounds << " rounds";
  EXPECT_TRUE(log.contains("key 'only-on-local' differs")) << "after " << rounds << " rounds";
  auto h = node.plugin->health();
  EXPECT_EQ(h.status, sdk::HealthStatus::degraded) << h.summary;
  EXPECT_EQ(h.details.value("keys_differing", 0), 2) << h.summary;
  EXPECT_NE(h.summary.find("2 keys differ"), std::string::npos) << h.summary;
  // Degraded while they differ; ok again once they are repaired.
  ASSERT_TRUE(node.plugin->sync().ok());
  EXPECT_EQ(node.plugin->health().status, sdk::HealthStatus::degraded);
  RedisClient(("127.0.0.1"), peer.port()).command({"DEL", "only-on-peer"});
  RedisClient(("127.0.0.1"), local.port()).command({"DEL", "only-on-local"});
  ASSERT_TRUE(node.plugin->sync().ok());
  h = node.plugin->health();
  EXPECT_EQ(h.status, sdk::HealthStatus::ok) << h.summary;
  EXPECT_EQ(h.details.value("keys_differing", -1), 0);
  node.plugin->stop();
}

// Keys under continuous writes from several clients (every data type) are
// never reported: the sampler reads each key on both servers at the same
// point of the write order.
TEST(KvEndpointDivergence, KeysUnderContinuousWritesAreNoFalseAlarm) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(), {{"sample_rate", 2000}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  std::atomic<bool> stop{false};
  std::atomic<long> writes{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto c = connect(node.endpoint_port);
      for (long i = 0; !stop; ++i) {
        auto v = std::to_string(i * 4 + t);
        auto hot = std::to_string(i % 8);
        c->pipeline({{"SET", "s:" + hot, v},
                     {"INCR", "n:" + hot},
                     {"HSET", "h:" + hot, "f" + std::to_string(i % 5), v},
                     {"RPUSH", "l:" + hot, v},
                     {"LTRIM", "l:" + hot, "-20", "-1"},
                     {"ZADD", "z:" + hot, std::to_string(i % 13), "m" + std::to_string(i % 7)},
                     {"SADD", "set:" + hot, v},
                     {"SREM", "set:" + hot, std::to_string((i - 3) * 4 + t)},
                     {"SET", "e:" + hot, v, "PX", "300"}});
        writes += 9;
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = node.plugin->sync();
    ASSERT_TRUE(r.ok()) << r.message();
    ++rounds;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  for (auto& t : clients) t.join();
  auto h = node.plugin->health();
  std::cout << writes.load() << " writes, " << rounds << " sampler rounds, "
            << h.details.value("keys_compared_total", 0) << " keys compared" << std::endl;
  EXPECT_GT(h.details.value("keys_compared_total", 0), 100);
  EXPECT_FALSE(node.host->logger().contains("differs")) << [&] {
    std::string s;
    for (auto& l : node.host->logger().lines())
      if (l.find("differs") != std::string::npos) s += l + "\n";
    return s;
  }();
  EXPECT_EQ(h.details.value("keys_differing", -1), 0) << h.summary;
  EXPECT_TRUE(h.details.value("sampler_error", std::string()).empty()) << h.details.dump();
  node.plugin->stop();
}

}  // namespace
}  // namespace tandem::kv::testing
