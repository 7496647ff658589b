// Unit tests without servers: configuration, RESP parsing, expiry rewriting,
// the journal file, and agreement of README/sample.toml with the schema.
#include <gtest/gtest.h>

#include <toml++/toml.h>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>

#include "background_release.h"
#include "command_table.h"
#include "effect.h"
#include "expiry_rewrite.h"
#include "intent_log.h"
#include "journal.h"
#include "resp.h"
#include "settings.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::kv {
namespace {

sdk::Result<Settings> parse_result(nlohmann::json values) {
  sdk::testing::TestHostOptions o;
  o.peer.address = "10.0.0.2";
  sdk::testing::TestHost host(o);
  return parse_settings(sdk::StoreConfig::from_json("kv", settings_schema(), std::move(values)), host);
}
Settings parse(nlohmann::json values) { return parse_result(std::move(values)).value(); }

// The schema check's or parse_settings' message, "" when accepted.
std::string config_error(nlohmann::json values) {
  try {
    auto r = parse_result(std::move(values));
    if (r.ok()) return "";
    EXPECT_EQ(r.code(), sdk::ErrorCode::invalid_config) << r.message();
    return r.message();
  } catch (const sdk::ConfigError& e) {
    return e.what();
  }
}

TEST(KvConfig, DefaultsAndPeerPlaceholder) {
  auto s = parse({{"listen_port", 16400}});
  EXPECT_EQ(s.listen_port, 16400);
  EXPECT_EQ(s.peer.host, "10.0.0.2");
  EXPECT_EQ(s.peer.port, 6379);
  EXPECT_EQ(s.local.describe(), "127.0.0.1:6379");
  EXPECT_EQ(s.peer_down, PeerDownPolicy::journal);
  EXPECT_EQ(s.journal_fsync, JournalFsync::always);
  EXPECT_EQ(s.journal_max_size, 1ull << 30);
  EXPECT_EQ(s.command_timeout, std::chrono::seconds(5));
  // The output limits of both classes, from the keys declared once for both.
  EXPECT_EQ(s.client_output.hard, 64ull << 20);
  EXPECT_EQ(s.client_output.soft, 8ull << 20);
  EXPECT_EQ(s.client_output.soft_time, std::chrono::seconds(10));
  EXPECT_EQ(s.pubsub_output.hard, 32ull << 20);
  EXPECT_EQ(s.pubsub_output.soft, 8ull << 20);
  EXPECT_EQ(s.pubsub_output.soft_time, std::chrono::seconds(60));
}

TEST(KvConfig, ExplicitValues) {
  auto s = parse({{"listen_port", 7000},
                  {"peer_host", "redis-b"},
                  {"peer_port", 7001},
                  {"peer_down", "refuse"},
                  {"journal_fsync", "everysec"},
                  {"journal_max_size", "64MiB"},
                  {"db", 3},
                  {"command_timeout", "250ms"}});
  EXPECT_EQ(s.peer.describe(), "redis-b:7001");
  EXPECT_EQ(s.peer_down, PeerDownPolicy::refuse);
  EXPECT_EQ(s.journal_fsync, JournalFsync::everysec);
  EXPECT_EQ(s.journal_max_size, 64ull << 20);
  EXPECT_EQ(s.db, 3);
  EXPECT_EQ(s.command_timeout, std::chrono::milliseconds(250));
}

TEST(KvConfig, BadValuesNameTheKey) {
  struct Case {
    nlohmann::json values;
    std::string key;
  };
  std::vector<Case> cases = {
      {nlohmann::json::object(), "listen_port"},
      {{{"listen_port", 70000}}, "listen_port"},
      {{{"listen_port", 1}, {"peer_down", "drop"}}, "peer_down"},
      {{{"listen_port", 1}, {"journal_fsync", "sometimes"}}, "journal_fsync"},
      {{{"listen_port", 1}, {"db", 16}}, "db"},
      {{{"listen_port", 1}, {"journal_max_size", "1KiB"}}, "journal_max_size"},
      {{{"listen_port", 1}, {"peer_host", "127.0.0.1"}, {"peer_port", 6379}}, "peer_port"},
      {{{"listen_port", 1}, {"sample_rate", -1}}, "sample_rate"},
      {{{"listen_port", 1}, {"max_request_size", "10"}}, "max_request_size"},
      {{{"listen_port", 1}, {"command_timeout", "0s"}}, "command_timeout"},
      // A soft limit above its hard limit would never be reached.
      {{{"listen_port", 1}, {"client_output_buffer_soft_limit", "65MiB"}}, "client_output_buffer_soft_limit"},
      {{{"listen_port", 1}, {"pubsub_output_buffer_limit", "4MiB"}}, "pubsub_output_buffer_soft_limit"},
      {{{"listen_port", 1}, {"client_output_buffer_soft_time", "0s"}}, "client_output_buffer_soft_time"},
  };
  for (auto& c : cases) {
    auto err = config_error(c.values);
    EXPECT_NE(err.find("'" + c.key + "'"), std::string::npos) << c.values.dump() << " -> " << err;
  }
}

bool parse_one(RespParser& p, std::string_view in) {
  p.feed(in.data(), in.size());
  return p.next() == RespParser::Next::message;
}

TEST(KvResp, ParsesPipelinedCommandsAndPartialInput) {
  RespParser p;
  std::string in = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel";
  p.feed(in.data(), in.size());
  ASSERT_EQ(p.next(), RespParser::Next::message);
  EXPECT_EQ(p.type(), RespType::array);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p.element(0), "GET");
  EXPECT_EQ(p.bytes(), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  EXPECT_EQ(p.next(), RespParser::Next::incomplete);
  std::string rest = "lo\r\n";
  p.feed(rest.data(), rest.size());
  ASSERT_EQ(p.next(), RespParser::Next::message);
  EXPECT_EQ(p.element(2), "hello");
  EXPECT_EQ(p.bytes(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n");
}

// A backend's large reply, arriving in reads of 64 KiB as from a link: its
// room is reserved once at its header (no regrowth copies), and it is handed
// on without a copy (the very bytes received), the next reply's first bytes
// staying in the parser. Issue 12: copying each 1 MiB reply in one go on the
// io thread held every client's replies.
TEST(KvResp, ALargeReplyIsReservedOnceAndTakenWithoutACopy) {
  RespParser p;
  const std::string value(1 << 20, 'x');
  const std::string reply = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  const std::string stream = reply + reply + "+OK\r\n";
  std::size_t fed = 0;
  auto feed = [&](std::size_t n) {
    n = std::min(n, stream.size() - fed);
    p.feed(stream.data() + fed, n);
    fed += n;
  };
  feed(64 << 10);
  ASSERT_EQ(p.next(), RespParser::Next::incomplete);
  EXPECT_GE(p.capacity(), reply.size()) << "the bulk's room was not reserved at its header";
  const std::size_t reserved = p.capacity();
  for (int round = 0; round < 2; ++round) {
    const char* where = nullptr;
    while (fed < stream.size()) {
      feed(64 << 10);
      if (p.next() == RespParser::Next::message) {
        where = p.bytes().data();
        break;
      }
      EXPECT_EQ(p.capacity(), reserved) << "regrown while the bulk arrived";
    }
    ASSERT_NE(where, nullptr);
    EXPECT_EQ(p.type(), RespType::string);
    EXPECT_EQ(p.payload().size(), value.size());
    std::string taken = p.take_message();
    EXPECT_EQ(taken, reply);
    EXPECT_EQ(taken.data(), where) << "copied, not moved";
  }
  // What followed the second reply (in its last read) is still parsed.
  feed(stream.size());
  ASSERT_EQ(p.next(), RespParser::Next::message);
  EXPECT_EQ(p.bytes(), "+OK\r\n");
  EXPECT_EQ(p.next(), RespParser::Next::incomplete);
  // A small message, or one not at the buffer's start, is copied: still right.
  const std::string two = "+A\r\n+B\r\n";
  p.feed(two.data(), two.size());
  ASSERT_EQ(p.next(), RespParser::Next::message);
  ASSERT_EQ(p.next(), RespParser::Next::message);
  EXPECT_EQ(p.take_message(), "+B\r\n");
  EXPECT_EQ(p.next(), RespParser::Next::incomplete);
}

// The room for a large reply can come ready-made (its pages faulted in by
// BackgroundRelease's thread, not the io thread): the first ask only says
// which size is wanted, later asks are served from the prepared rooms, and
// the parser receives the reply into that very buffer.
TEST(KvResp, ALargeReplyIsReceivedIntoAPreparedRoom) {
  BackgroundRelease helper;
  const std::size_t need = (1 << 20) + 64;
  EXPECT_LT(helper.take_room(need).capacity(), need) << "nothing can be ready before the first ask";
  std::string room;
  ASSERT_TRUE(sdk::testing::eventually([&] { return (room = helper.take_room(need)).capacity() >= need; },
                                       std::chrono::seconds(10)));
  EXPECT_LE(room.capacity(), need + need / 4 + 64);
  EXPECT_EQ(helper.rooms_taken(), 1u);
  const char* prepared = room.data();
  RespParser p;
  p.set_room_source([&](std::size_t n) { return n <= room.capacity() ? std::move(room) : std::string(); });
  const std::string value(1 << 20, 'y');
  const std::string reply = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  for (std::size_t at = 0; at < reply.size(); at += 64 << 10) {
    p.feed(reply.data() + at, std::min<std::size_t>(64 << 10, reply.size() - at));
    if (at + (64 << 10) < reply.size()) {
      ASSERT_EQ(p.next(), RespParser::Next::incomplete);
    }
  }
  ASSERT_EQ(p.next(), RespParser::Next::message);
  std::string taken = p.take_message();
  EXPECT_EQ(taken, reply);
  EXPECT_EQ(taken.data(), prepared) << "not received into the prepared room";
}

// A client's bulk header reserves nothing: its length is not to be trusted
// (it would hold memory it never sends).
TEST(KvResp, AClientsBulkHeaderReservesNothing) {
  RespParser p;
  p.accept_inline();
  const std::string head = "*2\r\n$3\r\nGET\r\n$100000000\r\nxx";
  p.feed(head.data(), head.size());
  ASSERT_EQ(p.next(), RespParser::Next::incomplete);
  EXPECT_LT(p.capacity(), 1u << 20);
}

TEST(KvResp, ReencodesRepliesCanonically) {
  RespParser p;
  std::string in = "+OK\r\n-ERR bad\r\n:42\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n*1\r\n$1\r\nx\r\n";
  p.feed(in.data(), in.size());
  std::string out;
  std::vector<RespType> types;
  while (p.next() == RespParser::Next::message) {
    out += p.bytes();
    types.push_back(p.type());
  }
  EXPECT_EQ(out, in);
  ASSERT_EQ(types.size(), 6u);
  EXPECT_EQ(types[1], RespType::error);
  EXPECT_EQ(types[3], RespType::nil);
}

TEST(KvResp, AnEmptyNestedArrayIsOneElement) {
  // EXEC's reply with an empty array between others (XREVRANGE of a missing
  // stream, SPOP n of a missing set): the elements stay aligned with the commands.
  RespParser p;
  ASSERT_TRUE(parse_one(p, "*3\r\n*0\r\n*1\r\n$1\r\na\r\n*0\r\n"));
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p.element_type(0), RespType::array);
  EXPECT_EQ(p.element(0), "*0\r\n");
  EXPECT_EQ(p.element(1), "*1\r\n$1\r\na\r\n");
  EXPECT_EQ(p.element(2), "*0\r\n");
}

TEST(KvResp, RejectsGarbage) {
  RespParser p;
  std::string in = "?what\r\n";
  p.feed(in.data(), in.size());
  EXPECT_EQ(p.next(), RespParser::Next::protocol_error);
  EXPECT_FALSE(p.error_text().empty());
}

TEST(KvResp, Resp3RepliesPassThroughUnchanged) {
  RespParser p;
  std::string in =
      "%2\r\n$1\r\na\r\n,1.5\r\n$1\r\nb\r\n~1\r\n#t\r\n_\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
      "=8\r\ntxt:abcd\r\n(12345678901234567890\r\n!3\r\nERR\r\n*2\r\n$1\r\nk\r\n*1\r\n*2\r\n$1\r\nm\r\n,2\r\n";
  p.feed(in.data(), in.size());
  std::string out;
  std::vector<RespType> types;
  ASSERT_EQ(p.next(), RespParser::Next::message);
  EXPECT_EQ(p.type(), RespType::array);
  ASSERT_EQ(p.size(), 4u) << "a map's keys and values in turn";
  EXPECT_EQ(p.element(1), "1.5");
  EXPECT_EQ(p.element_type(1), RespType::other);
  EXPECT_EQ(p.element(3), "~1\r\n#t\r\n") << "a nested aggregate's element is its whole encoding";
  out += p.bytes();
  while (p.next() == RespParser::Next::message) {
    out += p.bytes();
    types.push_back(p.type());
  }
  EXPECT_EQ(out, in);
  ASSERT_EQ(types.size(), 6u);
  EXPECT_EQ(types[0], RespType::nil);
  EXPECT_EQ(types[1], RespType::array);   // push
  EXPECT_EQ(types[2], RespType::string);  // verbatim
  EXPECT_EQ(types[4], RespType::error);   // blob error
}

TEST(KvResp, InlineCommandsAndStrictClientRequests) {
  RespParser p;
  p.accept_inline();
  std::string in = "SET k1 \"a b\\x41\"\r\n\r\nGET k1\n*1\r\n$4\r\nPING\r\nECHO 'it''s'\r\n";
  p.feed(in.data(), in.size());
  ASSERT_EQ(p.next(), RespParser::Next::message);
  EXPECT_EQ(p.bytes(), "*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$4\r\na bA\r\n");
  ASSERT_EQ(p.next(), RespParser::Next::message);
  EXPECT_EQ(p.element(0), "GET");
  ASSERT_EQ(p.next(), RespParser::Next::message);
  EXPECT_EQ(p.bytes(), "*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(p.next(), RespParser::Next::protocol_error) << "a closing quote must end the argument";
  for (std::string bad : {"*1\r\n:1\r\n", "*01\r\n$1\r\nx\r\n", "*1\r\n$+1\r\nx\r\n", "*1\r\n$1\r\nxy\r\n",
                          "*1\r\n*1\r\n$1\r\nx\r\n", "ECHO \"open\r\n"}) {
    RespParser c;
    c.accept_inline();
    c.feed(bad.data(), bad.size());
    EXPECT_EQ(c.next(), RespParser::Next::protocol_error) << bad;
  }
}

std::string cmd(std::vector<std::string_view> argv) {
  std::string s;
  append_command(s, argv);
  return s;
}

TEST(KvExpiry, RelativeBecomesAbsolute) {
  const long long now = 1'700'000'000'000;
  std::string out;
  EXPECT_EQ(rewrite_expiry({"EXPIRE", "k", "10"}, now, out), RewriteOutcome::rewritten);
  EXPECT_EQ(out, cmd({"PEXPIREAT", "k", "1700000010000"}));
  out.clear();
  EXPECT_EQ(rewrite_expiry({"pexpire", "k", "250", "GT"}, now, out), RewriteOutcome::rewritten);
  EXPECT_EQ(out, cmd({"PEXPIREAT", "k", "1700000000250", "GT"}));
  out.clear();
  EXPECT_EQ(rewrite_expiry({"SETEX", "k", "5", "v"}, now, out), RewriteOutcome::rewritten);
  EXPECT_EQ(out, cmd({"SET", "k", "v", "PXAT", "1700000005000"}));
  out.clear();
  EXPECT_EQ(rewrite_expiry({"SET", "k", "v", "NX", "px", "100", "GET"}, now, out), RewriteOutcome::rewritten);
  EXPECT_EQ(out, cmd({"SET", "k", "v", "NX", "PXAT", "1700000000100", "GET"}));
  out.clear();
  EXPECT_EQ(rewrite_expiry({"RESTORE", "k", "1000", "payload"}, now, out), RewriteOutcome::rewritten);
  EXPECT_EQ(out, cmd({"RESTORE", "k", "1700000001000", "payload", "ABSTTL"}));
}

TEST(KvExpiry, AbsoluteOrMalformedStayUnchanged) {
  std::string out;
  EXPECT_EQ(rewrite_expiry({"SET", "k", "v"}, 1, out), RewriteOutcome::unchanged);
  EXPECT_EQ(rewrite_expiry({"SET", "k", "v", "PXAT", "5"}, 1, out), RewriteOutcome::unchanged);
  EXPECT_EQ(rewrite_expiry({"SETEX", "k", "0", "v"}, 1, out), RewriteOutcome::unchanged);
  EXPECT_EQ(rewrite_expiry({"EXPIRE", "k", "ten"}, 1, out), RewriteOutcome::unchanged);
  EXPECT_EQ(rewrite_expiry({"SET", "k", "v", "EX", "99999999999999999999"}, 1, out), RewriteOutcome::unchanged);
  EXPECT_TRUE(out.empty());
}

TEST(KvCommandTable, ClassifiesFamilies) {
  EXPECT_EQ(find_command("get")->cls, CommandClass::read);
  EXPECT_EQ(find_command("HSET")->cls, CommandClass::write);
  EXPECT_EQ(find_command("expire")->cls, CommandClass::expiry);
  EXPECT_EQ(find_command("SPOP")->cls, CommandClass::effect);
  EXPECT_EQ(find_command("xadd")->cls, CommandClass::effect);
  EXPECT_EQ(find_command("XRANGE")->cls, CommandClass::read);
  EXPECT_EQ(find_command("XREADGROUP")->cls, CommandClass::script);
  EXPECT_EQ(find_command("XGROUP")->cls, CommandClass::write);
  EXPECT_EQ(find_command("BLPOP")->cls, CommandClass::blocking);
  EXPECT_EQ(find_command("WATCH")->cls, CommandClass::multi);
  EXPECT_EQ(find_command("DEBUG")->cls, CommandClass::unsupported);
  EXPECT_EQ(find_command("function")->cls, CommandClass::script_admin);
  EXPECT_EQ(find_command("EVALSHA_RO")->cls, CommandClass::read);
  EXPECT_EQ(find_command("NOPE"), nullptr);
  std::set<std::string_view> names;
  for (auto& c : command_table()) EXPECT_TRUE(names.insert(c.name).second) << "duplicate " << c.name;
}

TEST(KvEffect, XaddIdIndexSkipsTheOptions) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(xadd_id_index(V{"XADD", "k", "*", "f", "v"}), 2u);
  EXPECT_EQ(xadd_id_index(V{"XADD", "k", "nomkstream", "maxlen", "~", "10", "limit", "5", "1-*", "f", "v"}), 8u);
  EXPECT_EQ(xadd_id_index(V{"XADD", "k", "MINID", "5", "NOMKSTREAM", "7-1", "f", "v"}), 5u);
  EXPECT_EQ(xadd_id_index(V{"XADD", "k", "MAXLEN", "=", "1", "*", "f", "v"}), 5u);
  EXPECT_EQ(xadd_id_index(V{"XADD", "k", "MAXLEN"}), 0u);
  EXPECT_EQ(xadd_id_index(V{"XADD", "k"}), 0u);
  EXPECT_TRUE(xadd_id_is_generated("*"));
  EXPECT_TRUE(xadd_id_is_generated("123-*"));
  EXPECT_FALSE(xadd_id_is_generated("123-4"));
  EXPECT_FALSE(xadd_id_is_generated("-*x"));
}

TEST(KvEffect, XaddReplaysTheGeneratedId) {
  Effect e;
  e.kind = Effect::xadd_id;
  e.argv = {"XADD", "k", "MAXLEN", "~", "10", "*", "f", "v"};
  e.slot = 5;
  RespParser r;
  ASSERT_TRUE(parse_one(r, "$5\r\n7-123\r\n"));
  std::string want;
  append_command(want, {"XADD", "k", "MAXLEN", "~", "10", "7-123", "f", "v"});
  EXPECT_EQ(effect_request(e, r), want);
  ASSERT_TRUE(parse_one(r, "$-1\r\n"));
  EXPECT_EQ(effect_request(e, r), "") << "NOMKSTREAM on a missing stream changed nothing";
  Effect pop;
  pop.kind = Effect::srem_popped;
  pop.argv = {"SREM", "s"};
  ASSERT_TRUE(parse_one(r, "*2\r\n$1\r\na\r\n$1\r\nb\r\n"));
  want.clear();
  append_command(want, {"SREM", "s", "a", "b"});
  EXPECT_EQ(effect_request(pop, r), want);
  ASSERT_TRUE(parse_one(r, "*0\r\n"));
  EXPECT_EQ(effect_request(pop, r), "");
}

TEST(KvJournal, AppendReopenReplayAndTornTail) {
  sdk::testing::TempDir dir;
  {
    Journal j(dir.path(), JournalFsync::always, 1 << 20);
    j.open();
    EXPECT_TRUE(j.empty());
    for (int i = 0; i < 10; ++i) j.append(cmd({"SET", "k", std::to_string(i)}), 1, 1000 + i);
    j.commit();
    EXPECT_EQ(j.depth(), 10u);
    EXPECT_EQ(j.oldest_time_ms(), 1000);
  }
  // A crash mid-append leaves half a record.
  {
    std::ofstream f(dir.path() / "journal.log", std::ios::app | std::ios::binary);
    f << "TKVJ\x10\x00";
  }
  Journal j(dir.path(), JournalFsync::always, 1 << 20);
  j.open();
  EXPECT_EQ(j.depth(), 10u) << "the torn tail is cut, whole records stay";
  auto recs = j.read_from(j.replay_offset(), 4);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].payload, cmd({"SET", "k", "0"}));
  EXPECT_EQ(recs[3].seq, 4u);
  j.mark_replayed(recs[3].seq, recs[3].end_offset, 1004);
  EXPECT_EQ(j.depth(), 6u);
  EXPECT_EQ(j.oldest_time_ms(), 1004);
  auto rest = j.read_from(j.replay_offset(), 100);
  ASSERT_EQ(rest.size(), 6u);
  EXPECT_EQ(rest[0].payload, cmd({"SET", "k", "4"}));
  j.mark_replayed(rest.back().seq, rest.back().end_offset, std::nullopt);
  j.reset_after_replay();
  EXPECT_TRUE(j.empty());
  EXPECT_EQ(j.size_bytes(), 0u);
  auto seq = j.append(cmd({"DEL", "k"}), 1, 2000);
  EXPECT_EQ(seq, 11u) << "sequence numbers keep increasing after a truncate";
}

