// Pub/sub through the endpoint against real redis-servers: the frames a
// subscriber gets (RESP2 arrays, RESP3 push frames) are compared byte for
// byte with what the same commands get from Redis directly; PUBLISH reaches
// the primary's Redis only; a subscriber that does not read is dropped at
// its limit; subscribers are disconnected when the node is fenced or demoted.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kv_pair_fixture.h"
#include "resp.h"

namespace tandem::kv::testing {
namespace {

using namespace std::chrono_literals;

// A client that sees the bytes: each frame as Redis (or the endpoint) encoded it.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot connect to port " + std::to_string(port));
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send(const std::vector<std::vector<std::string>>& commands) {
    std::string out;
    for (auto& argv : commands) {
      std::vector<std::string_view> v(argv.begin(), argv.end());
      append_command(out, v);
    }
    for (std::size_t off = 0; off < out.size();) {
      ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      off += static_cast<std::size_t>(n);
    }
  }
  // The next `n` frames; fewer if the connection closes or `timeout` passes.
  std::vector<std::string> read(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::vector<std::string> frames;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (frames.size() < n) {
      auto next = parser_.next();
      if (next == RespParser::Next::message) {
        frames.emplace_back(parser_.bytes());
        continue;
      }
      if (next == RespParser::Next::protocol_error) throw std::runtime_error("bad RESP: " + parser_.error_text());
      if (!fill(deadline)) break;
    }
    return frames;
  }
  std::string read1(std::chrono::milliseconds timeout = 10s) {
    auto f = read(1, timeout);
    return f.empty() ? std::string("<nothing>") : f[0];
  }
  // Whether the other side closed the connection within `timeout` (what was
  // still sent before is read and dropped).
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!fill(deadline)) return eof_;
      while (parser_.next() == RespParser::Next::message) {}
    }
    return eof_;
  }
  std::size_t received() const { return received_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    received_ += static_cast<std::size_t>(n);
    parser_.feed(buf, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  RespParser parser_;
  bool eof_ = false;
  std::size_t received_ = 0;
};

std::string publish_reply(RawClient& pub, const std::string& channel, const std::string& msg,
                          const char* cmd = "PUBLISH") {
  pub.send({{cmd, channel, msg}});
  return pub.read1();
}

class KvPubSubTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }
  void start(nlohmann::json extra) {
    node_ = make_node(sdk::Role::primary, local_.port(), peer_.port(), extra);
    node_.configure_and_start();
    ASSERT_TRUE(endpoint_ready(node_)) << node_.plugin->health().summary;
  }
  void TearDown() override {
    if (node_.plugin) node_.plugin->stop();
  }
  // The same conversation with Redis directly (reference) and through the endpoint.
  template <class Script>
  void expect_same_as_redis(Script script) {
    std::vector<std::string> direct, endpoint;
    {
      RawClient sub(local_.port()), pub(local_.port());
      script(sub, pub, direct);
    }
    {
      RawClient sub(node_.endpoint_port), pub(node_.endpoint_port);
      script(sub, pub, endpoint);
    }
    ASSERT_FALSE(direct.empty());
    ASSERT_EQ(endpoint.size(), direct.size());
    for (std::size_t i = 0; i < direct.size(); ++i) EXPECT_EQ(endpoint[i], direct[i]) << "frame " << i;
  }

  RedisServer local_;
  RedisServer peer_;
  Node node_;
};

void append(std::vector<std::string>& to, std::vector<std::string> frames) {
  for (auto& f : frames) to.push_back(std::move(f));
}

