// Automatic failover end to end: two real tandemd processes (each with the
// daemon-test store) in mode "automatic" on a real three-member etcd, on
// loopback. The acceptance points of issue 16 that need no PostgreSQL or
// Redis: kill -9 of the primary (the secondary primary within ttl + 3 s),
// etcd fully down with both nodes healthy (failsafe: nothing promoted, the
// primary keeps serving, also while the peer is SIGSTOPped 3 s at a time),
// every etcd failure kind (unreachable, no leader, timeout) through failsafe,
// and a hung primary (SIGSTOP longer than the TTL: self-fenced, the
// secondary takes over, the old one finds itself fenced); and the
// switchover through etcd and the epochs' reconcile at start.
#include <functional>
#include <set>
#include <thread>

#include "auto_failover_pair.h"

namespace {

using namespace std::chrono_literals;
using namespace tandem::autofailover_test;

// A node's status says it takes writes normally (not failsafe) and sees etcd healthy.
bool serves_with_etcd_healthy(const nlohmann::json& status) {
  const auto& f = status.contains("failover") ? status["failover"] : nlohmann::json();
  return f.is_object() && f.value("writes", "") == "serve" && f.contains("dcs") && f["dcs"].value("healthy", false);
}

TEST_F(AutoFailoverPair, KillNineOfThePrimaryTheSecondaryIsPrimaryWithinTtlPlus3s) {
  start_pair();
  ASSERT_EQ(primary_check(0), 200);
  ASSERT_NE(primary_check(1), 200);
  // Past the secondary's start-up grace (one ttl) so it watches.
  std::this_thread::sleep_for(kTtl + 1s);
  ASSERT_FALSE(is_primary(1));

  auto killed = Clock::now();
  nodes_[0].daemon.kill();
  bool took_over = tandem::sdk::testing::eventually([&] { return primary_check(1) == 200; }, kTtl + 10s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  ASSERT_TRUE(took_over) << "beta did not take over: " << status(1).dump() << logs();
  std::printf("[ figure ] kill -9 of the primary -> secondary answers /primary 200 after %lld ms (ttl %lld s)\n",
              static_cast<long long>(took.count()), static_cast<long long>(kTtl.count()));
  EXPECT_LT(took, kTtl + 3s) << "slower than ttl + 3 s";
  auto s = status(1);
  EXPECT_EQ(s.value("epoch", 0), 2) << s.dump();
  EXPECT_TRUE(s["failover"].value("holds_leader_key", false)) << s.dump();
  EXPECT_EQ(s["failover"].value("leader", ""), "beta") << s.dump();
  // tandemctl status says the same in words.
  auto printed = ctl(1, {"status"});
  EXPECT_NE(printed.stdout_text.find("failover automatic  leader beta (this node), lease"), std::string::npos)
      << printed.stdout_text << printed.stderr_text;

  // The old primary comes back: it must not serve (etcd's epoch is above its own).
  start(0);
  EXPECT_TRUE(tandem::sdk::testing::eventually([&] { return status(0).value("fenced", false); }, 10s))
      << status(0).dump() << logs();
  EXPECT_NE(primary_check(0), 200);
}

// The default ttl (10 s): a failsafe confirmation covers ttl - margin = 8 s
// from its ask, so a peer stalled 3 s still answers in time. (With ttl 5 s the
// window is 3 s and a 3 s stall is too long: the primary fences, as it must.)
TEST_F(AutoFailoverPair, EtcdDownSixtySecondsFailsafeKeepsThePrimaryAndPromotesNothing) {
  start_pair(10s);
  std::this_thread::sleep_for(2s);
  etcd_->stop_all();
  auto down = Clock::now();
  int checks = 0;
  bool paused_peer = false;
  auto next_pause = down + 5s;
  while (Clock::now() - down < 60s) {
    // The peer answers slowly now and then: its tandemd stopped 3 s at a time.
    if (!paused_peer && Clock::now() >= next_pause) {
      signal_daemon(1, SIGSTOP);
      paused_peer = true;
      next_pause = Clock::now() + 3s;
    } else if (paused_peer && Clock::now() >= next_pause) {
      signal_daemon(1, SIGCONT);
      paused_peer = false;
      next_pause = Clock::now() + 7s;
    }
    ASSERT_EQ(primary_check(0), 200)
        << "alpha stopped serving after "
        << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - down).count()
        << " ms of etcd outage: " << status(0).dump() << logs();
    if (!paused_peer) {
      ASSERT_FALSE(is_primary(1)) << "beta was promoted while etcd was down";
    }
    ++checks;
    std::this_thread::sleep_for(250ms);
  }
  if (paused_peer) signal_daemon(1, SIGCONT);
  auto s = status(0);
  EXPECT_EQ(s["failover"].value("writes", ""), "serve_failsafe") << s.dump();
  EXPECT_EQ(s["failover"]["dcs"].value("healthy", true), false) << s.dump();
  std::printf("[ figure ] etcd down 60 s: %d checks, alpha served throughout (failsafe), beta never promoted\n",
              checks);

  etcd_->start_all();
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return holds_key(0); }, 20s)) << status(0).dump() << logs();
  std::this_thread::sleep_for(10s);
  EXPECT_EQ(primary_check(0), 200);
  EXPECT_FALSE(is_primary(1));
  EXPECT_EQ(status(0).value("epoch", 0), 1) << "an epoch moved: a failover happened";
  auto m = metrics(0);
  EXPECT_NE(m.find("tandem_leader 1"), std::string::npos) << m;
  EXPECT_NE(m.find("tandem_lease_remaining_seconds"), std::string::npos);
  EXPECT_NE(m.find("tandem_dcs_last_seen_seconds"), std::string::npos);
}

