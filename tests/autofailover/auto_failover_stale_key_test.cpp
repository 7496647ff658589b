// A stale leader key (issue 16, "both nodes fenced"): the primary's local
// epoch is ahead of etcd's, and etcd's leader key names its peer at a lower
// epoch. Reproduced the way it happens: alpha, hung past the ttl, finds itself
// fenced after beta took over at epoch 2; then etcd is put back to a snapshot
// from before the takeover (alpha's key at epoch 1 on a lease of its own,
// etcd's epoch 1; beta's lease gone). Nobody writes under that key: the node
// it names is fenced, at a lower epoch than beta's.
//
// Before, beta's next renewal found its lease gone and the key naming alpha,
// and fenced itself: both nodes fenced, nobody primary until an operator
// ran promote then rejoin. Now a key naming the peer at an epoch below this
// node's is treated as stale: beta keeps serving only while the peer confirms
// over the peer channel that it is not serving and will not take over (the
// failsafe promise), and claims the key at its own epoch once the stale one
// expires. Without that confirmation (the peer silent) it fences as before,
// and the recovery is promote then rejoin — the second test proves it.
#include <cstdio>
#include <functional>
#include <thread>

#include "auto_failover_pair.h"

namespace {

using namespace std::chrono_literals;
using namespace tandem::autofailover_test;
using tandem::core::dcs::EtcdClient;
using tandem::core::dcs::TxnOp;

class AutoFailoverStaleKey : public AutoFailoverPair {
 protected:
  // alpha hung past the ttl, beta took over at epoch 2, alpha resumed fenced.
  void fail_over_to_beta() {
    start_pair();
    std::this_thread::sleep_for(kTtl + 1s);  // past beta's start-up grace: it watches
    signal_daemon(0, SIGSTOP);
    ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return primary_check(1) == 200; }, kTtl + 15s))
        << status(1).dump() << logs();
    signal_daemon(0, SIGCONT);
    ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return status(0).value("fenced", false); }, 15s))
        << status(0).dump() << logs();
    ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return holds_key(1); }, 10s)) << status(1).dump();
    auto seen = etcd_view();
    ASSERT_TRUE(seen.leader);
    ASSERT_EQ(seen.leader->node, "beta");
    ASSERT_EQ(seen.leader->epoch, 2u);
    ASSERT_EQ(seen.etcd_epoch, 2u);
  }

  // etcd as a snapshot from alpha's term left it: alpha's key at epoch 1 on a
  // live lease (etcd restores leases with their full ttl), etcd's epoch 1,
  // beta's lease and key gone.
  void restore_snapshot_of_alphas_term() {
    EtcdClient client(etcd_client_options());
    auto key = client.get("/pair/leader");
    ASSERT_TRUE(key && *key) << "no leader key to replace";
    ASSERT_TRUE(client.revoke_lease((*key)->lease).ok());
    auto lease = client.grant_lease(kTtl);
    ASSERT_TRUE(lease) << lease.message();
    auto r = client.txn({}, {TxnOp{TxnOp::Kind::put, "/pair/leader", R"({"epoch":1,"node":"alpha"})", lease->id},
                             TxnOp{TxnOp::Kind::put, "/pair/epoch", "1", 0}});
    ASSERT_TRUE(r && r->succeeded) << (r ? "not applied" : r.message());
    restored_at_ = Clock::now();
  }

  // Past the stale key's lease and beta's own fence deadline: beta serves at
  // every check, alpha never. `each` (optional) runs at every check.
  void beta_alone_serves_past_the_stale_key(const std::function<void()>& each = {}) {
    while (Clock::now() < restored_at_ + kTtl + 3s) {
      ASSERT_EQ(primary_check(1), 200) << "beta stopped serving after the restore: " << status(1).dump() << logs();
      ASSERT_NE(primary_check(0), 200) << "alpha took over: " << status(0).dump() << logs();
      if (each) each();
      std::this_thread::sleep_for(200ms);
    }
  }

  // Then beta holds the key at its own epoch, 2, and etcd's epoch is back at 2.
  void expect_beta_holds_the_key_at_its_epoch() {
    ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return holds_key(1); }, 10s)) << status(1).dump() << logs();
    auto seen = etcd_view();
    ASSERT_TRUE(seen.leader);
    EXPECT_EQ(seen.leader->node, "beta");
    EXPECT_EQ(seen.leader->epoch, 2u) << "beta claims at its own epoch: no promotion happened";
    EXPECT_EQ(seen.etcd_epoch, 2u) << "etcd's epoch is raised back to beta's";
  }

  Clock::time_point restored_at_{};
};

TEST_F(AutoFailoverStaleKey, AKeyNamingTheFencedPeerAtALowerEpochDoesNotFenceThePrimary) {
  ASSERT_NO_FATAL_FAILURE(fail_over_to_beta());
  ASSERT_NO_FATAL_FAILURE(restore_snapshot_of_alphas_term());
  std::string stale_decision;
  ASSERT_NO_FATAL_FAILURE(beta_alone_serves_past_the_stale_key([&] {
    auto d = status(1)["failover"].value("decision", "");
    if (d.find("stale") != std::string::npos) stale_decision = d;
  }));
  ASSERT_NO_FATAL_FAILURE(expect_beta_holds_the_key_at_its_epoch());
  auto s = status(1);
  EXPECT_FALSE(s.value("fenced", true)) << s.dump();
  EXPECT_EQ(s.value("epoch", 0), 2) << s.dump();
  EXPECT_EQ(s["failover"].value("writes", ""), "serve") << s.dump();
  std::printf("[ figure ] beta's decision while the stale key lived: %s\n", stale_decision.c_str());
  EXPECT_NE(stale_decision.find("failsafe: etcd's leader key is stale"), std::string::npos)
      << "beta never served on the peer's confirmation: " << stale_decision;
  const std::string log = nodes_[1].daemon.log_tail(20000);
  EXPECT_NE(log.find("names alpha at epoch 1, below this node's epoch 2"), std::string::npos) << log;
  EXPECT_NE(log.find("claimed the leader key at epoch 2"), std::string::npos) << log;
  EXPECT_TRUE(status(0).value("fenced", false)) << status(0).dump();
}

