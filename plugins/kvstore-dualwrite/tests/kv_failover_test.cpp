// Failover across two plugin instances (two TestHosts), as the orchestrator
// will drive them: unplanned failover + rejoin under a write load, and a
// planned switchover.
#include <signal.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "kv_pair_fixture.h"

namespace tandem::kv::testing {
namespace {

sdk::FailoverRequest request(sdk::FailoverKind kind, nlohmann::json handoff = nlohmann::json::object()) {
  sdk::FailoverRequest r;
  r.kind = kind;
  r.new_epoch = 2;
  r.handoff = std::move(handoff);
  return r;
}

class KvFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    alpha_ = make_node(sdk::Role::primary, redis_a_.port(), redis_b_.port());
    beta_ = make_node(sdk::Role::secondary, redis_b_.port(), redis_a_.port());
    alpha_.host->connect_peer(beta_.plugin.get());
    beta_.host->connect_peer(alpha_.plugin.get());
    alpha_.configure_and_start();
    beta_.configure_and_start();
    ASSERT_TRUE(endpoint_ready(alpha_));
  }
  void TearDown() override {
    alpha_.host->connect_peer(nullptr);
    beta_.host->connect_peer(nullptr);
    alpha_.plugin->stop();
    beta_.plugin->stop();
  }
  bool beta_dual() {
    return sdk::testing::eventually(
        [&] {
          auto r = beta_.plugin->sync();
          return r.ok() && beta_.plugin->health().details.value("peer_mode", "") == "dual";
        },
        std::chrono::seconds(30));
  }

  RedisServer redis_a_{aof_options()};
  RedisServer redis_b_{aof_options()};
  Node alpha_;
  Node beta_;
};

TEST_F(KvFailoverTest, UnplannedFailoverThenRejoinLosesNoWrite) {
  {
    auto c = connect(alpha_.endpoint_port);
    for (int i = 0; i < 200; ++i) ASSERT_EQ(c->command({"SET", "before" + std::to_string(i), "a"}).str, "OK");
  }
  ASSERT_TRUE(alpha_.plugin->sync().ok());  // alpha reports its (empty) journal to beta
  // alpha's tandemd dies.
  alpha_.plugin->stop();
  alpha_.host->set_role(sdk::Role::secondary);

  auto prep = beta_.plugin->prepare(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(prep.ok()) << prep.message();
  EXPECT_TRUE(prep->ready) << prep->refusal;
  EXPECT_EQ(prep->loss["journaled_writes_not_here"], 0) << prep->loss_summary;
  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  EXPECT_TRUE(promoted->changed);
  beta_.host->set_role(sdk::Role::primary);
  beta_.plugin->on_role_change(sdk::Role::primary, 2);
  auto again = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed) << "promote must be idempotent";
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", beta_.endpoint_port, std::chrono::seconds(10)));
  ASSERT_TRUE(sdk::testing::eventually([&] { return beta_.plugin->health().details.value("local_up", false); },
                                       std::chrono::seconds(10)));
  EXPECT_EQ(beta_.plugin->health().status, sdk::HealthStatus::degraded) << beta_.plugin->health().summary;

  // Writes keep flowing into beta through the whole rejoin.
  std::vector<std::unique_ptr<Writer>> writers;
  for (int i = 0; i < 3; ++i) writers.push_back(std::make_unique<Writer>(beta_.endpoint_port, i));
  for (auto& w : writers) w->start();
  ASSERT_TRUE(sdk::testing::eventually([&] { return writers[0]->acked_count() > 300; }, std::chrono::seconds(30)));

  // alpha comes back as a secondary and rejoins.
  ASSERT_TRUE(alpha_.plugin->start().ok());
  auto delay = [&] {
    return RedisClient("127.0.0.1", redis_b_.port()).command({"CONFIG", "GET", "repl-diskless-sync-delay"}).elements;
  };
  ASSERT_EQ(delay().size(), 2u);
  auto delay_before = delay()[1].str;
  auto t0 = std::chrono::steady_clock::now();
  auto rejoined = alpha_.plugin->rejoin(request(sdk::FailoverKind::rejoin));
  ASSERT_TRUE(rejoined.ok()) << rejoined.message();
  std::cout << "KV rejoin (copy of the new primary's data under load) took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms" << std::endl;
  EXPECT_TRUE(rejoined->changed);
  // Shortened for the copy only: the new primary's Redis has its own value back.
  EXPECT_EQ(delay()[1].str, delay_before);
  ASSERT_TRUE(beta_dual()) << beta_.plugin->health().summary;
  auto acked_at_cutover = writers[0]->acked_count();
  ASSERT_TRUE(sdk::testing::eventually([&] { return writers[0]->acked_count() > acked_at_cutover + 300; },
                                       std::chrono::seconds(30)));
  for (auto& w : writers) w->stop();
  ASSERT_TRUE(journal_drained(beta_));

  for (auto& w : writers) {
    EXPECT_TRUE(w->errors().empty()) << w->errors().front();
    expect_acked_present(*w, redis_b_.port(), "new primary");
    expect_acked_present(*w, redis_a_.port(), "rejoined former primary");
  }
  EXPECT_EQ(snapshot(redis_a_.port()), snapshot(redis_b_.port()));
  RedisClient a("127.0.0.1", redis_a_.port());
  EXPECT_NE(a.command({"INFO", "replication"}).str.find("role:master"), std::string::npos)
      << "the rejoined Redis must be detached";
  auto repeat = alpha_.plugin->rejoin(request(sdk::FailoverKind::rejoin));
  ASSERT_TRUE(repeat.ok()) << repeat.message();
  EXPECT_FALSE(repeat->changed);
  EXPECT_EQ(beta_.plugin->health().status, sdk::HealthStatus::ok) << beta_.plugin->health().summary;
}