// Every kind of etcd failure takes the failsafe path (patroni#3572: failsafe
// still demoted on "etcdserver: no leader"): all members down (unreachable),
// two of three down (the survivor answers "no leader"), all members SIGSTOPped
// (they take connections and answer nothing: timeout). Each outage lasts past
// the ttl, with the peer stalled 3 s in the middle of it; the primary keeps
// serving, nothing is promoted, and after each the primary holds the key again.
TEST_F(AutoFailoverPair, EveryEtcdErrorKindTakesTheFailsafePathWhileThePeerStalls) {
  start_pair(10s);
  struct Outage {
    std::string kind;
    std::function<void()> begin, end;
  };
  std::vector<Outage> outages{
      {"unreachable", [&] { etcd_->stop_all(); }, [&] { etcd_->start_all(); }},
      {"no_leader",
       [&] {
         etcd_->stop(0);
         etcd_->stop(2);
       },
       [&] {
         etcd_->start(0);
         etcd_->start(2);
         ASSERT_TRUE(etcd_->wait_healthy(1, 30s)) << etcd_->log_tails();
       }},
      {"timeout", [&] { etcd_->pause_all(); }, [&] { etcd_->resume_all(); }},
  };
  for (auto& o : outages) {
    SCOPED_TRACE("etcd failure kind " + o.kind);
    o.begin();
    const auto down = Clock::now();
    std::set<std::string> kinds_seen, writes_seen;
    bool stalled = false, stalled_once = false;
    while (Clock::now() - down < ttl_ + 5s) {
      const auto in = Clock::now() - down;
      if (!stalled_once && in >= 6s) {
        signal_daemon(1, SIGSTOP);
        stalled = stalled_once = true;
      } else if (stalled && in >= 9s) {
        signal_daemon(1, SIGCONT);
        stalled = false;
      }
      ASSERT_EQ(primary_check(0), 200) << "alpha stopped serving after "
                                       << std::chrono::duration_cast<std::chrono::milliseconds>(in).count()
                                       << " ms of etcd failing with " << o.kind << ": " << status(0).dump() << logs();
      if (!stalled) {
        ASSERT_FALSE(is_primary(1)) << "beta was promoted while etcd failed with " << o.kind;
      }
      auto s = status(0)["failover"];
      if (s.is_object()) {
        kinds_seen.insert(s["dcs"].value("last_error_kind", ""));
        writes_seen.insert(s.value("writes", ""));
      }
      std::this_thread::sleep_for(250ms);
    }
    if (stalled) signal_daemon(1, SIGCONT);
    EXPECT_TRUE(kinds_seen.count(o.kind)) << "alpha never reported " << o.kind << ": " << status(0).dump();
    EXPECT_TRUE(writes_seen.count("serve_failsafe")) << status(0).dump();
    EXPECT_FALSE(writes_seen.count("fence")) << status(0).dump();
    o.end();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return serves_with_etcd_healthy(status(0)); }, 20s))
        << status(0).dump() << logs();
    // (Members paused past the ttl revoke the lease as they resume: alpha
    // then claims the still-free key again at its epoch, see the log.)
    const std::string log = nodes_[0].daemon.log_tail(200000);
    std::size_t reclaims = 0;
    for (auto at = log.find("claimed it again"); at != std::string::npos; at = log.find("claimed it again", at + 1))
      ++reclaims;
    std::printf(
        "[ figure ] etcd failing with %s for %lld s (peer stalled 3 s): alpha served throughout; "
        "re-claims of an expired lease's key so far: %zu\n",
        o.kind.c_str(), static_cast<long long>((ttl_ + 5s).count()), reclaims);
  }
  EXPECT_EQ(primary_check(0), 200);
  EXPECT_FALSE(is_primary(1));
  EXPECT_EQ(status(0).value("epoch", 0), 1) << "an epoch moved: a failover happened";
  EXPECT_EQ(status(1).value("epoch", 0), 1);
}