TEST_F(KvPubSubTest, Resp2SubscribePublishAndSubscribedModeAnswerAsRedisDoes) {
  expect_same_as_redis([](RawClient& sub, RawClient& pub, std::vector<std::string>& out) {
    // Nothing subscribed yet: UNSUBSCRIBE still answers.
    sub.send({{"UNSUBSCRIBE"}, {"PUNSUBSCRIBE", "x", "y"}, {"SUNSUBSCRIBE"}});
    append(out, sub.read(4));
    sub.send({{"SUBSCRIBE", "chan1", "chan2", "chan1"}});
    append(out, sub.read(3));
    out.push_back(publish_reply(pub, "chan1", "hello"));
    out.push_back(sub.read1());
    sub.send({{"PSUBSCRIBE", "ch*"}});
    out.push_back(sub.read1());
    out.push_back(publish_reply(pub, "chan2", "world"));
    append(out, sub.read(2));  // message and pmessage
    // Subscribed mode: Redis's own refusal, arity and unknown-command errors; PING as [pong, msg].
    sub.send({{"GET", "k"},
              {"GET"},
              {"CONFIG", "GET", "maxmemory"},
              {"SET", "k", "v"},
              {"MULTI"},
              {"NOSUCHCOMMAND", "a"},
              {"HELLO", "3"},
              {"PING"},
              {"PING", "foo"}});
    append(out, sub.read(9));
    // Pipelined: the GET runs after the UNSUBSCRIBE left subscribed mode (a normal reply).
    sub.send({{"UNSUBSCRIBE"}, {"PUNSUBSCRIBE"}, {"GET", "k"}, {"PING"}});
    append(out, sub.read(5));
    out.push_back(publish_reply(pub, "chan1", "nobody"));
    // And pipelined into subscribed mode: the GET is refused.
    sub.send({{"SSUBSCRIBE", "s1"}, {"GET", "k"}, {"SUNSUBSCRIBE", "s1"}, {"GET", "k"}});
    append(out, sub.read(4));
    out.push_back(publish_reply(pub, "s1", "shard", "SPUBLISH"));
    sub.send({{"SUBSCRIBE", "a"}, {"RESET"}, {"GET", "k"}});
    append(out, sub.read(3));
  });
}

TEST_F(KvPubSubTest, Resp3MessagesArePushFramesAndEveryCommandWorksWhileSubscribed) {
  expect_same_as_redis([](RawClient& sub, RawClient& pub, std::vector<std::string>& out) {
    sub.send({{"HELLO", "3"}});
    sub.read1();  // the server's id differs; the endpoint's HELLO is tested elsewhere
    sub.send({{"UNSUBSCRIBE", "none"}, {"SUBSCRIBE", "c1"}, {"PSUBSCRIBE", "c*"}});
    append(out, sub.read(3));
    out.push_back(publish_reply(pub, "c1", "hello"));
    append(out, sub.read(2));
    // RESP3 has no subscribed mode: reads and writes work, replies in order.
    sub.send({{"SET", "k3", "v"}, {"GET", "k3"}, {"PING"}, {"HGETALL", "nohash"}});
    append(out, sub.read(4));
    sub.send({{"UNSUBSCRIBE"}, {"PUNSUBSCRIBE"}, {"UNSUBSCRIBE"}});
    append(out, sub.read(3));
    out.push_back(publish_reply(pub, "c1", "nobody"));
    // HELLO 2 while subscribed: Redis's RESP2 subscribed mode from then on.
    sub.send({{"SUBSCRIBE", "c2"}});
    out.push_back(sub.read1());
    sub.send({{"HELLO", "2"}});
    sub.read1();
    sub.send({{"PING"}, {"GET", "k3"}});
    append(out, sub.read(2));
    out.push_back(publish_reply(pub, "c2", "resp2 now"));
    out.push_back(sub.read1());
  });
  // The write made while subscribed is a dual write like any other.
  RedisClient peer("127.0.0.1", peer_.port());
  EXPECT_EQ(peer.command({"GET", "k3"}).str, "v");
}

// CLIENT REPLY OFF/SKIP silence replies, not push frames (RESP3) nor the
// commands' effects.
TEST_F(KvPubSubTest, ClientReplyOffSilencesRepliesButNotPushFrames) {
  expect_same_as_redis([](RawClient& sub, RawClient& pub, std::vector<std::string>& out) {
    sub.send({{"CLIENT", "REPLY", "SKIP"},
              {"SET", "r", "1"},
              {"GET", "r"},
              {"CLIENT", "REPLY", "OFF"},
              {"INCR", "r"},
              {"CLIENT", "REPLY", "SKIP"},
              {"CLIENT", "REPLY", "ON"},
              {"GET", "r"},
              {"CLIENT", "REPLY", "BAD"}});
    append(out, sub.read(4));
    sub.send({{"HELLO", "3"}});
    sub.read1();
    sub.send({{"CLIENT", "REPLY", "OFF"}, {"SUBSCRIBE", "quiet"}, {"PSUBSCRIBE", "q*"}, {"GET", "r"}});
    append(out, sub.read(2));
    out.push_back(publish_reply(pub, "quiet", "still"));
    append(out, sub.read(2));
    sub.send({{"CLIENT", "REPLY", "ON"}, {"UNSUBSCRIBE", "quiet"}, {"PUNSUBSCRIBE", "q*"}});
    append(out, sub.read(3));
  });
  RedisClient peer("127.0.0.1", peer_.port());
  EXPECT_EQ(peer.command({"GET", "r"}).str, "2") << "a silenced write is still a dual write";
}

