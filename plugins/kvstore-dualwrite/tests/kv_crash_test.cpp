// kill -9 of the hosting process during a write load: every acknowledged write
// is on the secondary's Redis (and the primary's), because a write is only
// acknowledged after both applied it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include "divergence.h"
#include "fence.h"
#include "kv_pair_fixture.h"
#include "support/background_process.h"

namespace tandem::kv::testing {
namespace {

TEST(KvCrash, KillNineOfTheHostLosesNoAcknowledgedWrite) {
  RedisServer local(aof_options());
  RedisServer peer(aof_options());
  sdk::testing::TempDir dir;
  int port = sdk::testing::free_port();
  nlohmann::json config{{"listen_port", port},      {"local_port", local.port()}, {"peer_port", peer.port()},
                        {"peer_host", "127.0.0.1"}, {"sample_rate", 0},           {"reconnect_interval", "100ms"}};
  std::ofstream(dir.path() / "kv.json") << config.dump();
  sdk::ChildSpec spec;
  spec.argv = {KV_TEST_RUNNER, (dir.path() / "kv.json").string(), (dir.path() / "data").string()};
  spec.log_file = dir.path() / "runner.log";
  sdk::ChildProcess runner = testsupport::start_background(spec);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, std::chrono::seconds(20))) << runner.log_tail();

  std::vector<std::unique_ptr<Writer>> writers;
  for (int i = 0; i < 4; ++i) writers.push_back(std::make_unique<Writer>(port, i));
  for (auto& w : writers) w->start();
  auto every_writer_past = [&](std::size_t n) {
    for (auto& w : writers)
      if (w->acked_count() <= n) return false;
    return true;
  };
  ASSERT_TRUE(sdk::testing::eventually([&] { return every_writer_past(1500); }, std::chrono::seconds(60)))
      << runner.log_tail();
  runner.kill();
  for (auto& w : writers) w->stop();
  std::size_t acked = 0;
  for (auto& w : writers) {
    acked += w->acked_count();
    expect_acked_present(*w, peer.port(), "secondary");
    expect_acked_present(*w, local.port(), "primary");
  }
  EXPECT_GT(acked, 6000u);

  // The host comes back and serves again on the same data dir.
  sdk::ChildProcess again = testsupport::start_background(spec);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, std::chrono::seconds(20))) << again.log_tail();
  auto c = connect(port);
  EXPECT_EQ(c->command({"SET", "after-restart", "1"}).str, "OK");
  RedisClient p("127.0.0.1", peer.port());
  EXPECT_EQ(p.command({"GET", "after-restart"}).str, "1");
}

}  // namespace
}  // namespace tandem::kv::testing

namespace tandem::kv::testing {
namespace {

// Pipelines of SETs through the endpoint, as fast as it takes them: unique
// keys (one per write, checked afterwards) and a small set of hot keys that
// every batch overwrites (so writes in flight at a crash touch keys that
// acknowledged writes touched too). With `scripts`, the writes are EVALs and
// FCALLs (of kCrashLibrary) that each set a unique key and also write hot
// keys: a counter, a hash and a list every script of every writer touches.
constexpr const char* kCrashLibrary =
    "#!lua name=crashlib\n"
    "redis.register_function('fxset', function(keys, args) redis.call('set', keys[1], args[1]) "
    "redis.call('rpush', keys[3], args[1]) return redis.call('incrby', keys[2], 2) end)\n";
constexpr const char* kCrashScript =
    "redis.call('set', KEYS[1], ARGV[1]) redis.call('hset', KEYS[2], ARGV[1], ARGV[1]) "
    "return redis.call('incr', KEYS[3])";

class PipelinedWriter {
 public:
  PipelinedWriter(int port, int id, bool scripts = false) : port_(port), id_(id), scripts_(scripts) {}
  ~PipelinedWriter() { stop(); }
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::size_t acked_count() const { return acked_count_.load(); }
  // The unique keys acknowledged, with their values.
  std::vector<std::pair<std::string, std::string>> acked() const {
    std::lock_guard l(mu_);
    return acked_;
  }
  // The first few errors scripts got (for messages).
  std::vector<std::string> errors() const {
    std::lock_guard l(mu_);
    return errors_;
  }