TEST_F(KvFailoverTest, SwitchoverKeepsDualWritesWithoutResync) {
  auto c = connect(alpha_.endpoint_port);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(c->command({"RPUSH", "log", std::to_string(i)}).integer, i + 1);
  auto demoted = alpha_.plugin->demote(request(sdk::FailoverKind::switchover));
  ASSERT_TRUE(demoted.ok()) << demoted.message();
  EXPECT_TRUE(demoted->details.value("journal_drained", false));
  EXPECT_FALSE(sdk::testing::wait_for_port("127.0.0.1", alpha_.endpoint_port, std::chrono::milliseconds(200)));
  // The node is still primary until every store is demoted: a sync in
  // between must not reopen the endpoint (two nodes taking writes).
  ASSERT_TRUE(alpha_.plugin->sync().ok());
  EXPECT_FALSE(sdk::testing::wait_for_port("127.0.0.1", alpha_.endpoint_port, std::chrono::milliseconds(300)))
      << "the demoted store's sync reopened its endpoint";
  alpha_.host->set_role(sdk::Role::secondary);

  auto prep = beta_.plugin->prepare(request(sdk::FailoverKind::switchover));
  ASSERT_TRUE(prep.ok());
  EXPECT_EQ(prep->loss["journaled_writes_not_here"], 0);
  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::switchover, demoted->details));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  EXPECT_EQ(promoted->details["peer_mode"], "dual");
  beta_.host->set_role(sdk::Role::primary);
  ASSERT_TRUE(endpoint_ready(beta_)) << beta_.plugin->health().summary;
  auto b = connect(beta_.endpoint_port);
  for (int i = 100; i < 200; ++i) ASSERT_EQ(b->command({"RPUSH", "log", std::to_string(i)}).integer, i + 1);
  auto rejoined = alpha_.plugin->rejoin(request(sdk::FailoverKind::rejoin));
  ASSERT_TRUE(rejoined.ok()) << rejoined.message();
  RedisClient a("127.0.0.1", redis_a_.port());
  EXPECT_EQ(a.command({"LLEN", "log"}).integer, 200);
  EXPECT_EQ(snapshot(redis_a_.port()), snapshot(redis_b_.port()));
}