// RESP2 too: with replies silenced, subscription confirmations and messages
// still arrive (Redis's unit/pubsub keyspace tests subscribe this way), while
// a PING in subscribed mode stays silent.
TEST_F(KvPubSubTest, ClientReplyOffKeepsSubscriptionFramesInResp2) {
  expect_same_as_redis([](RawClient& sub, RawClient& pub, std::vector<std::string>& out) {
    sub.send({{"CLIENT", "REPLY", "OFF"}, {"PSUBSCRIBE", "q*"}});
    out.push_back(sub.read1());
    out.push_back(publish_reply(pub, "quiet", "still"));
    out.push_back(sub.read1());
    sub.send({{"PING"}, {"SUBSCRIBE", "quiet"}});
    out.push_back(sub.read1());
    out.push_back(publish_reply(pub, "quiet", "twice"));
    append(out, sub.read(2));
    sub.send({{"PUNSUBSCRIBE"}, {"UNSUBSCRIBE"}, {"UNSUBSCRIBE", "never"}});
    append(out, sub.read(3));
    sub.send({{"CLIENT", "REPLY", "ON"}, {"GET", "nokey"}});
    append(out, sub.read(2));
  });
}

TEST_F(KvPubSubTest, PubsubIntrospectionReadsTheActiveRedis) {
  expect_same_as_redis([](RawClient& sub, RawClient& pub, std::vector<std::string>& out) {
    sub.send({{"SUBSCRIBE", "n1", "n2"}, {"PSUBSCRIBE", "p*"}, {"SSUBSCRIBE", "sh"}});
    append(out, sub.read(4));
    pub.send({{"PUBSUB", "CHANNELS", "n*"},
              {"PUBSUB", "NUMSUB", "n1", "zz"},
              {"PUBSUB", "NUMPAT"},
              {"PUBSUB", "SHARDCHANNELS"},
              {"PUBSUB", "SHARDNUMSUB", "sh"}});
    auto replies = pub.read(5);
    // CHANNELS lists in hash order: compare it as a set.
    ASSERT_EQ(replies.size(), 5u);
    EXPECT_TRUE(replies[0] == "*2\r\n$2\r\nn1\r\n$2\r\nn2\r\n" || replies[0] == "*2\r\n$2\r\nn2\r\n$2\r\nn1\r\n")
        << replies[0];
    append(out, {replies.begin() + 1, replies.end()});
  });
}

// PUBLISH goes to the primary's Redis only: subscribers connect through the
// primary's endpoint, so they are all there; a client subscribed directly on
// the peer's Redis gets nothing (and nobody gets a message twice).
TEST_F(KvPubSubTest, PublishReachesThePrimarysRedisOnly) {
  RawClient via_endpoint(node_.endpoint_port), on_local(local_.port()), on_peer(peer_.port());
  via_endpoint.send({{"SUBSCRIBE", "news"}});
  on_local.send({{"SUBSCRIBE", "news"}});
  on_peer.send({{"SUBSCRIBE", "news"}});
  for (auto* c : {&via_endpoint, &on_local, &on_peer})
    ASSERT_EQ(c->read1(), "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
  RawClient pub(node_.endpoint_port);
  EXPECT_EQ(publish_reply(pub, "news", "x"), ":2\r\n") << "the count is the primary's Redis's subscribers";
  const std::string msg = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\nx\r\n";
  EXPECT_EQ(via_endpoint.read1(), msg);
  EXPECT_EQ(on_local.read1(), msg);
  EXPECT_EQ(on_peer.read(1, 300ms).size(), 0u) << "published on the peer's Redis too";
  EXPECT_EQ(via_endpoint.read(1, 300ms).size(), 0u) << "delivered twice";
  // A channel of tandem's own is not for clients to publish on.
  EXPECT_EQ(publish_reply(pub, "__tandem:fx", "1").rfind("-NOPERM", 0), 0u);
}

TEST_F(KvPubSubTest, SubscribeInsideMultiIsRefusedAndTheTransactionAborts) {
  RawClient c(node_.endpoint_port);
  c.send({{"MULTI"}, {"SUBSCRIBE", "a"}, {"EXEC"}});
  auto r = c.read(3);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[1].rfind("-ERR 'SUBSCRIBE' inside MULTI", 0), 0u) << r[1];
  EXPECT_EQ(r[2].rfind("-EXECABORT", 0), 0u) << r[2];
}