 private:
  void run() {
    std::unique_ptr<RedisClient> c;
    long seq = 0;
    while (!stop_) {
      try {
        if (!c) c = std::make_unique<RedisClient>("127.0.0.1", port_, std::chrono::seconds(3));
        std::vector<std::vector<std::string>> batch;
        std::vector<std::pair<std::string, std::string>> unique;
        for (int i = 0; i < 32; ++i, ++seq) {
          auto value = std::to_string(seq);
          if (scripts_) {
            // Unique keys s<id>:<seq> (EVAL) and f<id>:<seq> (FCALL).
            auto key = (i % 2 ? "f" : "s") + std::to_string(id_) + ":" + value;
            if (i % 2)
              batch.push_back({"FCALL", "fxset", "3", key, "hot:fctr", "hot:flist", value});
            else
              batch.push_back({"EVAL", kCrashScript, "3", key, "hot:shash", "hot:sctr", value});
            unique.emplace_back(key, value);
            continue;
          }
          auto key = "p" + std::to_string(id_) + ":" + value;
          batch.push_back({"SET", key, value});
          unique.emplace_back(key, value);
          if (i % 4 == 0)
            batch.push_back({"SET", "hot:" + std::to_string(seq % 20), value + "-" + std::to_string(id_)});
        }
        auto replies = c->pipeline(batch);
        std::lock_guard l(mu_);
        std::size_t u = 0;
        for (std::size_t i = 0; i < batch.size(); ++i) {
          if (scripts_) {
            if (replies[i].type == RedisValue::Type::integer) {
              acked_.push_back(unique[u]);
              ++acked_count_;
            } else if (errors_.size() < 5) {
              errors_.push_back(replies[i].str);
            }
            ++u;
            continue;
          }
          bool is_unique = batch[i][1][0] == 'p';
          if (is_unique) {
            if (replies[i].type == RedisValue::Type::status && replies[i].str == "OK") {
              acked_.push_back(unique[u]);
              ++acked_count_;
            }
            ++u;
          }
        }
      } catch (const std::exception&) {
        c.reset();  // the endpoint died or is not accepting yet
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  int port_;
  int id_;
  bool scripts_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> acked_;
  std::vector<std::string> errors_;
  std::atomic<std::size_t> acked_count_{0};
  std::thread thread_;
};

// Every key and string value of one Redis (SCAN, then pipelined GETs), but
// tandem's own keys (the epoch marker, the peer's journal replay cursor: not
// application data, skipped by diag compare too).
std::map<std::string, std::string> string_dump(int port) {
  RedisClient c("127.0.0.1", port);
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    auto r = c.command({"SCAN", cursor, "COUNT", "1000"});
    if (r.type != RedisValue::Type::array || r.elements.size() != 2) throw std::runtime_error(r.describe());
    cursor = r.elements[0].str;
    for (auto& k : r.elements[1].elements)
      if (!reserved_key(k.str)) keys.push_back(k.str);
  } while (cursor != "0");
  std::map<std::string, std::string> out;
  for (std::size_t off = 0; off < keys.size(); off += 1000) {
    std::vector<std::vector<std::string>> gets;
    for (std::size_t i = off; i < std::min(keys.size(), off + 1000); ++i) gets.push_back({"GET", keys[i]});
    auto replies = c.pipeline(gets);
    for (std::size_t i = 0; i < replies.size(); ++i) out[keys[off + i]] = replies[i].describe();
  }
  return out;
}

// Keys that differ between the two dumps (missing on one side included), for messages.
std::vector<std::string> differences(const std::map<std::string, std::string>& a,
                                     const std::map<std::string, std::string>& b) {
  std::vector<std::string> out;
  for (auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end())
      out.push_back(k + " only on the local Redis");
    else if (it->second != v)
      out.push_back(k + ": local " + v + ", peer " + it->second);
  }
  for (auto& [k, v] : b)
    if (!a.count(k)) out.push_back(k + " only on the peer's Redis");
  return out;
}

// The product's own full compare (what `tandemctl diag <store> compare` runs):
// every key of both sides, by type, absolute expiry and content digest.
std::uint64_t full_compare_differing(int local_port, int peer_port) {
  RedisSyncClient l(RedisAddress{"127.0.0.1", local_port, {}}, 0, std::chrono::seconds(5));
  RedisSyncClient p(RedisAddress{"127.0.0.1", peer_port, {}}, 0, std::chrono::seconds(5));
  return compare_all(l, p, 10).differing;
}

// The writes the restarted host found in flight ("reconciled after an unclean
// stop: N writes were in flight"), 0 when it logged none.
long in_flight_reconciled(const std::string& log) {
  static const std::string marker = "reconciled after an unclean stop: ";
  auto at = log.rfind(marker);
  return at == std::string::npos ? 0 : std::atol(log.c_str() + at + marker.size());
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int crash_runs() {
  const char* env = std::getenv("KV_CRASH_RUNS");  // the acceptance run: KV_CRASH_RUNS=50
  int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 3;
}

// kill -9 of the host at a random moment of a pipelined SET load, `runs`
// times; after each restart the two Redis servers must be equal (a full
// compare) and hold every acknowledged write. journal_mode: the peer's Redis
// is down during the load (writes are journaled), stays down while the host
// restarts (its reconciliation goes to the journal), then comes back and the
// journal drains. scripts: two more writers whose load is EVALs
// and FCALLs (PipelinedWriter), so scripts are in flight at the kill too.
void crash_under_load(bool journal_mode, bool scripts = false) {
  RedisServer local(aof_options());
  RedisServer peer(aof_options());
  sdk::testing::TempDir dir;
  int port = sdk::testing::free_port();
  nlohmann::json config{{"listen_port", port},        {"local_port", local.port()},
                        {"peer_port", peer.port()},   {"peer_host", "127.0.0.1"},
                        {"sample_rate", 0},           {"reconnect_interval", "100ms"},
                        {"connect_timeout", "500ms"}, {"journal_dir", (dir.path() / "journal").string()}};
  std::ofstream(dir.path() / "kv.json") << config.dump();
  sdk::ChildSpec spec;
  spec.argv = {KV_TEST_RUNNER, (dir.path() / "kv.json").string(), (dir.path() / "data").string()};
  spec.log_file = dir.path() / "runner.log";
  std::mt19937 rng(std::random_device{}());
  const int runs = crash_runs();
  const char* mode = journal_mode ? (scripts ? "journal mode with scripts" : "journal mode")
                                  : (scripts ? "dual mode with scripts" : "dual mode");
  // The library on both servers (FLUSHALL keeps functions).
  if (scripts) {
    for (int p : {local.port(), peer.port()})
      ASSERT_EQ(RedisClient("127.0.0.1", p).command({"FUNCTION", "LOAD", "REPLACE", kCrashLibrary}).str, "crashlib");
  }
  std::size_t total_scripts_acked = 0;
  std::size_t total_acked = 0, total_missing = 0, total_differing = 0;
  long total_in_flight = 0;
  std::vector<double> equal_ms;  // per run: from the restart (journal mode: the peer's return) to equal servers
  for (int run = 0; run < runs; ++run) {
    SCOPED_TRACE("run " + std::to_string(run + 1) + " of " + std::to_string(runs));
    // Each run starts from empty servers (the host is down), so the compare stays quick.
    for (int p : {local.port(), peer.port()}) RedisClient("127.0.0.1", p).command({"FLUSHALL"});
    if (journal_mode) peer.stop();
    sdk::ChildProcess runner = testsupport::start_background(spec);
    ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, std::chrono::seconds(20))) << runner.log_tail();
    std::vector<std::unique_ptr<PipelinedWriter>> writers;
    for (int i = 0; i < 4; ++i) writers.push_back(std::make_unique<PipelinedWriter>(port, run * 10 + i));
    if (scripts)
      for (int i = 4; i < 6; ++i) writers.push_back(std::make_unique<PipelinedWriter>(port, run * 10 + i, true));
    for (auto& w : writers) w->start();
    // Let the load get going, then kill at a random moment of it.
    ASSERT_TRUE(sdk::testing::eventually([&] { return writers[0]->acked_count() > 64; }, std::chrono::seconds(30)))
        << runner.log_tail();
    if (scripts) {
      ASSERT_TRUE(
          sdk::testing::eventually([&] { return writers.back()->acked_count() > 64; }, std::chrono::seconds(30)))
          << "scripts: " << (writers.back()->errors().empty() ? "" : writers.back()->errors().front()) << "\n"
          << runner.log_tail();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1500)(rng)));
    runner.kill();
    for (auto& w : writers) w->stop();