TEST(KvJournal, CursorSurvivesReopen) {
  sdk::testing::TempDir dir;
  {
    Journal j(dir.path(), JournalFsync::no, 1 << 20);
    j.open();
    for (int i = 0; i < 1500; ++i) j.append(cmd({"INCR", "c"}), 1, i);
    auto recs = j.read_from(0, 1200);
    for (auto& r : recs) j.mark_replayed(r.seq, r.end_offset, std::nullopt);  // cursor persisted at 1000
  }
  Journal j(dir.path(), JournalFsync::no, 1 << 20);
  j.open();
  EXPECT_EQ(j.depth(), 500u) << "records up to the persisted cursor are not replayed twice";
  EXPECT_EQ(j.read_from(j.replay_offset(), 1)[0].seq, 1001u);
}

TEST(KvJournal, FullAtMaxSize) {
  sdk::testing::TempDir dir;
  Journal j(dir.path(), JournalFsync::no, 4096);
  j.open();
  while (!j.full()) j.append(std::string(100, 'x'), 1, 0);
  EXPECT_GE(j.size_bytes(), 4096u);
}

// The README's key table and sample.toml agree with the schema.
std::set<std::string> keys_of(std::vector<std::string_view> argv, bool* all = nullptr) {
  std::string resp;
  append_command(resp, argv);
  RespParser p;
  p.feed(resp.data(), resp.size());
  EXPECT_EQ(p.next(), RespParser::Next::message);
  IntentKeys k;
  collect_write_keys(p, k);
  if (all) *all = k.all;
  std::set<std::string> out;
  std::size_t off = 0;
  for (std::uint32_t i = 0; i < k.count; ++i) {
    std::uint32_t n;
    std::memcpy(&n, k.encoded.data() + off, 4);
    out.insert(k.encoded.substr(off + 4, n));
    off += 4 + n;
  }
  return out;
}

