// The primary's WAL position message and its store-state form: malformed
// input is dropped, never passed on to a query.
#include <gtest/gtest.h>

#include "peer_wal_report.h"

namespace tandem::pgwal {
namespace {

TEST(PeerWalReport, AMessageRoundTripsWithTheTimeOfArrival) {
  auto r = parse_wal_position(wal_position_message("16/B374D848", 3, "sync"), 1234);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lsn, "16/B374D848");
  EXPECT_EQ(r->timeline, 3);
  EXPECT_EQ(r->received_unix_ms, 1234);
  auto back = from_state_text(to_state_text(*r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->lsn, r->lsn);
  EXPECT_EQ(back->timeline, 3);
  EXPECT_EQ(back->received_unix_ms, 1234);
  EXPECT_EQ(r->standby_sync_state, "sync");
  EXPECT_EQ(back->standby_sync_state, "sync");
  // From a primary that does not say (an older version): empty, not a guess.
  auto older = parse_wal_position({{"event", "pg_wal_position"}, {"lsn", "0/1"}, {"timeline", 1}}, 1);
  ASSERT_TRUE(older);
  EXPECT_EQ(older->standby_sync_state, "");
  EXPECT_EQ(lsn_position("16/B374D848"), (0x16ull << 32) | 0xB374D848ull);
  EXPECT_FALSE(lsn_position("16B374D848"));
}

TEST(PeerWalReport, MalformedMessagesAreDropped) {
  const nlohmann::json bad[] = {
      {{"event", "kv_status"}, {"lsn", "0/1"}, {"timeline", 1}},
      {{"event", "pg_wal_position"}, {"lsn", "0/1'; DROP TABLE seq; --"}, {"timeline", 1}},
      {{"event", "pg_wal_position"}, {"lsn", "01"}, {"timeline", 1}},
      {{"event", "pg_wal_position"}, {"lsn", "/1"}, {"timeline", 1}},
      {{"event", "pg_wal_position"}, {"lsn", "123456789/1"}, {"timeline", 1}},
      {{"event", "pg_wal_position"}, {"lsn", "0/1"}, {"timeline", 0}},
      {{"event", "pg_wal_position"}, {"lsn", "0/1"}, {"timeline", "1"}},
      {{"event", "pg_wal_position"}, {"lsn", 17}, {"timeline", 1}},
      {{"event", "pg_wal_position"}},
      nlohmann::json::array(),
  };
  for (const auto& m : bad) EXPECT_FALSE(parse_wal_position(m, 1)) << m.dump();
  EXPECT_FALSE(from_state_text("not json"));
  EXPECT_FALSE(from_state_text(R"({"lsn":"0/1","timeline":1})"));
}

TEST(PeerWalReports, TheLatestIsKeptAndEachSetIsSavedOnce) {
  PeerWalReports reports;
  EXPECT_FALSE(reports.latest());
  EXPECT_FALSE(reports.take_unsaved());
  reports.set({"0/10", 1, 5, "sync"});
  reports.set({"0/20", 1, 6, "async"});
  EXPECT_EQ(reports.latest()->lsn, "0/20");
  EXPECT_TRUE(reports.take_unsaved());
  EXPECT_FALSE(reports.take_unsaved());
  reports.clear();
  EXPECT_FALSE(reports.latest());
  EXPECT_TRUE(reports.take_unsaved());
}

}  // namespace
}  // namespace tandem::pgwal