    // The host comes back; reconciliation runs before it takes a write.
    const auto log_before = std::filesystem::file_size(dir.path() / "runner.log");
    auto t_restart = std::chrono::steady_clock::now();
    sdk::ChildProcess again = testsupport::start_background(spec);
    auto write_marker = [&] {
      try {
        RedisClient c("127.0.0.1", port, std::chrono::seconds(3));
        return c.command({"SET", "marker", std::to_string(run)}).str == "OK";
      } catch (const std::exception&) {
        return false;
      }
    };
    ASSERT_TRUE(sdk::testing::eventually(write_marker, std::chrono::seconds(30))) << again.log_tail();
    if (journal_mode) {
      peer.restart();
      t_restart = std::chrono::steady_clock::now();
      auto journal = dir.path() / "journal" / "journal.log";
      ASSERT_TRUE(sdk::testing::eventually(
          [&] { return std::filesystem::exists(journal) && std::filesystem::file_size(journal) == 0; },
          std::chrono::seconds(60)))
          << "the journal did not drain: " << again.log_tail();
      // The peer's replay cursor is deleted (asynchronously) right after the drain.
      RedisClient p("127.0.0.1", peer.port());
      EXPECT_TRUE(sdk::testing::eventually(
          [&] {
            return p.command({"KEYS", "__tandem:replay:*"}).elements.empty();
          },
          std::chrono::seconds(5)))
          << "the replay cursor stayed on the peer";
    }
    equal_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_restart).count());
    auto a = string_dump(local.port());
    auto b = string_dump(peer.port());
    auto diff = differences(a, b);
    auto differing = full_compare_differing(local.port(), peer.port());
    EXPECT_TRUE(diff.empty()) << diff.size() << " keys differ after the restart, e.g. " << diff.front() << "\n"
                              << again.log_tail();
    EXPECT_EQ(differing, 0u) << "the full compare (diag compare) finds differing keys";
    std::size_t acked = 0, missing = 0;
    for (auto& w : writers)
      for (auto& [k, v] : w->acked()) {
        ++acked;
        auto want = "\"" + v + "\"";
        if (a[k] != want || b[k] != want) ++missing;
      }
    EXPECT_EQ(missing, 0u) << "acknowledged writes missing on a server";
    if (scripts) {
      // Each acknowledged EVAL added 1 to hot:sctr, each FCALL 2 to hot:fctr;
      // one in flight at the kill may be on both (the compare above says
      // they are equal), never on one only.
      std::size_t evals = 0, fcalls = 0;
      for (std::size_t i = 4; i < writers.size(); ++i)
        for (auto& kv : writers[i]->acked()) ++(kv.first[0] == 's' ? evals : fcalls);
      total_scripts_acked += evals + fcalls;
      auto number = [](const std::string& described) {
        return described.size() > 2 ? std::stoll(described.substr(1, described.size() - 2)) : 0;
      };
      EXPECT_GE(number(a["hot:sctr"]), static_cast<long long>(evals)) << "acknowledged EVALs lost";
      EXPECT_GE(number(a["hot:fctr"]), 2 * static_cast<long long>(fcalls)) << "acknowledged FCALLs lost";
      std::cout << mode << " run " << run + 1 << ": " << evals << " EVALs and " << fcalls
                << " FCALLs acknowledged; counters " << a["hot:sctr"] << " / " << a["hot:fctr"] << std::endl;
    }
    auto log = read_text(dir.path() / "runner.log");
    long in_flight = in_flight_reconciled(log.substr(std::min<std::size_t>(log.size(), log_before)));
    total_acked += acked;
    total_missing += missing;
    total_differing += std::max<std::size_t>(diff.size(), differing);
    total_in_flight += in_flight;
    std::cout << mode << " run " << run + 1 << ": " << acked << " acknowledged writes, " << in_flight
              << " in flight at the kill (reconciled), " << a.size() << " keys; differing: " << diff.size()
              << " (full compare " << differing << "), acknowledged writes missing: " << missing << "; equal "
              << static_cast<long>(equal_ms.back()) << " ms after the " << (journal_mode ? "peer's return" : "restart")
              << std::endl;
    again.stop();
    if (::testing::Test::HasFailure()) break;
  }
  std::sort(equal_ms.begin(), equal_ms.end());
  std::cout << mode << ": " << equal_ms.size() << " kill -9 runs, " << total_acked << " acknowledged writes, "
            << total_in_flight << " writes in flight at the kills, " << total_differing << " differing keys, "
            << total_missing << " acknowledged writes missing; time to equal (ms) median "
            << static_cast<long>(equal_ms[equal_ms.size() / 2]) << ", max " << static_cast<long>(equal_ms.back())
            << std::endl;
  EXPECT_GT(total_acked, 0u);
  if (scripts) {
    EXPECT_GT(total_scripts_acked, 0u);
  }
}