TEST(KvIntentLog, KeysOfWrites) {
  using S = std::set<std::string>;
  EXPECT_EQ(keys_of({"SET", "a", "1", "EX", "5"}), S({"a"}));
  EXPECT_EQ(keys_of({"mset", "a", "1", "b", "2"}), S({"a", "b"}));
  EXPECT_EQ(keys_of({"DEL", "a", "b", "c"}), S({"a", "b", "c"}));
  EXPECT_EQ(keys_of({"BITOP", "AND", "d", "x", "y"}), S({"d", "x", "y"}));
  EXPECT_EQ(keys_of({"LMOVE", "s", "d", "LEFT", "RIGHT"}), S({"s", "d"}));
  EXPECT_EQ(keys_of({"ZUNIONSTORE", "d", "2", "x", "y", "WEIGHTS", "1", "2"}), S({"d", "x", "y"}));
  EXPECT_EQ(keys_of({"LMPOP", "2", "x", "y", "LEFT"}), S({"x", "y"}));
  EXPECT_EQ(keys_of({"SORT", "l", "BY", "w_*", "STORE", "out"}), S({"l", "out"}));
  // A script's declared KEYS, not its body or arguments.
  EXPECT_EQ(keys_of({"EVAL", "return 1", "2", "x", "y", "arg"}), S({"x", "y"}));
  EXPECT_EQ(keys_of({"FCALL", "f", "1", "x", "arg"}), S({"x"}));
  EXPECT_TRUE(keys_of({"EVALSHA", "abc", "0", "arg"}).empty());
  EXPECT_TRUE(keys_of({"FUNCTION", "LOAD", "code"}).empty());
  EXPECT_EQ(keys_of({"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s1", "s2", ">", ">"}), S({"s1", "s2"}));
  EXPECT_EQ(keys_of({"XGROUP", "CREATE", "s", "g", "$"}), S({"s"}));
  bool all = false;
  EXPECT_TRUE(keys_of({"FLUSHDB"}, &all).empty());
  EXPECT_TRUE(all);
}

