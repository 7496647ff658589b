// What one client can do to the endpoint, tried as a hostile client would:
// read the backends' secrets, exhaust memory, stall other clients, hold
// connections, guess the password. Each limit is a test against real
// redis-servers.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include "kv_pair_fixture.h"
#include "non_reader_probe.h"
#include "support/sanitizer_allowance.h"
#include "tandem/sdk/file_util.h"

namespace tandem::kv::testing {
namespace {

// CONFIG GET through the endpoint answers from the local Redis, minus its
// secrets: the backend passwords (requirepass, masterauth) and the TLS key
// files never reach a client, whatever the pattern.
TEST(KvHostileClient, ConfigGetNeverReturnsABackendSecret) {
  sdk::testing::TempDir dir;
  sdk::atomic_write_file(dir.path() / "local.pw", "local-secret-pw\n", 0600);
  sdk::atomic_write_file(dir.path() / "peer.pw", "peer-secret-pw\n", 0600);
  RedisServerOptions lo, po;
  lo.password = "local-secret-pw";
  lo.extra_args = {"--masterauth", "master-secret-pw", "--masteruser", "replicator"};
  po.password = "peer-secret-pw";
  RedisServer local(lo), peer(po);
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(),
                        {{"local_password_file", (dir.path() / "local.pw").string()},
                         {"peer_password_file", (dir.path() / "peer.pw").string()}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node)) << node.plugin->health().summary;
  auto c = connect(node.endpoint_port);
  for (std::string pattern :
       {"requirepass", "masterauth", "masteruser", "REQUIREPASS", "*pass*", "master*", "tls-*", "aclfile", "*"}) {
    auto r = c->command({"CONFIG", "GET", pattern});
    ASSERT_EQ(r.type, RedisValue::Type::array) << pattern << ": " << r.describe();
    auto text = r.describe();
    for (std::string secret : {"local-secret-pw", "peer-secret-pw", "master-secret-pw", "replicator"})
      EXPECT_EQ(text.find(secret), std::string::npos) << "CONFIG GET " << pattern << " returned " << secret;
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
      for (std::string name : {"requirepass", "masterauth", "masteruser", "tls-key-file", "tls-key-file-pass",
                               "tls-client-key-file", "tls-client-key-file-pass", "aclfile"})
        EXPECT_NE(r.elements[i].str, name) << "CONFIG GET " << pattern;
  }
  // What is not secret still comes back (the filter drops names, not the reply).
  auto r = c->command({"CONFIG", "GET", "maxmemory-policy"});
  ASSERT_EQ(r.elements.size(), 2u) << r.describe();
  EXPECT_EQ(r.elements[0].str, "maxmemory-policy");
  EXPECT_GT(c->command({"CONFIG", "GET", "*"}).elements.size(), 100u);
  // Nothing else that reaches a backend answers with a secret either; what
  // would (ACL, CLIENT LIST, DEBUG, MONITOR) is refused or answered here.
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{{"INFO", "everything"},
                                                                            {"INFO", "server"},
                                                                            {"MEMORY", "STATS"},
                                                                            {"CLIENT", "LIST"},
                                                                            {"CLIENT", "INFO"},
                                                                            {"ACL", "LIST"},
                                                                            {"ACL", "GETUSER", "default"},
                                                                            {"DEBUG", "OBJECT", "x"},
                                                                            {"MONITOR"}}) {
    auto text = c->command(cmd).describe();
    for (std::string secret : {"local-secret-pw", "peer-secret-pw", "master-secret-pw"})
      EXPECT_EQ(text.find(secret), std::string::npos) << cmd[0] << " " << cmd[1 % cmd.size()] << " returned a secret";
  }
  // CLIENT LIST is the endpoint's own clients' list (no backend link in it).
  EXPECT_NE(c->command({"CLIENT", "LIST"}).str.find(" cmd=client "), std::string::npos);
  EXPECT_TRUE(c->command({"ACL", "LIST"}).is_error());
  node.plugin->stop();
}

// Peak resident memory of this process (the plugin runs in it), in MiB.
double peak_rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