// The journal is replayed to the peer after an outage; tandemd is killed -9
// in the middle of the replay and restarted. Non-idempotent records (INCR,
// RPUSH) must be applied exactly once on the peer: the replay cursor saved
// locally lags what the peer applied, the peer-side cursor does not.
TEST(KvCrash, KillNineDuringJournalReplayAppliesEachIncrOnce) {
  RedisServer local(aof_options());
  RedisServer peer(aof_options());
  sdk::testing::TempDir dir;
  int port = sdk::testing::free_port();
  nlohmann::json config{{"listen_port", port},        {"local_port", local.port()},
                        {"peer_port", peer.port()},   {"peer_host", "127.0.0.1"},
                        {"sample_rate", 0},           {"reconnect_interval", "100ms"},
                        {"connect_timeout", "500ms"}, {"journal_dir", (dir.path() / "journal").string()}};
  std::ofstream(dir.path() / "kv.json") << config.dump();
  sdk::ChildSpec spec;
  spec.argv = {KV_TEST_RUNNER, (dir.path() / "kv.json").string(), (dir.path() / "data").string()};
  spec.log_file = dir.path() / "runner.log";
  constexpr int kIncrs = 40000;  // journal records: one INCR and, every 4th, one RPUSH
  std::mt19937 rng(std::random_device{}());
  const int wanted_runs = crash_runs();
  int mid_replay_kills = 0;
  for (int attempt = 0; attempt < wanted_runs + 5 && mid_replay_kills < wanted_runs; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt + 1));
    for (int p : {local.port(), peer.port()}) RedisClient("127.0.0.1", p).command({"FLUSHALL"});
    peer.stop();
    sdk::ChildProcess runner = testsupport::start_background(spec);
    ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, std::chrono::seconds(20))) << runner.log_tail();
    {
      RedisClient c("127.0.0.1", port, std::chrono::seconds(30));
      std::vector<std::vector<std::string>> batch;
      int pushes = 0;
      for (int i = 0; i < kIncrs; ++i) {
        batch.push_back({"INCR", "ctr"});
        if (i % 4 == 0) batch.push_back({"RPUSH", "list", std::to_string(pushes++)});
        if (batch.size() >= 1000 || i + 1 == kIncrs) {
          for (auto& r : c.pipeline(batch)) ASSERT_FALSE(r.is_error()) << r.str;
          batch.clear();
        }
      }
      ASSERT_EQ(c.command({"GET", "ctr"}).str, std::to_string(kIncrs));
      // A few more writes, one at a time: their intent batches carry the
      // settled watermark past every INCR, so crash reconciliation (which
      // would copy unsettled keys over) has nothing to say about ctr/list and
      // only the replay decides what the peer ends with.
      for (int i = 0; i < 3; ++i) ASSERT_EQ(c.command({"SET", "settle", std::to_string(i)}).str, "OK");
    }
    peer.restart();
    // Kill at a random moment soon after the replay has started on the peer.
    long at_kill = 0;
    const auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 150)(rng));
    {
      RedisClient p("127.0.0.1", peer.port());
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (std::chrono::steady_clock::now() < deadline) {
        auto v = p.command({"GET", "ctr"});
        if (v.type == RedisValue::Type::string && !v.str.empty()) {
          at_kill = std::stol(v.str);
          if (at_kill > 0) break;
        }
      }
      std::this_thread::sleep_for(delay);
      runner.kill();
      auto v = p.command({"GET", "ctr"});
      if (v.type == RedisValue::Type::string) at_kill = std::stol(v.str);
    }
    ASSERT_GT(at_kill, 0) << "the replay did not start: " << runner.log_tail();
    sdk::ChildProcess again = testsupport::start_background(spec);
    auto journal = dir.path() / "journal" / "journal.log";
    ASSERT_TRUE(sdk::testing::eventually(
        [&] { return std::filesystem::exists(journal) && std::filesystem::file_size(journal) == 0; },
        std::chrono::seconds(60)))
        << "the journal did not drain: " << again.log_tail();
    RedisClient l("127.0.0.1", local.port());
    RedisClient p("127.0.0.1", peer.port());
    auto peer_ctr = p.command({"GET", "ctr"}).str;
    auto peer_len = p.command({"LLEN", "list"}).integer;
    std::cout << "attempt " << attempt + 1 << ": killed with " << at_kill << " of " << kIncrs
              << " INCRs applied on the peer; after the restart the peer has " << peer_ctr << ", list length "
              << peer_len << std::endl;
    if (at_kill >= kIncrs) continue;  // the replay had finished: not a mid-replay kill
    ++mid_replay_kills;
    EXPECT_EQ(peer_ctr, std::to_string(kIncrs)) << "INCRs applied twice (or lost) on the peer";
    EXPECT_EQ(peer_len, l.command({"LLEN", "list"}).integer) << "RPUSHes applied twice (or lost) on the peer";
    // The runner deletes the peer's replay cursor key just after the journal
    // is truncated: it keeps running until then (stopped earlier, it could
    // leave the key behind, which is harmless but makes the servers differ).
    EXPECT_TRUE(sdk::testing::eventually([&] { return snapshot(local.port()) == snapshot(peer.port()); },
                                         std::chrono::seconds(5)))
        << "the two Redis servers differ after the replay";
    again.stop();
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GE(mid_replay_kills, 1) << "no kill landed in the middle of a replay";
}

TEST(KvCrash, KillNineAtRandomMomentsLeavesBothServersEqualInDualMode) { crash_under_load(false); }

TEST(KvCrash, KillNineAtRandomMomentsLeavesBothServersEqualInJournalMode) { crash_under_load(true); }

// Scripts (EVAL, FCALL) in flight at the kill, beside plain writes: after the
// restart both servers are equal and every acknowledged script's keys are on both.
TEST(KvCrash, KillNineWithScriptsInFlightLeavesBothServersEqual) { crash_under_load(false, true); }

// The same while writes are journaled (the peer down): scripts run on the
// local Redis and their effects are journaled; the kill leaves some in flight.
TEST(KvCrash, KillNineWithScriptsInFlightWhileJournalingLeavesBothServersEqual) { crash_under_load(true, true); }

}  // namespace
}  // namespace tandem::kv::testing
