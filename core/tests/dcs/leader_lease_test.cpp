// PrimaryLease and SecondaryWatch with a fake clock: when the primary serves,
// serves under failsafe or fences; when the secondary may take over; and
// that across a sweep of delays the primary always stops before the
// secondary may start.
#include <gtest/gtest.h>

#include "dcs/leader_lease.h"

namespace tandem::core::dcs {
namespace {

using namespace std::chrono_literals;
using Writes = PrimaryDecision::Writes;

const LeaseTiming kTiming{10s, 2s};
const Clock::time_point t0 = Clock::time_point{} + 1000s;  // any fixed instant

TEST(PrimaryLease, FencedUntilItHoldsTheKeyThenServesUntilTtlMinusMargin) {
  PrimaryLease p(kTiming);
  auto d = p.decide(t0);
  EXPECT_EQ(d.writes, Writes::fence);
  EXPECT_TRUE(d.renew_now);
  EXPECT_EQ(d.reason, "not holding the leader key yet");

  p.renewed(t0);
  d = p.decide(t0 + 1s);
  EXPECT_EQ(d.writes, Writes::serve);
  EXPECT_FALSE(d.renew_now) << "renews every ttl/3, not sooner";
  EXPECT_EQ(d.serve_remaining, 7s);
  EXPECT_EQ(d.lease_remaining, 9s);
  EXPECT_TRUE(p.decide(t0 + 3334ms).renew_now);

  // Renewals keep failing: it serves to the fence deadline and not a moment past.
  p.renewal_failed(t0 + 3334ms, EtcdErrorKind::unreachable);
  EXPECT_EQ(p.decide(t0 + 8s - 1ms).writes, Writes::serve);
  d = p.decide(t0 + 8s);
  EXPECT_EQ(d.writes, Writes::fence);
  EXPECT_EQ(d.serve_remaining, 0ms);
  EXPECT_EQ(d.lease_remaining, 2s);
  // The cause only: AutoFailover's fence says "self-fenced by automatic
  // failover: " before it (the reason once said "self-fenced" twice).
  EXPECT_EQ(d.reason.find("cannot renew the lease"), 0u) << d.reason;
  EXPECT_NE(d.reason.find("unreachable"), std::string::npos) << d.reason;
}

TEST(PrimaryLease, RetriesAFailedRenewalSoonAndAsksThePeer) {
  PrimaryLease p(kTiming);
  p.renewed(t0);
  p.renewal_failed(t0 + 3400ms, EtcdErrorKind::timeout);
  auto d = p.decide(t0 + 3400ms + 500ms);
  EXPECT_FALSE(d.renew_now);
  d = p.decide(t0 + 3400ms + 833ms);
  EXPECT_TRUE(d.renew_now) << "retries after a quarter of the renew interval";
  EXPECT_TRUE(d.ask_peer_now);
  p.peer_asked(t0 + 4300ms);
  EXPECT_FALSE(p.decide(t0 + 4400ms).ask_peer_now) << "one ask at a time";
}

TEST(PrimaryLease, ARenewalThatHangsMakesItAskThePeerBeforeTheCallReturns) {
  PrimaryLease p(kTiming);
  p.renewed(t0);
  p.renewal_started(t0 + 3334ms);
  EXPECT_FALSE(p.decide(t0 + 3400ms).ask_peer_now) << "a renewal just sent is not yet in doubt";
  auto d = p.decide(t0 + 3700ms);
  EXPECT_TRUE(d.ask_peer_now) << "a renewal out for 366 ms should start the failsafe ask";
  EXPECT_EQ(d.writes, Writes::serve);
}

TEST(PrimaryLease, FailsafeHoldsWhileThePeerConfirmsEvenWhenItAnswersSlowly) {
  PrimaryLease p(kTiming);
  p.renewed(t0);
  // etcd is gone for 60 s; the peer is paused 3 s at each ask and answers then.
  auto now = t0 + 3334ms;
  for (int round = 0; now < t0 + 60s; ++round) {
    p.renewal_failed(now, round % 3 == 0   ? EtcdErrorKind::unreachable
                          : round % 3 == 1 ? EtcdErrorKind::no_leader
                                           : EtcdErrorKind::timeout);
    auto d = p.decide(now);
    ASSERT_NE(d.writes, Writes::fence) << "fenced at +" << (now - t0) / 1ms << " ms: " << d.reason;
    if (d.ask_peer_now) {
      p.peer_asked(now);
      auto asked = now;
      for (auto t = now; t < now + 3s; t += 100ms)
        ASSERT_NE(p.decide(t).writes, Writes::fence) << "fenced while waiting for the slow peer at +" << (t - t0) / 1ms;
      p.peer_confirmed(asked);
      now += 3s;
    }
    now += 250ms;
  }
  auto d = p.decide(now);
  EXPECT_EQ(d.writes, Writes::serve_failsafe) << d.reason;
  EXPECT_NE(d.reason.find("failsafe"), std::string::npos);
  // etcd back: a renewal succeeds and it holds the lease again.
  p.renewed(now);
  EXPECT_EQ(p.decide(now + 1s).writes, Writes::serve);
}

TEST(PrimaryLease, AFailsafeConfirmationLastsTtlMinusMarginFromTheAsk) {
  PrimaryLease p(kTiming);
  p.renewed(t0);
  p.renewal_failed(t0 + 4s, EtcdErrorKind::unreachable);
  p.peer_asked(t0 + 5s);
  p.peer_confirmed(t0 + 5s);  // answered later; counted from the ask
  EXPECT_EQ(p.decide(t0 + 13s - 1ms).writes, Writes::serve_failsafe);
  EXPECT_EQ(p.decide(t0 + 13s).writes, Writes::fence);
}

TEST(PrimaryLease, ARefusingPeerMeansFenceAtTheDeadline) {
  PrimaryLease p(kTiming);
  p.renewed(t0);
  p.renewal_failed(t0 + 4s, EtcdErrorKind::unreachable);
  p.peer_asked(t0 + 4s);
  p.peer_refused(t0 + 4s, "etcd is reachable and holds no leader key");
  auto d = p.decide(t0 + 8s);
  EXPECT_EQ(d.writes, Writes::fence);
  EXPECT_NE(d.reason.find("holds no leader key"), std::string::npos) << d.reason;
}

TEST(PrimaryLease, ALostLeaseFencesAtOnceEvenUnderFailsafe) {
  PrimaryLease p(kTiming);
  p.renewed(t0);
  p.renewal_failed(t0 + 4s, EtcdErrorKind::unreachable);
  p.peer_asked(t0 + 4s);
  p.peer_confirmed(t0 + 4s);
  p.lost("etcd: lease not found");
  auto d = p.decide(t0 + 4100ms);
  EXPECT_EQ(d.writes, Writes::fence);
  EXPECT_EQ(d.lease_remaining, 0ms);
  EXPECT_NE(d.reason.find("lease not found"), std::string::npos);
  EXPECT_TRUE(p.decide(t0 + 5s).renew_now) << "tries to take the key again";
  p.renewed(t0 + 5s);
  EXPECT_EQ(p.decide(t0 + 5100ms).writes, Writes::serve);
}

SecondaryView absent_and_peer_gone() {
  SecondaryView v;
  v.leader_key = SecondaryView::LeaderKey::absent;
  return v;
}

TEST(SecondaryWatch, TakesOverOnlyWhenTheKeyIsGoneAndThePrimaryIsNotServing) {
  SecondaryWatch s(kTiming);
  auto v = absent_and_peer_gone();
  auto d = s.decide(t0, v);
  EXPECT_TRUE(d.take_over) << d.reason;
  EXPECT_NE(d.reason.find("unreachable"), std::string::npos);

  auto present = v;
  present.leader_key = SecondaryView::LeaderKey::present;
  present.leader_node = "alpha";
  EXPECT_FALSE(s.decide(t0, present).take_over);
  EXPECT_EQ(s.decide(t0, present).reason, "alpha holds the leader key");

  for (auto kind : {EtcdErrorKind::unreachable, EtcdErrorKind::timeout, EtcdErrorKind::no_leader}) {
    auto unknown = v;
    unknown.leader_key = SecondaryView::LeaderKey::unknown;
    unknown.etcd_error = kind;
    auto u = s.decide(t0, unknown);
    EXPECT_FALSE(u.take_over) << to_string(kind);
    EXPECT_NE(u.reason.find("never takes over without etcd"), std::string::npos) << u.reason;
  }

  auto serving = v;
  serving.peer_reachable = true;
  serving.peer_serving = true;
  EXPECT_FALSE(s.decide(t0, serving).take_over);

  auto fenced = v;
  fenced.peer_reachable = true;
  EXPECT_TRUE(s.decide(t0, fenced).take_over);

  auto paused = v;
  paused.paused = true;
  EXPECT_FALSE(s.decide(t0, paused).take_over);
  EXPECT_NE(s.decide(t0, paused).reason.find("paused"), std::string::npos);

  auto lagging = v;
  lagging.gate_refusal = "store 'pg' lags 32 MiB, more than maximum_lag_on_failover (1 MiB)";
  auto g = s.decide(t0, lagging);
  EXPECT_FALSE(g.take_over);
  EXPECT_TRUE(g.gate_refused);
  EXPECT_NE(g.reason.find("32 MiB"), std::string::npos) << g.reason;
  // Only a gate's refusal counts as one: waiting for a serving primary is not.
  EXPECT_FALSE(s.decide(t0, serving).gate_refused);
}

TEST(SecondaryWatch, ConfirmsFailsafeOnlyWhenItCannotReachEtcdOrSeesTheAsker) {
  SecondaryWatch s(kTiming);
  SecondaryView unknown;
  unknown.etcd_error = EtcdErrorKind::no_leader;
  EXPECT_TRUE(s.failsafe_ask(t0, "alpha", unknown).confirm);

  SecondaryWatch s2(kTiming);
  SecondaryView sees_alpha;
  sees_alpha.leader_key = SecondaryView::LeaderKey::present;
  sees_alpha.leader_node = "alpha";
  EXPECT_TRUE(s2.failsafe_ask(t0, "alpha", sees_alpha).confirm);
  auto other = s2.failsafe_ask(t0, "gamma", sees_alpha);
  EXPECT_FALSE(other.confirm);
  EXPECT_NE(other.reason.find("names alpha"), std::string::npos);

  SecondaryWatch s3(kTiming);
  auto absent = s3.failsafe_ask(t0, "alpha", absent_and_peer_gone());
  EXPECT_FALSE(absent.confirm);
}

// A stale key (etcd's leader key names the peer at an epoch below this
// node's): not a lost lease, which fences at once, but failsafe: serve to the
// fence deadline, ask the peer, serve on while it confirms, fence (saying how
// to recover) when it does not; a claim that wins clears it.
TEST(PrimaryLease, AStaleKeyServesOnlyWhileThePeerConfirmsThenFencesSayingHowToRecover) {
  const std::string why = "etcd's leader key names alpha at epoch 1, below this node's epoch 2";
  PrimaryLease p(kTiming);
  p.renewed(t0);
  p.stale_key(t0 + 3334ms, why);
  EXPECT_TRUE(p.stale());
  auto d = p.decide(t0 + 3400ms);
  EXPECT_EQ(d.writes, Writes::serve);
  EXPECT_TRUE(d.ask_peer_now);
  EXPECT_NE(d.reason.find(why), std::string::npos) << d.reason;
  d = p.decide(t0 + 8s);
  EXPECT_EQ(d.writes, Writes::fence) << "no confirmation: fence at the deadline";
  EXPECT_NE(d.reason.find(why), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("tandemctl promote --force"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("tandemctl rejoin"), std::string::npos) << d.reason;

  p.peer_asked(t0 + 7s);
  p.peer_confirmed(t0 + 7s);
  d = p.decide(t0 + 14s);
  EXPECT_EQ(d.writes, Writes::serve_failsafe) << d.reason;
  EXPECT_NE(d.reason.find(why), std::string::npos) << d.reason;
  EXPECT_EQ(p.decide(t0 + 15s).writes, Writes::fence) << "a confirmation lasts ttl - margin from the ask";

  p.renewed(t0 + 14s);  // the stale key expired, the claim won
  EXPECT_FALSE(p.stale());
  d = p.decide(t0 + 15s);
  EXPECT_EQ(d.writes, Writes::serve);
  EXPECT_EQ(d.reason, "holding the leader lease");
}

TEST(SecondaryWatch, AFencedNodeOrOneTheStaleKeyNamesConfirmsFailsafe) {
  SecondaryWatch s(kTiming);
  SecondaryView names_alpha;
  names_alpha.leader_key = SecondaryView::LeaderKey::present;
  names_alpha.leader_node = "alpha";
  auto a = s.failsafe_ask(t0, "beta", names_alpha, "alpha", false);
  EXPECT_TRUE(a.confirm) << a.reason;
  EXPECT_NE(a.reason.find("stale"), std::string::npos) << a.reason;
  EXPECT_FALSE(s.decide(t0 + 10s - 1ms, absent_and_peer_gone()).take_over) << "the confirmation is a promise";

  SecondaryWatch f(kTiming);
  auto fenced = f.failsafe_ask(t0, "beta", absent_and_peer_gone(), "alpha", true);
  EXPECT_TRUE(fenced.confirm) << fenced.reason;
  EXPECT_NE(fenced.reason.find("fenced"), std::string::npos) << fenced.reason;

  // Not fenced, and the key names a third node: refused as before.
  SecondaryWatch o(kTiming);
  EXPECT_FALSE(o.failsafe_ask(t0, "beta", names_alpha, "gamma", false).confirm);
}

TEST(SecondaryWatch, AConfirmationIsAPromiseNotToTakeOverForTtl) {
  SecondaryWatch s(kTiming);
  SecondaryView unknown;
  unknown.etcd_error = EtcdErrorKind::unreachable;
  ASSERT_TRUE(s.failsafe_ask(t0, "alpha", unknown).confirm);
  auto v = absent_and_peer_gone();
  auto d = s.decide(t0 + 10s - 1ms, v);
  EXPECT_FALSE(d.take_over);
  EXPECT_NE(d.reason.find("promised"), std::string::npos) << d.reason;
  EXPECT_TRUE(s.decide(t0 + 10s, v).take_over);
}

// A partition cuts the primary from etcd and from the peer at some instant;
// the peer reaches etcd. For every delay of the messages in play, the
// instant the primary stops serving is before the first instant the
// secondary may take over, by at least the margin.
TEST(LeaderLeaseSafety, ThePrimaryStopsBeforeTheSecondaryMayStart) {
  for (auto send_delay : {0ms, 5ms, 300ms, 1900ms}) {
    for (auto confirm_delay : {0ms, 1000ms, 3000ms, 7000ms}) {
      for (bool confirmed_once : {false, true}) {
        PrimaryLease p(kTiming);
        SecondaryWatch s(kTiming);
        // Last successful renewal: sent at t0, received by etcd send_delay later.
        p.renewed(t0);
        auto etcd_expiry = t0 + send_delay + kTiming.ttl;
        if (confirmed_once) {
          // Before the cut the peer confirmed failsafe once (etcd was down
          // for both a moment); the answer took confirm_delay.
          auto asked = t0 + 1s;
          SecondaryView unknown;
          unknown.etcd_error = EtcdErrorKind::unreachable;
          ASSERT_TRUE(s.failsafe_ask(asked + confirm_delay, "alpha", unknown).confirm);
          p.peer_asked(asked);
          p.peer_confirmed(asked);
        }
        p.renewal_failed(t0 + 3334ms, EtcdErrorKind::timeout);  // the cut
        // The primary's last serving instant.
        Clock::time_point stops = t0;
        while (p.decide(stops).writes != Writes::fence) stops += 1ms;
        // The secondary's first takeover: the key is gone once etcd expired it.
        Clock::time_point starts = etcd_expiry;
        while (!s.decide(starts, absent_and_peer_gone()).take_over) starts += 1ms;
        EXPECT_GE(starts - stops, kTiming.margin)
            << "send delay " << send_delay.count() << " ms, confirm delay " << confirm_delay.count()
            << " ms, confirmed " << confirmed_once << ": stops at +" << (stops - t0) / 1ms << ", starts at +"
            << (starts - t0) / 1ms;
      }
    }
  }
}

TEST(LeaderValue, RoundTripsAndRefusesGarbage) {
  auto v = decode_leader(encode_leader({"alpha", 7}));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->node, "alpha");
  EXPECT_EQ(v->epoch, 7u);
  EXPECT_FALSE(decode_leader("alpha"));
  EXPECT_FALSE(decode_leader(R"({"node":"alpha","epoch":-1})"));
  EXPECT_FALSE(decode_leader(R"({"epoch":3})"));
}

}  // namespace
}  // namespace tandem::core::dcs