TEST(KvIntentLog, RecoversUnsettledIntentsOnly) {
  sdk::testing::TempDir dir;
  {
    IntentLog log(dir.path(), JournalFsync::no);
    EXPECT_TRUE(log.recover().empty());
    log.start_fresh();
    IntentKeys a, b, c;
    a.add("a");
    b.add("b");
    c.all = true;
    auto sa = log.note(a);
    auto sb = log.note(b);
    log.flush();
    log.done(sa);  // settled: the next batch's watermark passes it
    log.note(c);
    log.flush();
    (void)sb;
    // No close(): a crash; the file holds what was flushed.
    auto pending = log.recover();
    EXPECT_EQ(pending.keys, std::set<std::string>({"b"}));
    EXPECT_TRUE(pending.all);
    EXPECT_EQ(pending.writes, 2u);
  }
  // A torn tail (a crash in the middle of a write) is ignored.
  {
    std::ofstream(dir.path() / "intent.0.log", std::ios::app) << "garbage";
    IntentLog log(dir.path(), JournalFsync::no);
    EXPECT_EQ(log.recover().keys, std::set<std::string>({"b"}));
    log.start_fresh();
    EXPECT_TRUE(log.recover().empty());
  }
}

TEST(KvIntentLog, RotatesWhenTheOtherFileIsSettled) {
  sdk::testing::TempDir dir;
  IntentLog log(dir.path(), JournalFsync::no);
  log.start_fresh();
  IntentKeys k;
  k.add(std::string(1000, 'k'));
  for (int i = 0; i < 5000; ++i) {
    auto seq = log.note(k);
    log.flush();
    log.done(seq);
  }
  IntentKeys last;
  last.add("still-in-flight");
  log.note(last);
  log.flush();
  EXPECT_LT(
      std::filesystem::file_size(dir.path() / "intent.0.log") + std::filesystem::file_size(dir.path() / "intent.1.log"),
      4u << 20);
  EXPECT_EQ(log.recover().keys, std::set<std::string>({"still-in-flight"}));
}