class KvPubSubLimitTest : public KvPubSubTest {
 protected:
  void SetUp() override {
    start({{"pubsub_output_buffer_limit", "1MiB"}, {"pubsub_output_buffer_soft_limit", "1MiB"}, {"max_clients", 4}});
  }
};

// Redis's pubsub class limit: a subscriber that does not read is dropped at
// its limit instead of growing tandemd, and the others keep receiving.
TEST_F(KvPubSubLimitTest, ANonReadingSubscriberIsDroppedWhileAnotherKeepsReceiving) {
  RawClient stuck(node_.endpoint_port), reader(node_.endpoint_port), pub(node_.endpoint_port);
  stuck.send({{"SUBSCRIBE", "firehose"}});
  reader.send({{"SUBSCRIBE", "firehose"}});
  ASSERT_EQ(stuck.read(1).size(), 1u);
  ASSERT_EQ(reader.read(1).size(), 1u);
  std::atomic<long> got{0};
  std::atomic<bool> stop{false};
  std::thread reading([&] {
    while (!stop)
      if (!reader.read(1, 100ms).empty()) ++got;
  });
  const std::string payload(64 * 1024, 'x');
  // 64 MiB at most: the stuck client's kernel buffers take a few MiB, the endpoint 1 MiB.
  long published = 0, receivers = 2;
  for (; published < 1024 && receivers == 2; ++published) {
    auto r = publish_reply(pub, "firehose", payload);
    ASSERT_EQ(r[0], ':') << r;
    receivers = std::stol(r.substr(1));
  }
  EXPECT_EQ(receivers, 1) << "the non-reading subscriber was never dropped (" << published << " messages of 64 KiB)";
  EXPECT_LT(published, 1024);
  // The other subscriber got every message.
  EXPECT_TRUE(sdk::testing::eventually([&] { return got.load() == published; }, 10s))
      << got.load() << " of " << published;
  stop = true;
  reading.join();
  EXPECT_TRUE(stuck.closed_within(10s)) << "the dropped subscriber's connection stays open";
  EXPECT_LT(stuck.received(), static_cast<std::size_t>(published) * payload.size());
  // Its own connection to the Redis is gone too.
  RedisClient local("127.0.0.1", local_.port());
  EXPECT_TRUE(sdk::testing::eventually(
      [&] {
        auto n = local.command({"PUBSUB", "NUMSUB", "firehose"});
        return n.elements.size() == 2 && n.elements[1].integer == 1;
      },
      5s));
}

// Redis's pubsub soft limit: a subscriber whose unread messages stay above
// the soft limit for the soft time is dropped, far below the hard limit.
// (As in Redis, the limits are checked as messages arrive.)
class KvPubSubSoftLimitTest : public KvPubSubTest {
 protected:
  void SetUp() override {
    start({{"pubsub_output_buffer_limit", "64MiB"},
           {"pubsub_output_buffer_soft_limit", "256KiB"},
           {"pubsub_output_buffer_soft_time", "1s"}});
  }
};

TEST_F(KvPubSubSoftLimitTest, ASubscriberAboveTheSoftLimitForTheSoftTimeIsDropped) {
  RawClient stuck(node_.endpoint_port), reader(node_.endpoint_port), pub(node_.endpoint_port);
  stuck.send({{"SUBSCRIBE", "slow"}});
  reader.send({{"SUBSCRIBE", "slow"}});
  ASSERT_EQ(stuck.read(1).size(), 1u);
  ASSERT_EQ(reader.read(1).size(), 1u);
  std::atomic<bool> stop{false};
  std::thread reading([&] {
    while (!stop) reader.read(1, 100ms);
  });
  // 16 MiB: more than the kernel's socket buffers hold for the stuck client,
  // a quarter of the hard limit.
  const std::string payload(64 * 1024, 'x');
  long receivers = 2;
  for (int i = 0; i < 256 && receivers == 2; ++i) {
    auto r = publish_reply(pub, "slow", payload);
    ASSERT_EQ(r[0], ':') << r;
    receivers = std::stol(r.substr(1));
  }
  // Then a small message every 100 ms: each arrival checks the limits.
  for (int i = 0; i < 100 && receivers == 2; ++i) {
    std::this_thread::sleep_for(100ms);
    receivers = std::stol(publish_reply(pub, "slow", "tick").substr(1));
  }
  stop = true;
  reading.join();
  EXPECT_EQ(receivers, 1) << "the subscriber above the soft limit was never dropped";
  EXPECT_TRUE(node_.host->logger().contains("pubsub_output_buffer_soft_limit")) << "dropped, but not by the soft limit";
  EXPECT_TRUE(stuck.closed_within(10s));
}