// A planned switchover in automatic mode goes through etcd: once alpha has
// demoted, the leader key moves to beta together with etcd's epoch in one
// transaction (the step "leader-key"), before beta's own epoch moves; beta
// then renews it, and alpha's old lease running out leaves it in place.
TEST_F(AutoFailoverPair, SwitchoverMovesTheLeaderKeyWithTheEpochThroughEtcd) {
  start_pair();
  std::this_thread::sleep_for(kTtl + 1s);  // past beta's start-up grace: it watches
  auto r = ctl(1, {"--json", "switchover"});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text << logs();
  auto report = nlohmann::json::parse(r.stdout_text, nullptr, false);
  ASSERT_TRUE(report.is_object()) << r.stdout_text;
  std::vector<std::string> steps;
  for (const auto& st : report["steps"]) steps.push_back(st.value("name", "") + "=" + st.value("status", ""));
  ASSERT_GE(steps.size(), 3u) << report.dump();
  EXPECT_EQ(steps[0], "peer-demote=done") << report.dump();
  EXPECT_EQ(steps[1], "leader-key=done") << report.dump();
  EXPECT_EQ(steps[2], "epoch=done") << report.dump();

  auto check_key = [&] {
    auto seen = etcd_view();
    ASSERT_TRUE(seen.leader) << "no leader key on etcd";
    EXPECT_EQ(seen.leader->node, "beta");
    EXPECT_EQ(seen.leader->epoch, 2u);
    EXPECT_EQ(seen.etcd_epoch, 2u);
  };
  check_key();
  EXPECT_TRUE(is_primary(1)) << status(1).dump();
  EXPECT_TRUE(holds_key(1)) << status(1).dump();
  EXPECT_FALSE(is_primary(0)) << status(0).dump();

  // Past alpha's old lease: beta still leads, renewing; nobody fenced, no failover.
  const auto until = Clock::now() + kTtl + 2s;
  while (Clock::now() < until) {
    ASSERT_EQ(primary_check(1), 200) << status(1).dump() << logs();
    ASSERT_NE(primary_check(0), 200) << status(0).dump();
    std::this_thread::sleep_for(250ms);
  }
  check_key();
  auto s = status(1);
  EXPECT_EQ(s.value("epoch", 0), 2) << s.dump();
  EXPECT_EQ(s["failover"].value("writes", ""), "serve") << s.dump();
  EXPECT_EQ(status(0).value("role", ""), "secondary") << status(0).dump();
  EXPECT_FALSE(status(0).value("fenced", true)) << status(0).dump();
}

// A switchover needs etcd to move the key: with etcd down it is refused in
// the precheck, before the old primary demotes (else both nodes would be
// left secondary, the step "leader-key" failing after "peer-demote").
TEST_F(AutoFailoverPair, SwitchoverWithEtcdDownIsRefusedBeforeThePrimaryDemotes) {
  start_pair(10s);
  std::this_thread::sleep_for(2s);
  etcd_->stop_all();
  auto r = ctl(1, {"switchover"});
  EXPECT_NE(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  const std::string said = r.stdout_text + r.stderr_text;
  EXPECT_NE(said.find("the leader key cannot move to this node at epoch 2: etcd cannot be read"), std::string::npos)
      << said;
  EXPECT_NE(said.find("(checked before the peer demotes)"), std::string::npos) << said;
  // Nothing changed: alpha still serves (failsafe), beta still secondary.
  EXPECT_EQ(primary_check(0), 200) << status(0).dump() << logs();
  EXPECT_EQ(status(0).value("role", ""), "primary");
  EXPECT_EQ(status(1).value("role", ""), "secondary");
  EXPECT_EQ(status(1).value("epoch", 0), 1);
  etcd_->start_all();
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return serves_with_etcd_healthy(status(0)); }, 20s))
      << status(0).dump() << logs();
}