TEST_F(AutoFailoverStaleKey, ThePeerSilentThePrimaryFencesAndPromoteThenRejoinRecovers) {
  ASSERT_NO_FATAL_FAILURE(fail_over_to_beta());
  signal_daemon(0, SIGSTOP);  // alpha cannot confirm anything
  ASSERT_NO_FATAL_FAILURE(restore_snapshot_of_alphas_term());
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return status(1).value("fenced", false); }, kTtl + 5s))
      << status(1).dump() << logs();
  auto s = status(1);
  const std::string reason = s.value("fenced_reason", "");
  std::printf("[ figure ] beta's fenced_reason: %s\n", reason.c_str());
  EXPECT_NE(reason.find("names alpha at epoch 1, below this node's epoch 2"), std::string::npos) << s.dump();
  EXPECT_NE(reason.find("tandemctl promote"), std::string::npos) << s.dump();
  signal_daemon(0, SIGCONT);
  EXPECT_TRUE(tandem::sdk::testing::eventually([&] { return status(0).value("fenced", false); }, 10s));
  // Both fenced; nobody takes over by itself.
  std::this_thread::sleep_for(2s);
  EXPECT_NE(primary_check(0), 200);
  EXPECT_NE(primary_check(1), 200);

  // The recovery the fence reason names: promote the node with the newest
  // data (beta, epoch 2), then rejoin the other.
  auto p = ctl(1, {"promote", "--force"});
  ASSERT_EQ(p.exit_code, 0) << p.stdout_text << p.stderr_text << logs();
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return primary_check(1) == 200; }, 20s))
      << status(1).dump() << logs();
  auto r = ctl(0, {"rejoin"});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text << logs();
  ASSERT_TRUE(tandem::sdk::testing::eventually(
      [&] {
        auto a = status(0);
        return a.value("role", "") == "secondary" && !a.value("fenced", true);
      },
      20s))
      << status(0).dump() << logs();
  auto seen = etcd_view();
  ASSERT_TRUE(seen.leader);
  EXPECT_EQ(seen.leader->node, "beta");
  EXPECT_EQ(seen.leader->epoch, 3u);
  EXPECT_EQ(seen.etcd_epoch, 3u);
  // Past a ttl: beta still leads, alpha stays secondary.
  const auto until = Clock::now() + kTtl + 1s;
  while (Clock::now() < until) {
    ASSERT_EQ(primary_check(1), 200) << status(1).dump() << logs();
    ASSERT_NE(primary_check(0), 200) << status(0).dump();
    std::this_thread::sleep_for(250ms);
  }
}

// The same stale key met by a tandemd that restarts while it lives: start()
// asks the peer before the stores serve, and goes on as failsafe. Before, it
// started fenced ("another node holds the leader key"): both nodes fenced.
TEST_F(AutoFailoverStaleKey, ARestartWhileTheStaleKeyLivesStartsServingNotFenced) {
  ASSERT_NO_FATAL_FAILURE(fail_over_to_beta());
  ASSERT_NO_FATAL_FAILURE(restore_snapshot_of_alphas_term());
  nodes_[1].daemon.stop();
  start(1);
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return primary_check(1) == 200; }, 10s))
      << "beta started fenced: " << status(1).dump() << logs();
  ASSERT_LT(Clock::now(), restored_at_ + kTtl) << "the stale key expired before beta's start: nothing tested";
  ASSERT_NO_FATAL_FAILURE(beta_alone_serves_past_the_stale_key());
  ASSERT_NO_FATAL_FAILURE(expect_beta_holds_the_key_at_its_epoch());
  const std::string log = nodes_[1].daemon.log_tail(20000);
  EXPECT_NE(log.find("at start, etcd's leader key is stale"), std::string::npos) << log;
}

// The more common restore: the key names a healthy secondary (alpha, after a
// switchover made beta primary at epoch 2). Before, beta fenced and alpha
// took over at epoch 3 once the stale key expired: a failover nobody needed
// (losing what an asynchronous store had not shipped). Now alpha confirms
// (it reads the key naming itself, which it does not hold), beta serves on
// and claims the key at epoch 2; alpha stays secondary.
TEST_F(AutoFailoverStaleKey, AKeyNamingTheHealthySecondaryCausesNoFailover) {
  start_pair();
  std::this_thread::sleep_for(kTtl + 1s);
  auto r = ctl(1, {"switchover"});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text << logs();
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return holds_key(1) && primary_check(1) == 200; }, 20s))
      << status(1).dump() << logs();
  ASSERT_EQ(etcd_view().etcd_epoch, 2u);
  ASSERT_NO_FATAL_FAILURE(restore_snapshot_of_alphas_term());
  ASSERT_NO_FATAL_FAILURE(beta_alone_serves_past_the_stale_key());
  ASSERT_NO_FATAL_FAILURE(expect_beta_holds_the_key_at_its_epoch());
  auto a = status(0);
  EXPECT_EQ(a.value("role", ""), "secondary") << a.dump();
  EXPECT_FALSE(a.value("fenced", true)) << a.dump();
  EXPECT_EQ(a.value("epoch", 0), 2) << a.dump();
  EXPECT_FALSE(status(1).value("fenced", true)) << status(1).dump();
}

}  // namespace