// A client that pipelines 3,000 GETs of a 1 MiB value and never reads, on a
// socket with a 4 KiB receive buffer: past its soft limit its requests are
// no longer read (paced), so Redis stops serving it; it is disconnected once
// it has stayed above the soft limit for the soft time (the log names that
// limit), another client's replies are not held up meanwhile, and the
// endpoint's memory stays bounded. The same client against the local Redis
// directly, with the same limits, is the reference for what "not held up"
// can mean on this machine: Redis, the endpoint and both clients share its
// cores.
TEST(KvHostileClient, NonReadingClientIsDisconnectedAndHurtsNoOne) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(),
                        {{"client_output_buffer_limit", "32MiB"},
                         {"client_output_buffer_soft_limit", "8MiB"},
                         {"client_output_buffer_soft_time", "1s"}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  {
    auto c = connect(node.endpoint_port);
    ASSERT_EQ(c->command({"SET", "big", std::string(1 << 20, 'x')}).str, "OK");
    ASSERT_EQ(c->command({"SET", "small", "v"}).str, "OK");
  }
  // The reference: Redis's own limits of the same sizes (the keys are on
  // the local Redis already); cut off once its client list no longer has it.
  RedisClient admin("127.0.0.1", local.port());
  ASSERT_EQ(admin.command({"CONFIG", "SET", "client-output-buffer-limit", "normal 33554432 8388608 1"}).str, "OK");
  auto direct_cut = [&] {
    return admin.command({"CLIENT", "LIST"}).str.find("name=" + std::string(kNonReaderName)) == std::string::npos;
  };
  const NonReaderRun direct = run_non_reader(local.port(), direct_cut, direct_cut);

  double rss_before = peak_rss_mib();
  const NonReaderRun through = run_non_reader(
      node.endpoint_port, [&] { return node.host->logger().contains("client_output_buffer_soft_limit"); },
      [&] { return node.plugin->health().details.value("clients", 99) <= 1; });
  double rss_peak = peak_rss_mib();
  auto health = node.plugin->health();
  std::cout << "the endpoint: normal GET p50 " << percentile(through.normal, 0.5) << " ms, p99 "
            << percentile(through.normal, 0.99) << " ms; while the non-reading client was connected ("
            << through.connected_ms << " ms): " << against(through.connected, through.normal)
            << "; over the whole window: " << against(through.whole, through.normal) << " (target 2x); peak RSS "
            << rss_before << " MiB before, " << rss_peak << " MiB after; the non-reading client received "
            << through.received << " bytes; " << health.details.value("bulk_reads", 0)
            << " reads took a bulk read link\n"
            << "direct Redis, same client, same limit: normal GET p99 " << percentile(direct.normal, 0.99)
            << " ms; while connected (" << direct.connected_ms << " ms): " << against(direct.connected, direct.normal)
            << "; whole window: " << against(direct.whole, direct.normal) << "\n"
            << "the endpoint's p99 while connected / direct Redis's: "
            << percentile(through.connected, 0.99) / std::max(1e-9, percentile(direct.connected, 0.99))
            << "; over the whole window: "
            << percentile(through.whole, 0.99) / std::max(1e-9, percentile(direct.whole, 0.99)) << std::endl;
  EXPECT_TRUE(direct.cut_off) << "Redis itself did not drop the non-reading client (the reference is invalid)";
  EXPECT_TRUE(through.cut_off) << health.details.dump();
  // By the soft limit, after its time, not by the hard limit: its requests
  // stopped being read past 8 MiB, so its unread replies never reached 32 MiB.
  EXPECT_FALSE(node.host->logger().contains("(client_output_buffer_limit")) << "dropped by the hard limit";
  EXPECT_GE(through.connected_ms, 900) << "dropped before its soft time";
  EXPECT_GE(health.details.value("clients_paced", 0), 1) << health.details.dump();
  // Its 1 MiB GETs went to a bulk read link, off the link the other client's
  // replies use (the first one or two, sent before a reply showed their size,
  // may not have); and Redis served only about its soft limit's worth of them
  // (plus the replies in flight and what the sockets hold), not 32.
  EXPECT_GT(health.details.value("bulk_reads", 0), 5) << health.details.dump();
  EXPECT_LT(health.details.value("bulk_reads", 99), 24) << health.details.dump();
  // None of its 1 MiB replies came on the shared link, not even the first
  // ones (it pipelined before any reply showed their size); they were moved
  // to it, not copied; and its unread MiBs were freed off the io thread.
  // Each of these held the other client's replies for milliseconds.
  EXPECT_EQ(health.details.value("shared_large_replies", -1), 0) << health.details.dump();
  EXPECT_GE(health.details.value("replies_moved", 0), 5) << health.details.dump();
  EXPECT_GE(health.details.value("bytes_freed_off_io_thread", 0), 4 << 20) << health.details.dump();
  // And (most of) them arrived in memory faulted in by the helper thread,
  // not by the io thread: how many depends on whether it kept up.
  EXPECT_GT(health.details.value("prepared_rooms_used", 0), 0) << health.details.dump();
  EXPECT_LT(through.received, 16 << 20) << "it got more than its soft limit and what the sockets hold";
  EXPECT_LT(rss_peak, 200.0 + testsupport::kSanitizerRssAllowanceMiB);
  // Not a latency target (the 2x goal is measured and printed above, beside
  // direct Redis): this catches the failure itself, a shared, unbounded link
  // that held every other client's replies for seconds (about 10 s before the
  // fix). Any tighter bound fails on a loaded machine or under a sanitizer
  // for no fault.
  EXPECT_LT(percentile(through.whole, 0.99), 1000.0) << "another client's replies were held up";
  node.plugin->stop();
}