// Epochs at start (docs/operations.md, "Epochs at start"): etcd's epoch only
// goes up, and the higher of etcd's and a node's wins. etcd behind the nodes
// (its data lost, the cluster rebuilt): the primary claims the key and raises
// etcd's epoch to its own. etcd ahead of the primary (a promote it does not
// have): the primary starts fenced, and the secondary takes over above
// etcd's epoch, not at its own + 1.
TEST_F(AutoFailoverPair, EpochsAtStartTheHigherWinsEtcdBehindIsRaisedEtcdAheadFencesThePrimary) {
  using tandem::core::dcs::TxnOp;
  start_pair();
  auto rewrite_etcd = [&](std::vector<TxnOp> ops) {
    for (auto& n : nodes_) n.daemon.stop();
    tandem::core::dcs::EtcdClient client(etcd_client_options());
    auto r = client.txn({}, ops);
    ASSERT_TRUE(r && r->succeeded) << (r ? "not applied" : r.message());
  };

  // etcd wiped: no key, no epoch; alpha and beta at epoch 1.
  rewrite_etcd({TxnOp{TxnOp::Kind::del, "/pair/leader", "", 0}, TxnOp{TxnOp::Kind::del, "/pair/epoch", "", 0}});
  ASSERT_EQ(etcd_view().etcd_epoch, 0u);
  start(0);
  ASSERT_TRUE(holds_key(0)) << status(0).dump() << logs();
  auto seen = etcd_view();
  ASSERT_TRUE(seen.leader);
  EXPECT_EQ(seen.leader->node, "alpha");
  EXPECT_EQ(seen.leader->epoch, 1u);
  EXPECT_EQ(seen.etcd_epoch, 1u) << "etcd's epoch was not raised to the primary's";
  EXPECT_EQ(primary_check(0), 200);

  // etcd ahead of both: epoch 7, no key.
  rewrite_etcd({TxnOp{TxnOp::Kind::del, "/pair/leader", "", 0}, TxnOp{TxnOp::Kind::put, "/pair/epoch", "7", 0}});
  start(0);
  auto s = status(0);
  EXPECT_TRUE(s.value("fenced", false)) << s.dump();
  EXPECT_NE(s.value("fenced_reason", "").find("etcd's epoch is above this node's 1"), std::string::npos) << s.dump();
  EXPECT_NE(primary_check(0), 200);
  start(1);
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return primary_check(1) == 200; }, ttl_ + 20s))
      << status(1).dump() << logs();
  EXPECT_EQ(status(1).value("epoch", 0), 8) << status(1).dump();
  seen = etcd_view();
  ASSERT_TRUE(seen.leader);
  EXPECT_EQ(seen.leader->node, "beta");
  EXPECT_EQ(seen.leader->epoch, 8u);
  EXPECT_EQ(seen.etcd_epoch, 8u);
  EXPECT_NE(primary_check(0), 200) << status(0).dump();
}

TEST_F(AutoFailoverPair, AHungPrimarySelfFencesTheSecondaryTakesOverTheOldOneFindsItselfFenced) {
  start_pair();
  std::this_thread::sleep_for(kTtl + 1s);
  auto stopped = Clock::now();
  signal_daemon(0, SIGSTOP);
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return primary_check(1) == 200; }, kTtl + 10s))
      << status(1).dump() << logs();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stopped);
  std::printf("[ figure ] SIGSTOP of the primary's tandemd -> secondary /primary 200 after %lld ms\n",
              static_cast<long long>(took.count()));
  std::this_thread::sleep_for(2s);
  signal_daemon(0, SIGCONT);
  // Resumed, the old primary sees its fence deadline long past: it fences
  // itself (self-fence timer; no watchdog armed in this test).
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return status(0).value("fenced", false); }, 10s))
      << status(0).dump() << logs();
  EXPECT_NE(primary_check(0), 200);
  EXPECT_EQ(primary_check(1), 200) << status(1).dump() << logs();
  std::printf("[ figure ] resumed old primary: fenced_reason = %s\n", status(0).value("fenced_reason", "").c_str());
}

}  // namespace

namespace {

// Bad input: etcd unreachable at start. tandemd refuses to start, saying
// what and what to do, instead of running half-coordinated.
TEST_F(AutoFailoverPair, EtcdUnreachableAtStartIsAClearErrorAtStart) {
  ttl_ = kTtl;
  write_config(0);
  etcd_->stop_all();
  tandem::sdk::ProcessSpec spec;
  spec.argv = {TANDEMD_BIN, "--config", (nodes_[0].dir / "tandem.toml").string()};
  spec.timeout = 60s;
  auto r = tandem::sdk::run_process(spec);
  ASSERT_TRUE(r) << r.message();
  EXPECT_FALSE(r->timed_out) << "tandemd kept running without etcd";
  EXPECT_NE(r->exit_code, 0);
  const std::string out = r->stdout_text + r->stderr_text;
  EXPECT_NE(out.find("[dcs] etcd cannot be read at start (etcd unreachable: "), std::string::npos) << out;
  EXPECT_NE(out.find("mode = \"manual\""), std::string::npos) << out;
  // --check validates the file only: it does not contact etcd.
  spec.argv.push_back("--check");
  auto check = tandem::sdk::run_process(spec);
  ASSERT_TRUE(check);
  EXPECT_EQ(check->exit_code, 0) << check->stdout_text << check->stderr_text;
}

}  // namespace
