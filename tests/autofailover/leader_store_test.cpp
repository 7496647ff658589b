// core/src/dcs/leader_store against a real three-member etcd: the primary's
// claim, the secondary's takeover with the epoch in the same transaction,
// and the races the compare-and-swap must settle.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "dcs/leader_store.h"
#include "support/etcd_cluster.h"
#include "tandem/sdk/net/http_client.h"

namespace {

using namespace tandem::core::dcs;
using tandem::testsupport::EtcdCluster;
using namespace std::chrono_literals;

EtcdOptions options_for(const EtcdCluster& cluster) {
  EtcdOptions o;
  for (const auto& u : cluster.client_urls()) o.endpoints.push_back(*tandem::sdk::net::parse_url(u));
  o.request_timeout = 1s;
  o.retry_timeout = 3s;
  return o;
}

TEST(LeaderStore, PrimaryClaimsSecondaryWaitsThenTakesOverWithTheNextEpoch) {
  EtcdCluster cluster;
  EtcdClient a_client(options_for(cluster)), b_client(options_for(cluster));
  LeaderStore alpha(a_client, "/pair", 3s), beta(b_client, "/pair", 3s);

  auto claimed = alpha.claim("alpha", 4);
  ASSERT_TRUE(claimed) << claimed.message();
  EXPECT_EQ(*claimed, Claim::won);
  auto seen = beta.read();
  ASSERT_TRUE(seen) << seen.message();
  ASSERT_TRUE(seen->leader);
  EXPECT_EQ(seen->leader->node, "alpha");
  EXPECT_EQ(seen->leader->epoch, 4u);
  EXPECT_EQ(seen->etcd_epoch, 4u) << "the claim did not write the epoch with the key";

  auto early = beta.take_over("beta", 4);
  ASSERT_TRUE(early) << early.message();
  EXPECT_EQ(early->claim, Claim::held_by_other) << "took the key while alpha held it";

  // alpha keeps its lease alive past the TTL: the key stays.
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(1s);
    auto renewed = alpha.renew();
    ASSERT_TRUE(renewed && *renewed) << "alpha lost its key while renewing";
  }
  ASSERT_TRUE(beta.read()->leader) << "the key expired while renewed";

  // alpha stops renewing: the key is gone within the TTL (plus etcd's own
  // expiry granularity), and beta takes it with epoch 5.
  auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(tandem::sdk::testing::eventually([&] { return !beta.read()->leader; }, 10s));
  auto gone_after = std::chrono::steady_clock::now() - stopped;
  EXPECT_GE(gone_after, 1500ms) << "the key went before its lease could have expired";
  auto taken = beta.take_over("beta", 4);
  ASSERT_TRUE(taken) << taken.message();
  EXPECT_EQ(taken->claim, Claim::won);
  EXPECT_EQ(taken->new_epoch, 5u);
  auto after = alpha.read();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->leader->node, "beta");
  EXPECT_EQ(after->etcd_epoch, 5u);

  // The old primary: its lease is gone, and it cannot claim at its old epoch.
  auto renew = alpha.renew();
  ASSERT_FALSE(renew.ok());
  EXPECT_EQ(classify(renew.error()), EtcdErrorKind::lease_not_found) << renew.message();
  ASSERT_TRUE(beta.release().ok());
  auto stale = alpha.claim("alpha", 4);
  ASSERT_TRUE(stale) << stale.message();
  EXPECT_EQ(*stale, Claim::superseded);
}

TEST(LeaderStore, ARestartedPrimaryRebindsItsOwnKey) {
  EtcdCluster cluster;
  EtcdClient c1(options_for(cluster)), c2(options_for(cluster));
  LeaderStore before(c1, "/p", 10s);
  ASSERT_EQ(*before.claim("alpha", 2), Claim::won);
  // A new tandemd (new LeaderStore, no lease id) finds its own value there.
  LeaderStore after(c2, "/p", 10s);
  auto again = after.claim("alpha", 2);
  ASSERT_TRUE(again) << again.message();
  EXPECT_EQ(*again, Claim::won);
  EXPECT_NE(after.lease_id(), before.lease_id());
  EXPECT_TRUE(after.renew().ok());
  // Another node at the same epoch is not let in.
  EtcdClient c3(options_for(cluster));
  LeaderStore gamma(c3, "/p", 10s);
  EXPECT_EQ(*gamma.claim("gamma", 2), Claim::held_by_other);
}

