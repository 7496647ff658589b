// PgSource streams rows as JSON equal to PostgreSQL's own row_to_json, for
// every kind of column (escapes, NULLs, numbers, NaN, booleans, json, dates,
// arrays), in one snapshot with the count.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pg_source.h"
#include "row_json.h"
#include "support/postgres_server.h"

namespace tandem::esrebuild {
namespace {

using json = nlohmann::json;

TEST(EsRebuildRowJson, EncodesCopyTextFields) {
  RowJsonEncoder enc({{"id", JsonKind::number},
                      {"t", JsonKind::string},
                      {"f", JsonKind::decimal},
                      {"b", JsonKind::boolean},
                      {"j", JsonKind::raw}},
                     0);
  ASSERT_TRUE(enc.encode("7\ta\\tb\\nc\\\\d\"e\tNaN\tt\t{\"k\": \"x\\\\ty\"}\n"));
  auto doc = json::parse(enc.json());
  EXPECT_EQ(doc["id"], 7);
  EXPECT_EQ(doc["t"], "a\tb\nc\\d\"e");
  EXPECT_EQ(doc["f"], "NaN");
  EXPECT_EQ(doc["b"], true);
  EXPECT_EQ(doc["j"]["k"], "x\ty");
  EXPECT_EQ(enc.id(), std::optional<std::string_view>("7"));
  ASSERT_TRUE(enc.encode("\\N\t\\N\t1.5\tf\t\\N"));
  doc = json::parse(enc.json());
  EXPECT_TRUE(doc["id"].is_null());
  EXPECT_FALSE(enc.id().has_value());
  EXPECT_EQ(doc["f"], 1.5);
  EXPECT_EQ(doc["b"], false);
  EXPECT_FALSE(enc.encode("1\tonly two"));
}

// The text scan reads eight bytes at a time: every special byte (quote, COPY
// escape, control byte), and a byte above 0x7f that must pass unchanged, at
// every position and word alignment of fields of several lengths.
TEST(EsRebuildRowJson, SpecialBytesAtEveryPositionOfAField) {
  RowJsonEncoder enc({{"id", JsonKind::number}, {"t", JsonKind::string}}, 0);
  const std::vector<std::pair<std::string, std::string>> specials = {
      {"\"", "\""},     {"\\\\", "\\"},           {"\\t", "\t"}, {"\\011", "\t"}, {"\x01", "\x01"},
      {"\x1f", "\x1f"}, {"\xc3\xa9", "\xc3\xa9"}, {" ", " "},    {"\x7f", "\x7f"}};
  for (std::size_t len : {1u, 7u, 8u, 9u, 16u, 23u}) {
    for (std::size_t at = 0; at < len; ++at) {
      for (auto& [copy_text, decoded] : specials) {
        std::string before(at, 'a'), after(len - at - 1, 'b');
        ASSERT_TRUE(enc.encode("1\t" + before + copy_text + after + "\n"));
        auto doc = json::parse(enc.json(), nullptr, false);
        ASSERT_FALSE(doc.is_discarded()) << enc.json();
        EXPECT_EQ(doc["t"], before + decoded + after) << "length " << len << ", at " << at << ": " << enc.json();
      }
    }
  }
}

TEST(EsRebuildPgSource, RowsEqualRowToJson) {
  testsupport::PostgresServer pg;
  pg.psql(R"SQL(
    CREATE TABLE t (id int PRIMARY KEY, txt text, vc varchar(20), num numeric, f8 float8, b bool, js jsonb,
                    ts timestamp, tstz timestamptz, d date, arr int[], u uuid, big bigint);
    INSERT INTO t VALUES
      (1, E'tab\there\nnewline \\ backslash "quote" é ünï €', 'x', 12.50, 'NaN', true, '{"a": [1, "two\\t"]}',
       '2024-02-03 04:05:06.789', '2024-02-03 04:05:06+00', '2024-02-03', '{1,2,3}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 9007199254740993),
      (2, NULL, NULL, NULL, 'Infinity', false, 'null', NULL, NULL, NULL, '{}', NULL, -1),
      (3, E'\x01control', '', -0.001, 1e300, NULL, '"s"', NULL, NULL, NULL, NULL, NULL, 0);
  )SQL");
  std::map<std::string, json> expected;
  std::string out = pg.psql("SELECT id || E'\\t' || row_to_json(q)::text FROM (SELECT * FROM t) q");
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    auto line = out.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    auto tab = line.find('\t');
    expected[line.substr(0, tab)] = json::parse(line.substr(tab + 1));
  }
  ASSERT_EQ(expected.size(), 3u);

  PgSource source(pg.conninfo(), "", std::chrono::seconds(10));
  // The planner's estimate (any number for a table never analyzed); the exact
  // count is what the stream returns.
  auto estimate = source.begin_snapshot_and_estimate("SELECT * FROM t");
  ASSERT_TRUE(estimate.ok()) << estimate.message();
  std::atomic<bool> no_cancel{false};
  std::map<std::string, json> got;
  auto rows = source.stream(
      "SELECT * FROM t", "id",
      [&](std::optional<std::string_view> id, std::string_view row) {
        got[std::string(id.value_or("NULL"))] = json::parse(row);
        return true;
      },
      no_cancel);
  ASSERT_TRUE(rows.ok()) << rows.message();
  EXPECT_EQ(*rows, 3u);
  ASSERT_EQ(got.size(), 3u);
  for (auto& [id, doc] : expected)
    EXPECT_EQ(got[id], doc) << "row " << id << ": got " << got[id].dump() << " expected " << doc.dump();
}

TEST(EsRebuildPgSource, ClearErrorsForBadQueryAndIdColumn) {
  testsupport::PostgresServer pg;
  pg.psql("CREATE TABLE t (id int, x text)");
  std::atomic<bool> no_cancel{false};
  PgSource source(pg.conninfo(), "", std::chrono::seconds(10));
  ASSERT_TRUE(source.begin_snapshot_and_estimate("SELECT id, x FROM t").ok());
  auto r = source.stream(
      "SELECT id, x FROM t", "item_id", [](auto, auto) { return true; }, no_cancel);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("id_column 'item_id' is not a column of the query (its columns: id, x)"),
            std::string::npos)
      << r.message();
  PgSource other(pg.conninfo(), "", std::chrono::seconds(10));
  auto bad = other.begin_snapshot_and_estimate("SELECT nope FROM t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("nope"), std::string::npos) << bad.message();
  PgSource down("host=127.0.0.1 port=1 dbname=x", "", std::chrono::seconds(2));
  auto unreachable = down.count("SELECT 1");
  ASSERT_FALSE(unreachable.ok());
  EXPECT_NE(unreachable.message().find("cannot connect to the PostgreSQL source"), std::string::npos);
}

}  // namespace
}  // namespace tandem::esrebuild