// A client that reads its replies, but large ones (GETs of 1 MiB, pipelined
// 4 at a time, for 2 s), does not hold up another client's small replies:
// they would queue behind its megabytes on a shared link. The ratio to
// normal is printed, not asserted (no latency bound holds on a loaded
// machine); the bound catches a stall.
TEST(KvHostileClient, AClientWithLargeRepliesDoesNotDelayAnother) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port());
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  {
    auto c = connect(node.endpoint_port);
    ASSERT_EQ(c->command({"SET", "big", std::string(1 << 20, 'x')}).str, "OK");
    ASSERT_EQ(c->command({"SET", "small", "v"}).str, "OK");
  }
  auto normal = get_latencies(node.endpoint_port, 2000);
  std::atomic<bool> stop{false};
  std::atomic<long> big_replies{0};
  std::thread large([&] {
    RedisClient c("127.0.0.1", node.endpoint_port);
    const std::vector<std::vector<std::string>> four(4, {"GET", "big"});
    while (!stop)
      for (auto& r : c.pipeline(four))
        if (r.str.size() == (1u << 20)) ++big_replies;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // it is under way
  auto during = get_latencies(node.endpoint_port, 0);
  for (auto end = Clock::now() + std::chrono::seconds(2); Clock::now() < end;) {
    auto more = get_latencies(node.endpoint_port, 200);
    during.insert(during.end(), more.begin(), more.end());
  }
  stop = true;
  large.join();
  std::uint64_t bulk_reads = 0;
  sdk::testing::eventually([&] { return (bulk_reads = node.plugin->health().details.value("bulk_reads", 0ull)) > 0; },
                           std::chrono::seconds(2));
  std::cout << "normal GET p50 " << percentile(normal, 0.5) << " ms, p99 " << percentile(normal, 0.99)
            << " ms; while another client read " << big_replies << " replies of 1 MiB: " << against(during, normal)
            << " (target 2x); " << bulk_reads << " reads took a bulk read link" << std::endl;
  EXPECT_GT(big_replies, 20);
  EXPECT_GT(bulk_reads, 20u);
  // Not one of its 1 MiB replies came on the link the other client's share.
  EXPECT_EQ(node.plugin->health().details.value("shared_large_replies", -1), 0);
  EXPECT_LT(percentile(during, 0.99), 1000.0) << "another client's replies were held up";
  node.plugin->stop();
}

// The number of bytes of `n` RESP2 replies of a `size`-byte bulk string.
std::size_t bulk_replies_bytes(std::size_t n, std::size_t size) {
  return n * (1 + std::to_string(size).size() + 2 + size + 2);
}

// A client that reads, slowly (1 MiB per 50 ms), what it asked for in one
// go (60 pipelined GETs of 1 MiB, twice its hard limit): it is paced at its
// soft limit instead of buffered up to the hard one, served everything at
// its own pace, and never disconnected (it reads below its soft limit again
// well within the soft time, each time). Without the pacing its unread
// replies pass the 32 MiB hard limit within milliseconds.
TEST(KvHostileClient, ASlowReaderIsServedAtItsPaceAndNeverDisconnected) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(),
                        {{"client_output_buffer_limit", "32MiB"},
                         {"client_output_buffer_soft_limit", "8MiB"},
                         {"client_output_buffer_soft_time", "1s"}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  ASSERT_EQ(connect(node.endpoint_port)->command({"SET", "big", std::string(1 << 20, 'x')}).str, "OK");
  constexpr int kGets = 60;
  int fd = raw_connect(node.endpoint_port);
  ASSERT_GE(fd, 0);
  std::string burst;
  for (int i = 0; i < kGets; ++i) burst += "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
  ASSERT_EQ(::send(fd, burst.data(), burst.size(), 0), static_cast<ssize_t>(burst.size()));
  const std::size_t expected = bulk_replies_bytes(kGets, 1 << 20);
  std::size_t received = 0;
  std::vector<char> buf(1 << 20);
  const auto t0 = Clock::now();
  bool closed = false;
  while (received < expected && Clock::now() - t0 < std::chrono::seconds(60)) {
    // 1 MiB, then 50 ms of doing something else.
    std::size_t this_round = 0;
    while (this_round < buf.size() && received + this_round < expected) {
      ssize_t n = ::recv(fd, buf.data(), buf.size() - this_round, 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      this_round += static_cast<std::size_t>(n);
    }
    received += this_round;
    if (closed) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // Still connected, and it still answers.
  const std::string ping = "*1\r\n$4\r\nPING\r\n";
  char pong[7] = {};
  const bool answers = !closed && ::send(fd, ping.data(), ping.size(), 0) == static_cast<ssize_t>(ping.size()) &&
                       ::recv(fd, pong, sizeof pong, MSG_WAITALL) == 7 && std::string(pong, 7) == "+PONG\r\n";
  ::close(fd);
  auto health = node.plugin->health();
  std::cout << "slow reader: " << received << " of " << expected << " bytes in " << seconds << " s; paced "
            << health.details.value("clients_paced", 0) << " times" << std::endl;
  EXPECT_FALSE(closed) << "the slow reader was disconnected after " << received << " bytes";
  EXPECT_EQ(received, expected);
  EXPECT_TRUE(answers);
  EXPECT_FALSE(node.host->logger().contains("disconnected")) << "a client was disconnected";
  EXPECT_GE(health.details.value("clients_paced", 0), 1) << health.details.dump();
  node.plugin->stop();
}

// The hard limit still disconnects at once: one reply larger than it (a
// 3 MiB value, hard limit 2 MiB) closes the client straight away, long
// before the soft time, and the log names the hard limit.
TEST(KvHostileClient, AReplyAboveTheHardLimitDisconnectsAtOnce) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(),
                        {{"client_output_buffer_limit", "2MiB"},
                         {"client_output_buffer_soft_limit", "1MiB"},
                         {"client_output_buffer_soft_time", "60s"}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  ASSERT_EQ(connect(node.endpoint_port)->command({"SET", "huge", std::string(3 << 20, 'h')}).str, "OK");
  RedisClient c("127.0.0.1", node.endpoint_port);
  const auto t0 = Clock::now();
  std::string got = "(nothing)";
  try {
    got = c.command({"GET", "huge"}).describe().substr(0, 80);
  } catch (const std::exception& e) {
    got = e.what();  // the connection closed: what is expected
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_NE(got.find("closed the connection"), std::string::npos) << got;
  EXPECT_LT(seconds, 30.0) << "not at once";
  EXPECT_TRUE(node.host->logger().contains("(client_output_buffer_limit 2097152)"));
  EXPECT_FALSE(node.host->logger().contains("client_output_buffer_soft_limit"));
  // Another client is served as before.
  EXPECT_EQ(connect(node.endpoint_port)->command({"STRLEN", "huge"}).integer, 3 << 20);
  node.plugin->stop();
}

// Pacing never holds a client waiting for its own reply: with a soft limit
// far below its replies (64 KiB against 256 KiB values), pipelined GETs, a
// MULTI/EXEC of large reads, a BLPOP that another client serves later, and
// then a subscription with large messages all complete, each reply in order.
TEST(KvHostileClient, PacingNeverHoldsAClientWaitingForItsReply) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(),
                        {{"client_output_buffer_soft_limit", "64KiB"}, {"client_output_buffer_soft_time", "2s"}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  const std::string big(256 << 10, 'b');
  ASSERT_EQ(connect(node.endpoint_port)->command({"SET", "big", big}).str, "OK");
  RedisClient c("127.0.0.1", node.endpoint_port);
  std::vector<std::vector<std::string>> cmds(20, {"GET", "big"});
  cmds.push_back({"MULTI"});
  for (int i = 0; i < 4; ++i) cmds.push_back({"GET", "big"});
  cmds.push_back({"EXEC"});
  cmds.push_back({"BLPOP", "q", "10"});
  cmds.push_back({"GET", "big"});
  std::jthread pusher([&] {  // joined however the pipeline ends (it throws when its replies do not come)
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    RedisClient("127.0.0.1", node.endpoint_port).command({"RPUSH", "q", "job"});
  });
  auto replies = c.pipeline(cmds);
  pusher.join();
  ASSERT_EQ(replies.size(), cmds.size());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(replies[i].str.size(), big.size()) << i;
  EXPECT_EQ(replies[20].str, "OK");
  for (int i = 21; i < 25; ++i) EXPECT_EQ(replies[i].str, "QUEUED") << i;
  ASSERT_EQ(replies[25].elements.size(), 4u) << replies[25].describe().substr(0, 200);
  for (auto& e : replies[25].elements) EXPECT_EQ(e.str.size(), big.size());
  ASSERT_EQ(replies[26].elements.size(), 2u) << replies[26].describe();
  EXPECT_EQ(replies[26].elements[1].str, "job");
  EXPECT_EQ(replies[27].str.size(), big.size());
  // A subscriber is not paced (its messages come anyway): 20 messages of
  // 256 KiB, far above the normal soft limit, all arrive.
  ASSERT_EQ(c.command({"SUBSCRIBE", "ch"}).elements.size(), 3u);
  {
    RedisClient publisher("127.0.0.1", node.endpoint_port);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(publisher.command({"PUBLISH", "ch", big}).integer, 1);
  }
  for (int i = 0; i < 20; ++i) {
    auto m = c.read_reply();
    ASSERT_EQ(m.elements.size(), 3u) << m.describe().substr(0, 200);
    EXPECT_EQ(m.elements[2].str.size(), big.size());
  }
  EXPECT_GE(node.plugin->health().details.value("clients_paced", 0), 1);
  EXPECT_FALSE(node.host->logger().contains("disconnected"));
  node.plugin->stop();
}

// A client with large replies reads through a bulk read link, yet keeps the
// order of a single connection: each read sees the client's own earlier
// writes and none of its later ones, although the writes take the shared
// links. Pipelined, so reads and writes are in flight together.
TEST(KvHostileClient, ALargeReplyClientKeepsItsOwnOrderAcrossLinks) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port());
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  auto c = connect(node.endpoint_port);
  const std::string big(256 << 10, 'b');
  ASSERT_EQ(c->command({"SET", "big", big}).str, "OK");
  ASSERT_EQ(c->command({"SET", "k", "0"}).str, "OK");
  ASSERT_EQ(c->command({"GET", "big"}).str.size(), big.size());  // its replies are large from now on
  constexpr int kRounds = 300, kPerPipeline = 10;
  int wrong = 0;
  for (int base = 0; base < kRounds; base += kPerPipeline) {
    std::vector<std::vector<std::string>> cmds;
    for (int i = base + 1; i <= base + kPerPipeline; ++i) {
      cmds.push_back({"GET", "big"});  // keeps the client on a bulk link, and that link busy
      cmds.push_back({"GET", "k"});    // before the SET: the previous value
      cmds.push_back({"SET", "k", std::to_string(i)});
      cmds.push_back({"GET", "k"});            // after it: its own write
      cmds.push_back({"APPEND", "log", "."});  // a write straight after a read
      cmds.push_back({"STRLEN", "log"});       // and a read straight after it
    }
    auto replies = c->pipeline(cmds);
    ASSERT_EQ(replies.size(), cmds.size());
    for (int j = 0; j < kPerPipeline; ++j) {
      const int i = base + 1 + j;
      const auto* r = &replies[static_cast<std::size_t>(j) * 6];
      EXPECT_EQ(r[0].str.size(), big.size());
      if (r[1].str != std::to_string(i - 1) || r[3].str != std::to_string(i) || r[5].integer != i) {
        if (++wrong <= 5)
          ADD_FAILURE() << "round " << i << ": GET k before SET " << r[1].describe() << ", after " << r[3].describe()
                        << ", STRLEN after APPEND " << r[5].describe();
      }
    }
  }
  EXPECT_EQ(wrong, 0);
  // The reads did go through a bulk link (the test shows something); the
  // count is published with the endpoint's stats, every tick.
  std::uint64_t bulk_reads = 0;
  EXPECT_TRUE(sdk::testing::eventually(
      [&] { return (bulk_reads = node.plugin->health().details.value("bulk_reads", 0ull)) > kRounds; },
      std::chrono::seconds(5)))
      << bulk_reads;
  std::cout << kRounds << " rounds, " << wrong << " out of order; " << bulk_reads << " reads took a bulk read link"
            << std::endl;
  node.plugin->stop();
}

// A MULTI that queues 1,200 x 1 MiB SET is refused at max_transaction_size;
// EXEC fails, nothing is applied, memory stays bounded.
TEST(KvHostileClient, HugeMultiIsRefusedAtTheBound) {
  RedisServer local, peer;
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(), {{"max_transaction_size", "64MiB"}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  auto c = connect(node.endpoint_port);
  ASSERT_EQ(c->command({"MULTI"}).str, "OK");
  const std::string value(1 << 20, 'v');
  int queued = 0, refused_at = -1;
  for (int i = 0; i < 1200; ++i) {
    auto r = c->command({"SET", "m" + std::to_string(i), value});
    if (r.is_error()) {
      if (refused_at < 0) refused_at = i;
      EXPECT_NE(r.str.find("max_transaction_size"), std::string::npos) << r.str;
    } else {
      EXPECT_EQ(r.str, "QUEUED");
      if (refused_at < 0) ++queued;
    }
  }
  auto exec = c->command({"EXEC"});
  std::cout << queued << " SETs queued, refused at #" << refused_at << ", EXEC: " << exec.describe().substr(0, 80)
            << "; peak RSS " << peak_rss_mib() << " MiB" << std::endl;
  EXPECT_GT(refused_at, 50);
  EXPECT_LT(refused_at, 70);
  ASSERT_TRUE(exec.is_error());
  EXPECT_NE(exec.str.find("EXECABORT"), std::string::npos);
  EXPECT_EQ(RedisClient("127.0.0.1", local.port()).command({"EXISTS", "m0"}).integer, 0);
  EXPECT_EQ(RedisClient("127.0.0.1", peer.port()).command({"EXISTS", "m0"}).integer, 0);
  EXPECT_LT(peak_rss_mib(), 200.0 + testsupport::kSanitizerRssAllowanceMiB);
  // The connection is still usable, and a small transaction works.
  ASSERT_EQ(c->command({"MULTI"}).str, "OK");
  c->command({"SET", "m0", "small"});
  auto ok = c->command({"EXEC"});
  ASSERT_EQ(ok.type, RedisValue::Type::array) << ok.describe();
  EXPECT_EQ(RedisClient("127.0.0.1", peer.port()).command({"GET", "m0"}).str, "small");
  node.plugin->stop();
}

// max_clients idle connections that never authenticate are closed after
// auth_timeout, so they cannot lock everyone out.
TEST(KvHostileClient, IdleUnauthenticatedSocketsAreClosedByTheTimeout) {
  sdk::testing::TempDir dir;
  sdk::atomic_write_file(dir.path() / "client.pw", "endpoint-pw\n", 0600);
  RedisServer local, peer;
  auto node = make_node(
      sdk::Role::primary, local.port(), peer.port(),
      {{"client_password_file", (dir.path() / "client.pw").string()}, {"max_clients", 20}, {"auth_timeout", "1s"}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    int fd = raw_connect(node.endpoint_port);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  ASSERT_TRUE(sdk::testing::eventually([&] { return node.plugin->health().details.value("clients", 0) == 20; },
                                       std::chrono::seconds(5)));
  {
    auto locked_out = connect(node.endpoint_port);
    auto r = locked_out->command({"PING"});
    EXPECT_NE(r.describe().find("max number of clients"), std::string::npos) << r.describe();
  }
  // The idle ones are closed by the endpoint (each read sees EOF)...
  EXPECT_TRUE(sdk::testing::eventually([&] { return node.plugin->health().details.value("clients", 99) == 0; },
                                       std::chrono::seconds(10)));
  for (int fd : idle) {
    char b;
    EXPECT_EQ(::recv(fd, &b, 1, 0), 0);
    ::close(fd);
  }
  // ...and a real client gets in.
  auto c = connect(node.endpoint_port);
  EXPECT_EQ(c->command({"AUTH", "endpoint-pw"}).str, "OK");
  EXPECT_EQ(c->command({"SET", "k", "v"}).str, "OK");
  EXPECT_TRUE(node.host->logger().contains("auth_timeout"));
  node.plugin->stop();
}

// Wrong AUTHs are slowed (each answered after auth_failure_delay, nothing else
// read meanwhile) and logged without the password, rate-limited.
TEST(KvHostileClient, WrongAuthIsSlowedAndLogged) {
  sdk::testing::TempDir dir;
  sdk::atomic_write_file(dir.path() / "client.pw", "endpoint-pw\n", 0600);
  RedisServer local, peer;
  auto node =
      make_node(sdk::Role::primary, local.port(), peer.port(),
                {{"client_password_file", (dir.path() / "client.pw").string()}, {"auth_failure_delay", "100ms"}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node));
  auto c = connect(node.endpoint_port);
  std::vector<std::vector<std::string>> guesses;
  for (int i = 0; i < 10; ++i) guesses.push_back({"AUTH", "guess-" + std::to_string(i)});
  guesses.push_back({"AUTH", "endpoint-pw"});
  auto t0 = std::chrono::steady_clock::now();
  auto replies = c->pipeline(guesses);
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::cout << "10 wrong AUTHs + 1 right one, pipelined: " << elapsed.count() << " ms" << std::endl;
  for (int i = 0; i < 10; ++i) EXPECT_NE(replies[i].str.find("WRONGPASS"), std::string::npos) << replies[i].str;
  EXPECT_EQ(replies[10].str, "OK");
  EXPECT_GE(elapsed.count(), 900);  // a lower bound only: 10 x 100 ms of delay
  EXPECT_TRUE(node.host->logger().contains("failed AUTH"));
  for (auto& line : node.host->logger().lines()) {
    EXPECT_EQ(line.find("guess-"), std::string::npos) << line;
    EXPECT_EQ(line.find("endpoint-pw"), std::string::npos) << line;
  }
  node.plugin->stop();
}

}  // namespace
}  // namespace tandem::kv::testing