TEST(KvDocs, ReadmeAndSampleMatchSchema) {
  auto readme = sdk::read_file(std::filesystem::path(KV_SOURCE_DIR) / "README.md");
  auto sample = toml::parse_file((std::filesystem::path(KV_SOURCE_DIR) / "sample.toml").string());
  auto* stores = sample["stores"].as_table();
  ASSERT_NE(stores, nullptr);
  ASSERT_EQ(stores->size(), 1u);
  auto* store = stores->begin()->second.as_table();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->get("plugin")->value_or(std::string()), "kvstore-dualwrite");
  std::set<std::string> schema_keys;
  for (auto& k : settings_schema()) {
    schema_keys.insert(k.name);
    EXPECT_NE(readme.find("| `" + k.name + "` |"), std::string::npos) << "README lacks key " << k.name;
    if (k.required) {
      EXPECT_TRUE(store->contains(k.name)) << "sample.toml lacks required key " << k.name;
    }
  }
  for (auto& [key, value] : *store) {
    std::string k(key.str());
    if (k == "plugin") continue;
    EXPECT_TRUE(schema_keys.count(k)) << "sample.toml key not in schema: " << k;
  }
  auto sample_text = sdk::read_file(std::filesystem::path(KV_SOURCE_DIR) / "sample.toml");
  for (auto& k : schema_keys)
    EXPECT_NE(sample_text.find(k + " ="), std::string::npos) << "sample.toml does not mention " << k;
  for (auto& c : command_table())
    EXPECT_NE(readme.find("`" + std::string(c.name) + "`"), std::string::npos)
        << "README command table lacks " << c.name;
}

}  // namespace
}  // namespace tandem::kv