// A rejoin rerun after one that timed out can make the former primary's
// Redis a replica of ours again while we already dual-write to it: every
// write would fail with READONLY. The primary's sync detaches it again.
TEST_F(KvFailoverTest, PrimaryDetachesAPeerRedisThatReplicatesFromItInDualMode) {
  ASSERT_EQ(alpha_.plugin->health().details.value("peer_mode", ""), "dual");
  RedisClient b("127.0.0.1", redis_b_.port());
  ASSERT_FALSE(b.command({"REPLICAOF", "127.0.0.1", std::to_string(redis_a_.port())}).is_error());
  ASSERT_TRUE(sdk::testing::eventually(
      [&] {
        return b.command({"INFO", "replication"}).str.find("master_link_status:up") != std::string::npos;
      },
      std::chrono::seconds(20)));
  ASSERT_TRUE(sdk::testing::eventually(
      [&] {
        EXPECT_TRUE(alpha_.plugin->sync().ok());
        return b.command({"INFO", "replication"}).str.find("role:master") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << "alpha left beta's Redis a replica in dual mode";
  auto c = connect(alpha_.endpoint_port);
  EXPECT_EQ(c->command({"SET", "after-detach", "1"}).str, "OK");
  EXPECT_EQ(b.command({"GET", "after-detach"}).str, "1");
}

// beta's tandemd restarts (a crash, an upgrade) and is asked to promote
// before alpha, now dead, could report again: the loss statement still rests
// on alpha's last report instead of "unknown".
TEST_F(KvFailoverTest, TheOldPrimarysJournalReportSurvivesARestartOfThisNode) {
  ASSERT_TRUE(alpha_.plugin->sync().ok());  // alpha reports its (empty) journal to beta
  ASSERT_TRUE(beta_.plugin->sync().ok());   // beta keeps it in its store state
  alpha_.host->connect_peer(nullptr);
  alpha_.plugin->stop();
  beta_.host->connect_peer(nullptr);
  beta_.plugin->stop();
  beta_.plugin = std::make_unique<KvStorePlugin>();
  beta_.configure_and_start();
  auto prep = beta_.plugin->prepare(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(prep.ok()) << prep.message();
  EXPECT_EQ(prep->loss["journaled_writes_not_here"], 0);
  EXPECT_GE(prep->loss["peer_report_age_seconds"].get<double>(), 0.0) << prep->loss.dump();
  EXPECT_NE(prep->loss_summary.rfind("nothing (the old primary reported an empty journal", 0), std::string::npos)
      << prep->loss_summary;
}

// A partition between the two nodes (each Redis also listens on 127.0.0.2,
// which the other node uses to reach it: dropping that address cuts exactly
// the cross-node connections), `promote --force` on the cut-off secondary,
// writes on both sides, heal. The old primary's host learns of the new epoch
// only at its next peer poll; its KV journal must not be replayed into the
// new primary's Redis meanwhile (docs/operations.md, Fencing: discarded).
class KvForcedFailoverTest : public ::testing::Test {
 protected:
  static RedisServerOptions cross_node_options() {
    auto o = aof_options();
    o.bind = "127.0.0.2";
    return o;
  }
  void SetUp() override {
    alpha_ = make_node(sdk::Role::primary, redis_a_.port(), redis_b_.port(), {{"peer_host", "127.0.0.2"}});
    beta_ = make_node(sdk::Role::secondary, redis_b_.port(), redis_a_.port(), {{"peer_host", "127.0.0.2"}});
    alpha_.configure_and_start();
    beta_.configure_and_start();
    ASSERT_TRUE(endpoint_ready(alpha_)) << alpha_.plugin->health().summary;
  }
  void TearDown() override {
    alpha_.plugin->stop();
    beta_.plugin->stop();
  }
  void partition() {
    for (auto* r : {&redis_a_, &redis_b_}) {
      RedisClient c("127.0.0.1", r->port());
      ASSERT_FALSE(c.command({"CONFIG", "SET", "bind", "127.0.0.1"}).is_error());
      c.command({"CLIENT", "KILL", "LADDR", "127.0.0.2:" + std::to_string(r->port())});
    }
  }
  void heal() {
    for (auto* r : {&redis_a_, &redis_b_}) {
      RedisClient c("127.0.0.1", r->port());
      ASSERT_FALSE(c.command({"CONFIG", "SET", "bind", "127.0.0.1 127.0.0.2"}).is_error());
    }
  }
  // Writes `value` to key prefix+i for i in [from, to) through `port`; returns how many were acknowledged.
  static int write_range(int port, const std::string& prefix, int from, int to, const std::string& value) {
    auto c = connect(port);
    int acked = 0;
    for (int i = from; i < to; ++i)
      if (c->command({"SET", prefix + std::to_string(i), value}).str == "OK") ++acked;
    return acked;
  }
  static std::vector<std::string> keys_like(int port, const std::string& pattern) {
    RedisClient c("127.0.0.1", port);
    std::vector<std::string> out;
    for (auto& e : c.command({"KEYS", pattern}).elements) out.push_back(e.str);
    return out;
  }

  RedisServer redis_a_{cross_node_options()};
  RedisServer redis_b_{cross_node_options()};
  Node alpha_;
  Node beta_;
};

// A stale journal report is not a bound on the loss (fault schedule seed
// 1007 was told "at least 154" and lost 24): here alpha reports 40 journaled
// writes, then only the peer channel is cut and its Redis link comes back, so
// alpha replays all 40 into beta's Redis without being able to say so. beta's
// prepare must call the loss unknown, with 40 as the last report's count, and
// not "at least 40" when nothing is lost.
TEST_F(KvForcedFailoverTest, AStaleJournalReportIsStatedAsUnknownNotAsALowerBound) {
  alpha_.host->connect_peer(beta_.plugin.get());
  beta_.host->connect_peer(alpha_.plugin.get());
  partition();
  ASSERT_TRUE(sdk::testing::eventually([&] { return !alpha_.plugin->health().details.value("peer_up", true); },
                                       std::chrono::seconds(10)))
      << alpha_.plugin->health().summary;
  ASSERT_EQ(write_range(alpha_.endpoint_port, "journaled:", 0, 40, "v"), 40);
  // alpha's sync reports its journal depth as last sampled by the endpoint (every 200 ms).
  sdk::Result<sdk::PrepareReport> fresh = sdk::PrepareReport{};
  ASSERT_TRUE(sdk::testing::eventually(
      [&] {
        EXPECT_TRUE(alpha_.plugin->sync().ok());
        fresh = beta_.plugin->prepare(request(sdk::FailoverKind::failover));
        return fresh.ok() && fresh->loss.value("journaled_writes_not_here", 0) == 40;
      },
      std::chrono::seconds(10)))
      << (fresh.ok() ? fresh->loss.dump() : fresh.message());
  EXPECT_EQ(fresh->loss_summary.rfind("40 writes the old primary had journaled", 0), 0u) << fresh->loss_summary;

  alpha_.host->connect_peer(nullptr);
  beta_.host->connect_peer(nullptr);
  heal();
  ASSERT_TRUE(sdk::testing::eventually(
      [&] {
        EXPECT_TRUE(alpha_.plugin->sync().ok());
        return alpha_.plugin->health().details.value("journal_depth", -1) == 0;
      },
      std::chrono::seconds(20)))
      << alpha_.plugin->health().summary;
  EXPECT_EQ(keys_like(redis_b_.port(), "journaled:*").size(), 40u) << "alpha's replay did not reach beta's Redis";

  // The report goes stale after 3 syncs, at least 5 s.
  sdk::Result<sdk::PrepareReport> stale = fresh;
  ASSERT_TRUE(sdk::testing::eventually(
      [&] {
        stale = beta_.plugin->prepare(request(sdk::FailoverKind::failover));
        return stale.ok() && stale->loss.value("peer_report_stale", false);
      },
      std::chrono::seconds(20)));
  EXPECT_EQ(stale->loss_summary.rfind("unknown: the old primary last reported 40 journaled writes", 0), 0u)
      << stale->loss_summary;
  EXPECT_EQ(stale->loss_summary.find("at least"), std::string::npos) << stale->loss_summary;
}

TEST_F(KvForcedFailoverTest, TheCutOffPrimarysJournalIsDiscardedNotMergedIntoTheNewPrimary) {
  ASSERT_EQ(write_range(alpha_.endpoint_port, "shared:", 0, 100, "v0"), 100);
  ASSERT_TRUE(alpha_.plugin->sync().ok());
  partition();
  ASSERT_TRUE(sdk::testing::eventually([&] { return !alpha_.plugin->health().details.value("peer_up", true); },
                                       std::chrono::seconds(10)))
      << alpha_.plugin->health().summary;
  // alpha, cut off, journals: acknowledged (the documented window of a forced promotion).
  EXPECT_EQ(write_range(alpha_.endpoint_port, "shared:", 0, 50, "old"), 50);
  EXPECT_EQ(write_range(alpha_.endpoint_port, "oldonly:", 0, 50, "old"), 50);

  // The operator promotes beta by force; the orchestrator raises the epoch first.
  beta_.host->set_epoch(2);
  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  beta_.host->set_role(sdk::Role::primary);
  beta_.plugin->on_role_change(sdk::Role::primary, 2);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", beta_.endpoint_port, std::chrono::seconds(10)));
  ASSERT_EQ(write_range(beta_.endpoint_port, "shared:", 0, 100, "new"), 100);
  ASSERT_EQ(write_range(beta_.endpoint_port, "newonly:", 0, 50, "new"), 50);
  // alpha's clients still reach it, and it does not know yet.
  EXPECT_EQ(write_range(alpha_.endpoint_port, "shared:", 50, 100, "old2"), 50);
  EXPECT_EQ(write_range(alpha_.endpoint_port, "oldonly:", 50, 100, "old2"), 50);
  EXPECT_TRUE(sdk::testing::eventually([&] { return alpha_.plugin->health().details.value("journal_depth", 0) >= 200; },
                                       std::chrono::seconds(5)))
      << alpha_.plugin->health().summary;

  heal();
  // Neither host knows of the other's epoch yet (their peer polls lag); both
  // stores keep syncing. alpha's links reconnect within reconnect_interval.
  // (Without the fence, alpha replays its journal into beta's Redis here and
  // this wait runs out.)
  sdk::testing::eventually(
      [&] {
        EXPECT_TRUE(alpha_.plugin->sync().ok());
        EXPECT_TRUE(beta_.plugin->sync().ok());
        return alpha_.plugin->health().details.contains("superseded_by_epoch");
      },
      std::chrono::seconds(20));

  auto h = alpha_.plugin->health();
  EXPECT_EQ(h.details.value("superseded_by_epoch", 0), 2) << h.summary;
  EXPECT_GE(h.details.value("superseded_writes_discarded", 0), 200) << h.details.dump();
  auto kept = h.details.value("discarded_journal", "");
  EXPECT_TRUE(!kept.empty() && std::filesystem::exists(kept)) << "the discarded journal must be kept: " << kept;
  EXPECT_EQ(h.status, sdk::HealthStatus::degraded) << h.summary;

  // The new primary's values won; nothing of the old timeline reached it.
  RedisClient b("127.0.0.1", redis_b_.port());
  int overwritten = 0;
  for (int i = 0; i < 100; ++i)
    if (b.command({"GET", "shared:" + std::to_string(i)}).str != "new") ++overwritten;
  EXPECT_EQ(overwritten, 0) << "keys the new primary wrote were overwritten by the old primary's journal";
  EXPECT_TRUE(keys_like(redis_b_.port(), "oldonly:*").empty())
      << keys_like(redis_b_.port(), "oldonly:*").size() << " of the old primary's writes were merged";
  // alpha takes no more writes (its endpoint stopped).
  EXPECT_FALSE(sdk::testing::wait_for_port("127.0.0.1", alpha_.endpoint_port, std::chrono::milliseconds(300)));

  // The host fences alpha at its next poll; the operator rejoins it.
  alpha_.host->set_fenced(true);
  alpha_.host->set_epoch(2);
  auto rejoined = alpha_.plugin->rejoin(request(sdk::FailoverKind::rejoin));
  ASSERT_TRUE(rejoined.ok()) << rejoined.message();
  alpha_.host->set_role(sdk::Role::secondary);
  alpha_.host->set_fenced(false);
  ASSERT_TRUE(sdk::testing::eventually(
      [&] {
        EXPECT_TRUE(beta_.plugin->sync().ok());
        return beta_.plugin->health().details.value("peer_mode", "") == "dual";
      },
      std::chrono::seconds(30)))
      << beta_.plugin->health().summary;
  EXPECT_EQ(snapshot(redis_a_.port()), snapshot(redis_b_.port()));
  EXPECT_TRUE(keys_like(redis_a_.port(), "oldonly:*").empty());
  EXPECT_EQ(beta_.plugin->health().status, sdk::HealthStatus::ok) << beta_.plugin->health().summary;
}

// The peer's Redis goes silent (SIGSTOP: no reply, no reset, as in a
// partition) while a write waits for it, and the node fences itself before
// command_timeout ends (automatic failover's self-fence). When the link then
// gives the peer up, the write must not be applied here and acknowledged:
// that would be a write after the fence. And the fence, as the host tells it
// (on_role_change, role still primary), stops the endpoint at once.
TEST_F(KvFailoverTest, AWriteWaitingForASilentPeerIsNotAcknowledgedAfterTheFence) {
  const pid_t peer = redis_b_.pid();
  ASSERT_GT(peer, 0);
  const auto writes_before = alpha_.plugin->health().details.value("writes", 0);
  ASSERT_EQ(::kill(peer, SIGSTOP), 0);
  RedisValue reply;
  std::thread client([&] {
    try {
      RedisClient c("127.0.0.1", alpha_.endpoint_port, std::chrono::seconds(30));
      reply = c.command({"SET", "during-fence", "1"});
    } catch (const std::exception& e) {
      reply.type = RedisValue::Type::error;
      reply.str = std::string("connection: ") + e.what();
    }
  });
  // Routed to the silent peer (command_timeout 2 s), then the fence.
  const bool routed = sdk::testing::eventually(
      [&] { return alpha_.plugin->health().details.value("writes", 0) > writes_before; }, std::chrono::seconds(10));
  alpha_.host->set_fenced(true);
  client.join();
  ::kill(peer, SIGCONT);
  ASSERT_TRUE(routed) << "the write never reached the endpoint";
  EXPECT_TRUE(reply.is_error()) << "acknowledged after the fence: " << reply.describe();
  EXPECT_NE(reply.str.find("TANDEMFENCED"), std::string::npos) << reply.describe();
  RedisClient local("127.0.0.1", redis_a_.port());
  EXPECT_EQ(local.command({"EXISTS", "during-fence"}).integer, 0) << "applied on the fenced node's Redis";

  alpha_.plugin->on_role_change(sdk::Role::primary, 1);
  EXPECT_FALSE(sdk::testing::wait_for_port("127.0.0.1", alpha_.endpoint_port, std::chrono::milliseconds(300)))
      << "the fenced node's endpoint still listens";
}

// alpha's tandemd dies, beta is promoted by force while alpha's Redis is
// still reachable, and alpha's tandemd restarts believing it is primary (its
// host has not polled the peer yet): it must not open its endpoint, and its
// crash reconciliation must not copy its keys over the new primary's.
TEST_F(KvFailoverTest, AFormerPrimaryRestartedAfterAForcedPromotionDoesNotServe) {
  auto c = connect(alpha_.endpoint_port);
  ASSERT_EQ(c->command({"SET", "k", "old"}).str, "OK");
  c.reset();
  alpha_.plugin->stop();
  beta_.host->set_epoch(2);
  auto promoted = beta_.plugin->promote(request(sdk::FailoverKind::failover));
  ASSERT_TRUE(promoted.ok()) << promoted.message();
  beta_.host->set_role(sdk::Role::primary);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", beta_.endpoint_port, std::chrono::seconds(10)));
  ASSERT_TRUE(beta_.plugin->sync().ok());  // marks alpha's Redis too
  auto b = connect(beta_.endpoint_port);
  ASSERT_EQ(b->command({"SET", "k", "new"}).str, "OK");

  ASSERT_TRUE(alpha_.plugin->start().ok());
  ASSERT_TRUE(alpha_.plugin->sync().ok());
  EXPECT_FALSE(sdk::testing::wait_for_port("127.0.0.1", alpha_.endpoint_port, std::chrono::milliseconds(500)))
      << "a superseded former primary opened its endpoint";
  auto h = alpha_.plugin->health();
  EXPECT_NE(h.summary.find("epoch 2"), std::string::npos) << h.summary;
  EXPECT_EQ(RedisClient("127.0.0.1", redis_b_.port()).command({"GET", "k"}).str, "new");
}

}  // namespace
}  // namespace tandem::kv::testing