// A subscriber holds one of max_clients like any client, and one backend
// connection at most: max_clients bounds both.
TEST_F(KvPubSubLimitTest, SubscribersCountAgainstMaxClients) {
  std::vector<std::unique_ptr<RawClient>> subs;
  for (int i = 0; i < 4; ++i) {
    subs.push_back(std::make_unique<RawClient>(node_.endpoint_port));
    subs.back()->send({{"SUBSCRIBE", "c" + std::to_string(i), "more"}});
    ASSERT_EQ(subs.back()->read(2).size(), 2u);
  }
  RawClient fifth(node_.endpoint_port);
  EXPECT_EQ(fifth.read1().rfind("-ERR max number of clients reached", 0), 0u);
  RedisClient local("127.0.0.1", local_.port());
  auto list = local.command({"CLIENT", "LIST", "TYPE", "pubsub"});
  std::size_t lines = 0;
  for (char ch : list.str) lines += ch == '\n';
  EXPECT_EQ(lines, 4u) << list.str;
}

// A fenced node's endpoint stops: its subscribers are disconnected, and
// resubscribe on the new primary.
TEST_F(KvPubSubTest, SubscribersAreDisconnectedWhenTheNodeIsFenced) {
  RawClient sub(node_.endpoint_port);
  sub.send({{"SUBSCRIBE", "events"}});
  ASSERT_EQ(sub.read(1).size(), 1u);
  node_.host->set_fenced(true);
  ASSERT_TRUE(node_.plugin->sync().ok());
  EXPECT_TRUE(sub.closed_within(10s)) << "a subscriber of a fenced node stays connected";
  RedisClient local("127.0.0.1", local_.port());
  EXPECT_TRUE(sdk::testing::eventually(
      [&] {
        return local.command({"CLIENT", "LIST", "TYPE", "pubsub"}).str.empty();
      },
      5s))
      << "the subscriber's connection to the local Redis stays open";
}

sdk::FailoverRequest switchover() {
  sdk::FailoverRequest r;
  r.kind = sdk::FailoverKind::switchover;
  r.new_epoch = 2;
  r.handoff = nlohmann::json::object();
  return r;
}

TEST(KvPubSubFailover, SubscribersAreDisconnectedWhenTheNodeIsDemoted) {
  RedisServer redis_a, redis_b;
  Node alpha = make_node(sdk::Role::primary, redis_a.port(), redis_b.port());
  Node beta = make_node(sdk::Role::secondary, redis_b.port(), redis_a.port());
  alpha.host->connect_peer(beta.plugin.get());
  beta.host->connect_peer(alpha.plugin.get());
  alpha.configure_and_start();
  beta.configure_and_start();
  ASSERT_TRUE(endpoint_ready(alpha));
  RawClient sub(alpha.endpoint_port);
  sub.send({{"SUBSCRIBE", "events"}});
  ASSERT_EQ(sub.read(1).size(), 1u);
  auto demoted = alpha.plugin->demote(switchover());
  ASSERT_TRUE(demoted.ok()) << demoted.message();
  EXPECT_TRUE(sub.closed_within(10s)) << "a subscriber of a demoted node stays connected";
  alpha.host->set_role(sdk::Role::secondary);
  auto promoted = beta.plugin->promote([&] {
    auto r = switchover();
    r.handoff = demoted->details;
    return r;
  }());
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  beta.host->set_role(sdk::Role::primary);
  ASSERT_TRUE(endpoint_ready(beta)) << beta.plugin->health().summary;
  // Resubscribed on the new primary, it gets what is published there.
  RawClient again(beta.endpoint_port), pub(beta.endpoint_port);
  again.send({{"SUBSCRIBE", "events"}});
  ASSERT_EQ(again.read(1).size(), 1u);
  EXPECT_EQ(publish_reply(pub, "events", "after"), ":1\r\n");
  EXPECT_EQ(again.read1(), "*3\r\n$7\r\nmessage\r\n$6\r\nevents\r\n$5\r\nafter\r\n");
  alpha.host->connect_peer(nullptr);
  beta.host->connect_peer(nullptr);
  alpha.plugin->stop();
  beta.plugin->stop();
}

}  // namespace
}  // namespace tandem::kv::testing
