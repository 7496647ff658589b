// The pair's promise, end to end: two real tandemd nodes with all four
// plugins (config-rsync, postgres-wal in synchronous mode, kvstore-dualwrite,
// elasticsearch-rebuild against the stand-in), PostgreSQL, Redis and rsync
// for real, and a load generator writing to PostgreSQL and to the KV endpoint
// throughout. Five full cycles of:
//
//   planned switchover -> switch back (each with a probe writing to both
//   nodes: never two writable at once) -> kill -9 of the primary's tandemd,
//   PostgreSQL and Redis -> promote the secondary (a crash of its tandemd
//   injected at a different promote step in cycles 2-5, then the command
//   rerun) -> the old primary comes back fenced and refuses writes in every
//   store -> rejoin
//
// After every failover: no acknowledged write is missing on the new primary
// (PostgreSQL and KV). At the end: both nodes hold every acknowledged write,
// and the Elasticsearch alias on the active node holds exactly the rows of
// PostgreSQL.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "load_generator.h"
#include "pair_node.h"
#include "pair_world.h"
#include "support/redis_server.h"
#include "tandem/sdk/file_util.h"

namespace tandem::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int kCycles = 5;
constexpr auto kSyncTimeout = 180s;

// The crash injected into the promoting tandemd, per cycle (none in cycle 1).
const char* const kPromoteCrash[kCycles] = {nullptr, "after:epoch", "after:promote:pg", "before:promote:kv",
                                            "after:role"};

class PairFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pair_ = std::make_unique<PairWorld>();
    node(0).start_daemon();
    node(1).start_daemon();
    // beta's postgres-wal builds the standby with pg_basebackup on its first sync.
    expect_in_sync(0, 1, "after the pair started");
    expect_replication_pages(0, 1);
  }

  void TearDown() override {
    if (load_) load_->stop();
    if (HasFailure() && pair_) std::cerr << pair_->describe();
  }

  PairNode& node(int i) { return pair_->node(i); }
  LoadTarget target_of(int i) { return pair_->target_of(i); }

  // The seed's page: the primary lists its standby under the standby's own
  // address, the secondary lists itself under its own. In namespaces the two
  // addresses differ, so each node's page shows a different key.
  void expect_replication_pages(int primary, int standby) {
    const std::string standby_address = node(standby).host().address;
    json p, s;
    EXPECT_TRUE(wait_for(
        [&] {
          p = node(primary).replication_page();
          s = node(standby).replication_page();
          return p.is_object() && p.contains(standby_address) && s.is_object() && s.contains(standby_address);
        },
        30s))
        << "primary's page: " << p.dump() << "; standby's page: " << s.dump();
    EXPECT_EQ(p.value("replication_mode", ""), "master") << p.dump();
    EXPECT_EQ(s.value("replication_mode", ""), "standby") << s.dump();
    if (!pair_->loopback_reason().empty()) return;
    EXPECT_NE(node(primary).host().address, standby_address);
    EXPECT_FALSE(p.contains(node(primary).host().address)) << "the primary lists itself: " << p.dump();
    std::cout << "replication pages: " << node(primary).name() << " " << p.dump() << ", " << node(standby).name() << " "
              << s.dump() << std::endl;
  }

  // Both nodes in their roles, replication running in every store: PostgreSQL
  // streaming with synchronous commit in effect, KV dual-writing with nothing
  // journaled, config pulled, the search alias present on the primary.
  void expect_in_sync(int primary, int standby, const std::string& when) {
    std::string why;
    const bool ok = wait_for([&] { return pair_in_sync(node(primary), node(standby), why); }, kSyncTimeout);
    ASSERT_TRUE(ok) << "the pair did not get in sync " << when << " within " << kSyncTimeout.count() << " s:\n" << why;
  }

  // Runs `tandemctl <args>` on node i and returns its JSON report, asserting success.
  json run_failover(int i, const std::vector<std::string>& args) {
    auto r = node(i).ctl(args);
    json report = json::parse(r.stdout_text, nullptr, false);
    EXPECT_EQ(r.exit_code, 0) << args[0] << " on " << node(i).name() << " failed:\n" << r.stdout_text << r.stderr_text;
    EXPECT_TRUE(report.is_object()) << r.stdout_text;
    if (report.is_object()) {
      EXPECT_EQ(report.value("result", ""), "succeeded") << report.dump(2);
      EXPECT_TRUE(report.contains("steps") && report.contains("loss")) << report.dump(2);
    }
    return report;
  }

  // A planned switchover from `from` to `to`, while a probe writes to both
  // nodes: the old primary must have stopped acknowledging writes before the
  // new one took its first (no moment with two writable nodes).
  json switch_over(int from, int to) {
    WritableProbe probe(target_of(from), target_of(to));
    json report = run_failover(to, {"switchover"});
    load_->retarget(target_of(to));
    std::this_thread::sleep_for(1500ms);  // a store that reopens late shows up here
    probe.stop();
    // Tolerance: two probe threads stamp their acknowledgements a few ms apart.
    constexpr double kStampSlackMs = 100;
    for (auto [store, o] : {std::pair{"PostgreSQL", probe.pg_overlap()}, std::pair{"KV", probe.kv_overlap()}}) {
      EXPECT_TRUE(o.new_took_writes) << store << ": the new primary " << node(to).name() << " took no probe write";
      EXPECT_LT(o.ms, kStampSlackMs) << store << ": " << node(from).name() << " still acknowledged writes " << o.ms
                                     << " ms after " << node(to).name() << " took its first (two writable nodes)";
    }
    return report;
  }

  // Every write the load generator saw acknowledged is on node i, in
  // PostgreSQL and in Redis.
  void expect_nothing_lost(int i, const std::string& when) {
    const std::string missing = missing_acknowledged(*load_, node(i));
    EXPECT_TRUE(missing.empty()) << when << ": " << missing;
  }

  // Lets the load generator get `n` more writes acknowledged in each store.
  void let_load_run(std::size_t n) {
    const auto pg0 = load_->pg_acked().size(), kv0 = load_->kv_acked().size();
    ASSERT_TRUE(
        wait_for([&] { return load_->pg_acked().size() >= pg0 + n && load_->kv_acked().size() >= kv0 + n; }, 60s))
        << "the load generator made no progress: " << load_->last_errors();
  }

  // A config change on the primary reaches the secondary.
  void expect_config_follows(int primary, int standby, const std::string& file, const std::string& text) {
    sdk::atomic_write_file(node(primary).config_tree() / file, text, 0644);
    const auto copy = node(standby).config_tree() / file;
    ASSERT_TRUE(wait_for(
        [&] {
          std::ifstream in(copy);
          std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          return got == text;
        },
        30s))
        << file << " written on " << node(primary).name() << " did not reach " << node(standby).name();
  }

  // The former primary i is back, fenced: it must refuse writes in every store.
  void expect_fenced_refuses_writes(int i, bool pg_was_restarted) {
    json st;
    ASSERT_TRUE(wait_for([&] { return (st = node(i).status()).value("fenced", false); }, 30s))
        << summarize(node(i).name(), st);
    EXPECT_EQ(node(i).replication_page().value("replication_mode", ""), "fenced");
    auto human = node(i).ctl({"status"}, false);
    EXPECT_NE(human.stdout_text.find("fenced: needs rejoin"), std::string::npos) << human.stdout_text;

    // KV: the endpoint is closed or answers with an error; never +OK.
    for (int attempt = 0; attempt < 3; ++attempt) {
      try {
        auto c = node(i).kv_endpoint_client(2s);
        auto reply = c->command({"SET", "fenced-probe", "x"});
        EXPECT_TRUE(reply.is_error()) << "the fenced node's KV endpoint took a write: " << reply.describe();
      } catch (const std::exception&) {
        // refused: no endpoint listens on a fenced node
      }
    }
    EXPECT_EQ(node(i).redis_command({"EXISTS", "fenced-probe"}).integer, 0);

    // PostgreSQL: a primary that came back with the host is shut down by the
    // fence; an INSERT fails from then on.
    auto insert_fails = [&] {
      try {
        // A fresh negative id each time: a write that got through is never
        // mistaken for a refusal by a duplicate key.
        node(i).pg().psql("INSERT INTO load_events(id, payload) VALUES (" + std::to_string(--fenced_probe_id_) +
                          ", 'fenced probe')");
        return false;
      } catch (const std::exception&) {
        return true;
      }
    };
    EXPECT_TRUE(wait_for(insert_fails, 30s)) << node(i).name() << "'s PostgreSQL still takes writes while fenced";
    for (int attempt = 0; attempt < 3; ++attempt) {
      EXPECT_TRUE(insert_fails()) << "attempt " << attempt;
      std::this_thread::sleep_for(300ms);
    }
    if (pg_was_restarted) {
      EXPECT_FALSE(node(i).pg().running()) << "the fence did not shut the former primary down";
    }
    EXPECT_EQ(health_status(node(i).store(node(i).status(), kPgStore)), "stopped");

    // config-rsync: neither serves (an orphaned daemon of the killed tandemd
    // included) nor pulls.
    EXPECT_TRUE(wait_for([&] { return !node(i).port_open(node(i).ports().rsync_serve, 200ms); }, 15s))
        << "the fenced node still serves config on port " << node(i).ports().rsync_serve;
    const json config = node(i).store(node(i).status(), kConfigStore);
    EXPECT_NE(config.value("health", json::object()).value("summary", "").find("fenced"), std::string::npos)
        << config.dump();

    // Elasticsearch: a rebuild (its only write) is refused.
    auto rebuild = node(i).ctl({"rebuild", kSearchStore});
    EXPECT_NE(rebuild.exit_code, 0) << "the fenced node started a rebuild: " << rebuild.stdout_text;
  }

  // Kills the primary p (tandemd, PostgreSQL, Redis) and promotes s. When
  // `crash` names a step, s's tandemd runs with TANDEM_FAULT_INJECT=crash and
  // dies there; it is restarted and promote rerun, which must finish the job.
  json fail_over(int p, int s, const char* crash) {
    const std::uint64_t epoch_before = node(s).status().value("epoch", 0);
    if (crash) {
      node(s).stop_daemon();
      node(s).start_daemon({{"TANDEM_FAULT_INJECT", crash}});
    }
    node(p).kill_daemon();
    node(p).pg().kill9();
    node(p).redis().kill9();

    // What would be lost is stated before anything changes.
    auto dry = node(s).ctl({"promote", "--dry-run"});
    json dry_report = json::parse(dry.stdout_text, nullptr, false);
    EXPECT_EQ(dry_report.value("result", ""), "dry-run") << dry.stdout_text << dry.stderr_text;
    for (const char* store : {kConfigStore, kPgStore, kKvStore, kSearchStore})
      EXPECT_TRUE(dry_report.value("loss", json::object()).contains(store)) << dry_report.dump(2);

    if (crash) {
      auto crashed = node(s).ctl({"promote"});
      EXPECT_NE(crashed.exit_code, 0) << "promote with " << crash << " injected did not fail: " << crashed.stdout_text;
      EXPECT_TRUE(wait_for([&] { return !node(s).daemon_running(); }, 30s));
      const int status = node(s).daemon_exit_status().value_or(-1);
      EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 86)
          << "tandemd did not die at the injected point " << crash << " (wait status " << status << ")";
      node(s).start_daemon();
    }
    json report = run_failover(s, {"promote"});
    // Same end state as an uninterrupted promote: one epoch step, every store promoted.
    EXPECT_EQ(report.value("new_epoch", 0u), epoch_before + 1) << report.dump(2);
    for (const auto& step : report.value("steps", json::array()))
      EXPECT_EQ(step.value("status", ""), "done") << step.dump();
    json st = node(s).status();
    EXPECT_EQ(st.value("role", ""), "primary");
    EXPECT_EQ(st.value("epoch", 0u), epoch_before + 1);
    EXPECT_TRUE(report["time_to_writable_ms"].is_number()) << report.dump(2);
    return report;
  }

  std::unique_ptr<PairWorld> pair_;
  std::unique_ptr<LoadGenerator> load_;
  std::int64_t fenced_probe_id_ = 0;
};