// A switchover: the key moves from the live holder to the new primary with
// the new epoch in one transaction; the old holder's renewals then keep only
// its own (now unbound) lease, and its lease ending leaves the key in place.
TEST(LeaderStore, ASwitchoverMovesTheKeyAndTheEpochTogether) {
  EtcdCluster cluster;
  EtcdClient a_client(options_for(cluster)), b_client(options_for(cluster));
  LeaderStore alpha(a_client, "/sw", 3s), beta(b_client, "/sw", 3s);
  ASSERT_EQ(*alpha.claim("alpha", 3), Claim::won);

  auto stale = beta.move_to("beta", 3);
  ASSERT_TRUE(stale) << stale.message();
  EXPECT_EQ(*stale, Claim::superseded) << "moved the key without raising the epoch";

  auto moved = beta.move_to("beta", 4);
  ASSERT_TRUE(moved) << moved.message();
  EXPECT_EQ(*moved, Claim::won);
  auto seen = alpha.read();
  ASSERT_TRUE(seen && seen->leader);
  EXPECT_EQ(seen->leader->node, "beta");
  EXPECT_EQ(seen->leader->epoch, 4u);
  EXPECT_EQ(seen->etcd_epoch, 4u);
  // A resumed switchover step finds the key already moved: still won.
  auto again = beta.move_to("beta", 4);
  ASSERT_TRUE(again) << again.message();
  EXPECT_EQ(*again, Claim::won);
  // alpha's lease still lives, but its renewal sees the key gone from it.
  auto stale_renew = alpha.renew();
  ASSERT_TRUE(stale_renew) << stale_renew.message();
  EXPECT_FALSE(*stale_renew) << "alpha's renewal did not notice the key moved";

  // alpha's old lease ends (revoked here, as expiry would): the key stays beta's.
  ASSERT_TRUE(alpha.release().ok());
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(1s);
    auto renewed = beta.renew();
    ASSERT_TRUE(renewed && *renewed);
  }
  auto after = alpha.read();
  ASSERT_TRUE(after && after->leader) << "the moved key went with the old holder's lease";
  EXPECT_EQ(after->leader->node, "beta");
  EXPECT_EQ(*alpha.claim("alpha", 3), Claim::superseded);
}

TEST(LeaderStore, OfTwoRacingTakeoversExactlyOneWins) {
  EtcdCluster cluster;
  for (int round = 0; round < 5; ++round) {
    const std::string prefix = "/race" + std::to_string(round);
    std::atomic<int> won{0}, lost{0}, failed{0};
    std::vector<std::uint64_t> epochs(2, 0);
    std::vector<std::thread> racers;
    for (int i = 0; i < 2; ++i)
      racers.emplace_back([&, i] {
        EtcdClient c(options_for(cluster));
        LeaderStore s(c, prefix, 5s);
        auto r = s.take_over(i == 0 ? "alpha" : "beta", 3);
        if (!r) {
          ++failed;
        } else if (r->claim == Claim::won) {
          ++won;
          epochs[i] = r->new_epoch;
        } else {
          ++lost;
        }
      });
    for (auto& t : racers) t.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(won.load(), 1) << "round " << round;
    EXPECT_EQ(lost.load(), 1) << "round " << round;
    EXPECT_EQ(epochs[0] + epochs[1], 4u);
  }
}

TEST(LeaderStore, WithoutQuorumNothingMoves) {
  EtcdCluster cluster;
  EtcdClient c(options_for(cluster));
  LeaderStore s(c, "/q", 5s);
  ASSERT_EQ(*s.claim("alpha", 1), Claim::won);
  cluster.stop(1);
  cluster.stop(2);
  auto r = s.take_over("beta", 1);
  ASSERT_FALSE(r) << "a takeover went through without quorum";
  auto kind = classify(r.error());
  EXPECT_TRUE(kind == EtcdErrorKind::no_leader || kind == EtcdErrorKind::timeout || kind == EtcdErrorKind::unreachable)
      << r.message();
  auto renew = s.renew();
  ASSERT_FALSE(renew.ok());
  EXPECT_NE(classify(renew.error()), EtcdErrorKind::lease_not_found)
      << "no quorum must read as 'cannot reach', never as 'lease gone': " << renew.message();
}

}  // namespace