TEST_F(PairFailoverTest, FiveCyclesUnderLoadLoseNoAcknowledgedWrite) {
  int active = 0;
  load_ = std::make_unique<LoadGenerator>(target_of(active));
  let_load_run(200);

  for (int cycle = 1; cycle <= kCycles && !HasFailure(); ++cycle) {
    const int a = active, b = 1 - active;
    SCOPED_TRACE("cycle " + std::to_string(cycle) + ": " + node(a).name() + " primary");
    const std::string tag = "cycle-" + std::to_string(cycle);
    expect_config_follows(a, b, tag + ".conf", "written on " + node(a).name() + " in " + tag + "\n");

    // 1. Planned switchover to b: zero loss.
    switch_over(a, b);
    expect_nothing_lost(b, tag + " switchover");
    expect_in_sync(b, a, tag + " after the switchover");
    ASSERT_FALSE(HasFailure());
    let_load_run(100);

    // 2. Switch back.
    switch_over(b, a);
    expect_nothing_lost(a, tag + " switch back");
    expect_in_sync(a, b, tag + " after switching back");
    ASSERT_FALSE(HasFailure());
    let_load_run(200);

    // 3. The primary crashes whole; b is promoted (with an injected crash of
    // its own tandemd in cycles 2-5). Synchronous replication and dual
    // writes: nothing acknowledged may be missing.
    json report = fail_over(a, b, kPromoteCrash[cycle - 1]);
    load_->retarget(target_of(b));
    expect_nothing_lost(b, tag + " failover");
    ASSERT_FALSE(HasFailure());
    std::cout << tag << ": failover writable after " << report["time_to_writable_ms"] << " ms; loss stated:";
    const json losses = report.value("loss", json::object());
    for (const auto& [store, loss] : losses.items())
      std::cout << " " << store << ": " << loss.value("summary", "?") << ";";
    std::cout << std::endl;

    // 4. The old primary's host comes back: Redis restarts; in cycles 1, 3
    // and 4 PostgreSQL too, as a boot would start it (a writable primary). tandemd
    // finds its peer at a higher epoch and fences.
    node(a).redis().restart();
    const bool restart_pg = cycle % 3 != 2;  // cycles 1, 3, 4: alpha twice, beta once
    if (restart_pg) node(a).pg().start();
    node(a).start_daemon();
    expect_fenced_refuses_writes(a, restart_pg);
    ASSERT_FALSE(HasFailure());

    // 5. Rejoin: a follows b in every store.
    run_failover(a, {"rejoin"});
    expect_in_sync(b, a, tag + " after the rejoin");
    expect_config_follows(b, a, tag + "-after.conf", "written on " + node(b).name() + " after " + tag + "\n");
    expect_nothing_lost(b, tag + " after the rejoin");
    active = b;
  }
  ASSERT_FALSE(HasFailure());

  // The end: stop writing, let replication settle; both nodes hold every
  // acknowledged write.
  load_->stop();
  const int standby = 1 - active;
  std::cout << "acknowledged: " << load_->pg_acked().size() << " PostgreSQL rows, " << load_->kv_acked().size()
            << " KV writes; failed attempts: " << load_->pg_failures() << " / " << load_->kv_failures() << std::endl;
  expect_nothing_lost(active, "at the end");
  EXPECT_TRUE(wait_for([&] { return node(standby).pg_ids() == node(active).pg_ids(); }, 60s))
      << "the standby's PostgreSQL did not catch up with the primary";
  EXPECT_TRUE(node(standby).missing_kv_keys(load_->kv_acked()).empty());

  // The search alias on the active node matches PostgreSQL exactly after a rebuild.
  const auto before = details(node(active).store(node(active).status(), kSearchStore)).value("last_rebuild", json());
  auto rebuild = node(active).ctl({"rebuild", kSearchStore});
  ASSERT_EQ(rebuild.exit_code, 0) << rebuild.stdout_text << rebuild.stderr_text;
  json last;
  ASSERT_TRUE(wait_for(
      [&] {
        json d = details(node(active).store(node(active).status(), kSearchStore));
        last = d.value("last_rebuild", json());
        return !d.value("rebuilding", true) && last.is_object() && last != before;
      },
      120s))
      << "the rebuild did not finish: " << last.dump();
  ASSERT_EQ(last.value("result", ""), "success") << last.dump(2);
  const auto rows = node(active).pg_ids();
  std::vector<std::int64_t> docs;
  for (std::size_t from = 0;; from += 5000) {
    json page = node(active).es_get(std::string("/") + kSearchAlias +
                                    "/_search?size=5000&from=" + std::to_string(from) + "&_source=false");
    const auto& hits = page.at("hits").at("hits");
    for (const auto& h : hits) docs.push_back(std::stoll(h.at("_id").get<std::string>()));
    if (hits.size() < 5000) break;
  }
  std::sort(docs.begin(), docs.end());
  EXPECT_EQ(docs.size(), rows.size());
  EXPECT_TRUE(docs == rows) << "ids in the alias differ from the rows: " << describe_missing(missing_from(rows, docs))
                            << " from the index; " << describe_missing(missing_from(docs, rows)) << " from PostgreSQL";
}

}  // namespace
}  // namespace tandem::e2e
