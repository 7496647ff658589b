// Integration: a primary and a secondary plugin over real rsync daemons (the
// plugins' own, on loopback), changes reported through inotify + notify_peer.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "pair_harness.h"
#include "pull_runner.h"
#include "support/silent_server.h"

namespace tandem::config_rsync::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sdk::testing::eventually;

constexpr auto kArrive = 15s;  // generous: a shared, noisy machine

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(ConfigRsyncPair, CreateChangeDeleteRenameChmodAndOddNamesReachTheSecondary) {
  PluginPair pair;  // interval 60 s: everything below must arrive through the prompt path
  pair.start();
  ASSERT_TRUE(pair.wait_in_sync()) << pair.beta->health().summary;
  const fs::path a = pair.alpha_tree, b = pair.beta_tree;

  write_file(a / "app.conf", "listen = 80\n");
  EXPECT_TRUE(eventually([&] { return read_file_or(b / "app.conf") == "listen = 80\n"; }, kArrive)) << "create";

  write_file(a / "app.conf", "listen = 8080\n");
  EXPECT_TRUE(eventually([&] { return read_file_or(b / "app.conf") == "listen = 8080\n"; }, kArrive)) << "change";

  write_file(a / "sub" / "deep" / "x.conf", "x\n");
  EXPECT_TRUE(eventually([&] { return read_file_or(b / "sub" / "deep" / "x.conf") == "x\n"; }, kArrive))
      << "file in new subdirectories";

  fs::rename(a / "app.conf", a / "renamed.conf");
  EXPECT_TRUE(eventually(
      [&] { return read_file_or(b / "renamed.conf") == "listen = 8080\n" && !fs::exists(b / "app.conf"); }, kArrive))
      << "rename";

  fs::permissions(a / "renamed.conf", fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(eventually([&] { return mode_of(b / "renamed.conf") == 0600; }, kArrive)) << "chmod";

  const std::string odd = "name with spaces ünïcødé 日本.conf";
  write_file(a / odd, "odd\n");
  EXPECT_TRUE(eventually([&] { return read_file_or(b / odd) == "odd\n"; }, kArrive)) << "spaces and non-ASCII";

  fs::remove(a / "sub" / "deep" / "x.conf");
  EXPECT_TRUE(eventually([&] { return !fs::exists(b / "sub" / "deep" / "x.conf"); }, kArrive)) << "delete";

  // Both sides show both checksums, and that they match.
  EXPECT_TRUE(eventually(
      [&] {
        auto ah = pair.alpha->health(), bh = pair.beta->health();
        return bh.details.value("checksums_match", "") == "true" && ah.details.value("checksums_match", "") == "true";
      },
      kArrive))
      << pair.alpha->health().details.dump() << "\n"
      << pair.beta->health().details.dump();
  auto bh = pair.beta->health();
  EXPECT_EQ(bh.status, sdk::HealthStatus::ok) << bh.summary;
  EXPECT_EQ(bh.details["primary_checksum"], pair.alpha->health().details["local_checksum"]);
  ASSERT_TRUE(bh.lag_seconds.has_value());
  bool has_match_cell = false;
  for (auto& e : bh.replication)
    if (e.field == "config_checksum_match" && e.value == "true") has_match_cell = true;
  EXPECT_TRUE(has_match_cell);
  EXPECT_GT(pair.alpha->health().details.value("notifications_sent", 0), 0);
}

TEST(ConfigRsyncPair, SameSizeEditWithAnUnchangedMtimeIsStillPulled) {
  // rsync's quick check skips files whose size and mtime match; the checksum
  // comparison after each pull must catch such an edit.
  PluginPair pair;
  write_file(pair.alpha_tree / "port.conf", "port = 1111\n");
  pair.start();
  ASSERT_TRUE(pair.wait_in_sync()) << pair.beta->health().summary;
  ASSERT_EQ(read_file_or(pair.beta_tree / "port.conf"), "port = 1111\n");
  auto mtime = fs::last_write_time(pair.alpha_tree / "port.conf");
  write_file(pair.alpha_tree / "port.conf", "port = 2222\n");
  fs::last_write_time(pair.alpha_tree / "port.conf", mtime);  // same size, same mtime
  EXPECT_TRUE(eventually([&] { return read_file_or(pair.beta_tree / "port.conf") == "port = 2222\n"; }, kArrive))
      << pair.beta->health().summary;
}

TEST(ConfigRsyncPair, BurstOfThousandChangesGivesBoundedPulls) {
  PluginPair pair;
  pair.start();
  ASSERT_TRUE(pair.wait_in_sync()) << pair.beta->health().summary;
  const auto pulls_before = pulls_of(*pair.beta);
  for (int i = 0; i < 1000; ++i)
    write_file(pair.alpha_tree / "burst" / ("f" + std::to_string(i) + ".conf"), std::to_string(i));
  ASSERT_TRUE(eventually(
      [&] {
        return read_file_or(pair.beta_tree / "burst" / "f999.conf") == "999" &&
               read_file_or(pair.beta_tree / "burst" / "f0.conf") == "0" &&
               pair.beta->health().details.value("checksums_match", "") == "true";
      },
      30s))
      << pair.beta->health().summary;
  std::size_t copied = 0;
  for (auto& e : fs::directory_iterator(pair.beta_tree / "burst")) copied += e.is_regular_file();
  EXPECT_EQ(copied, 1000u);
  const auto pulls = pulls_of(*pair.beta) - pulls_before;
  RecordProperty("pulls_for_1000_changes", static_cast<int>(pulls));
  std::cout << "pulls for a burst of 1000 changes: " << pulls << "\n";
  EXPECT_GE(pulls, 1u);
  EXPECT_LE(pulls, 10u) << "a burst must coalesce into a few pulls, not one per file";
  EXPECT_LE(pair.alpha->health().details.value("notifications_sent", 0), 10);
}

TEST(ConfigRsyncPair, HalfWrittenFileIsNeverVisibleOnTheSecondary) {
  PluginPair pair;
  const std::size_t size = 4u << 20;
  write_file(pair.alpha_tree / "big.bin", std::string(size, 'a'));
  pair.start();
  ASSERT_TRUE(pair.wait_in_sync()) << pair.beta->health().summary;
  const fs::path target = pair.beta_tree / "big.bin";
  ASSERT_EQ(read_file_or(target).size(), size);

  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    while (!done) {
      std::string content = read_file_or(target);
      ++reads;
      bool whole = content.size() == size && content.find_first_not_of(content[0]) == std::string::npos;
      if (!whole) ++torn;
    }
  });
  for (char version = 'b'; version <= 'i'; ++version) {
    replace_file_atomically(pair.staging, pair.alpha_tree / "big.bin", std::string(size, version));
    EXPECT_TRUE(eventually(
        [&] {
          auto c = read_file_or(target);
          return !c.empty() && c[0] == version;
        },
        kArrive))
        << "version " << version;
  }
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0) << "a reader saw a file that was neither the old nor the new version";
  EXPECT_GT(reads.load(), 10);
}

TEST(ConfigRsyncPair, PrepareReportsConfigThatDiffers) {
  PluginPair pair;
  write_file(pair.alpha_tree / "a.conf", "1\n");
  pair.start();
  ASSERT_TRUE(pair.wait_in_sync()) << pair.beta->health().summary;

  sdk::FailoverRequest req;
  auto same = pair.beta_loop->exclusive([&] { return pair.beta->prepare(req); });
  ASSERT_TRUE(same) << same.message();
  EXPECT_TRUE(same->ready);
  EXPECT_FALSE(same->loss["config_differs"].get<bool>()) << same->loss.dump();
  EXPECT_NE(same->loss_summary.find("nothing"), std::string::npos) << same->loss_summary;

  // The secondary stops hearing about changes: its copy falls behind.
  pair.alpha_host->connect_peer(nullptr);
  write_file(pair.alpha_tree / "late.conf", "late\n");
  std::this_thread::sleep_for(500ms);
  auto differs = pair.beta_loop->exclusive([&] { return pair.beta->prepare(req); });
  ASSERT_TRUE(differs) << differs.message();
  EXPECT_TRUE(differs->loss["config_differs"].get<bool>()) << differs->loss.dump();
  EXPECT_NE(differs->loss_summary.find("config differs"), std::string::npos) << differs->loss_summary;
  EXPECT_NE(differs->loss.dump().find("late.conf"), std::string::npos) << differs->loss.dump();
  EXPECT_FALSE(fs::exists(pair.beta_tree / "late.conf")) << "prepare must change nothing";

  // The dry-run diagnostic shows the same, also changing nothing.
  auto diag = pair.beta_loop->exclusive([&] { return pair.beta->diagnose("dry-run", {}); });
  ASSERT_TRUE(diag) << diag.message();
  EXPECT_TRUE(diag->passed) << diag->output;
  EXPECT_NE(diag->output.find("late.conf"), std::string::npos) << diag->output;
  EXPECT_FALSE(fs::exists(pair.beta_tree / "late.conf"));
  auto conn = pair.beta_loop->exclusive([&] { return pair.beta->diagnose("connectivity", {}); });
  ASSERT_TRUE(conn) << conn.message();
  EXPECT_TRUE(conn->passed) << conn->output;
}

TEST(ConfigRsyncPair, SwitchoverThenRejoinReversesTheDirection) {
  PluginPair pair;
  write_file(pair.alpha_tree / "a.conf", "1\n");
  pair.start();
  ASSERT_TRUE(pair.wait_in_sync()) << pair.beta->health().summary;

  // A change the secondary has not pulled yet when the switchover starts.
  pair.alpha_host->connect_peer(nullptr);
  write_file(pair.alpha_tree / "last-minute.conf", "lm\n");
  std::this_thread::sleep_for(500ms);
  ASSERT_FALSE(fs::exists(pair.beta_tree / "last-minute.conf"));
  pair.alpha_host->connect_peer(pair.beta.get());

  sdk::FailoverRequest req;
  req.kind = sdk::FailoverKind::switchover;
  req.new_epoch = 2;
  auto demoted = pair.alpha_loop->exclusive([&] { return pair.alpha->demote(req); });
  ASSERT_TRUE(demoted) << demoted.message();
  EXPECT_TRUE(demoted->changed);
  ASSERT_TRUE(demoted->details.contains("checksum"));
  req.handoff = demoted->details;
  auto promoted = pair.beta_loop->exclusive([&] { return pair.beta->promote(req); });
  ASSERT_TRUE(promoted) << promoted.message();
  EXPECT_TRUE(promoted->changed);
  EXPECT_EQ(read_file_or(pair.beta_tree / "last-minute.conf"), "lm\n")
      << "promote takes a final pull: " << promoted->summary;
  EXPECT_EQ(promoted->details["checksum"], demoted->details["checksum"]) << promoted->summary;
  pair.beta_host->set_role(sdk::Role::primary);
  pair.beta_host->set_epoch(2);
  auto again = pair.beta_loop->exclusive([&] { return pair.beta->promote(req); });
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->changed) << "promote is idempotent";

  pair.alpha_host->set_role(sdk::Role::secondary);
  pair.alpha_host->set_epoch(2);
  auto rejoined = pair.alpha_loop->exclusive([&] { return pair.alpha->rejoin(req); });
  ASSERT_TRUE(rejoined) << rejoined.message();
  EXPECT_TRUE(rejoined->changed);

  // Now beta is the primary: its changes reach alpha promptly, and alpha's own
  // edits are undone by the mirror (delete = true).
  write_file(pair.beta_tree / "from-beta.conf", "b\n");
  EXPECT_TRUE(eventually([&] { return read_file_or(pair.alpha_tree / "from-beta.conf") == "b\n"; }, kArrive));
  fs::remove(pair.beta_tree / "a.conf");
  EXPECT_TRUE(eventually([&] { return !fs::exists(pair.alpha_tree / "a.conf"); }, kArrive));
  EXPECT_EQ(pair.beta->health().details.value("mode", ""), "serving");
  EXPECT_EQ(pair.alpha->health().details.value("mode", ""), "pulling");
  EXPECT_TRUE(eventually([&] { return pair.alpha->health().status == sdk::HealthStatus::ok; }, kArrive))
      << pair.alpha->health().summary;
}

// The primary's last report bounds what a failover states once the primary
// cannot be asked: its checksum and when its tree last changed, kept in the
// store state so a restart of the secondary's tandemd does not lose them.
TEST(ConfigRsyncPair, ThePrimarysLastReportedChangeTimeIsStatedAfterItDiedAndARestart) {
  PluginPair pair;
  write_file(pair.alpha_tree / "a.conf", "1\n");
  pair.start();
  ASSERT_TRUE(pair.wait_in_sync()) << pair.beta->health().summary;
  const auto before_change = std::chrono::system_clock::now();
  write_file(pair.alpha_tree / "b.conf", "2\n");
  ASSERT_TRUE(eventually([&] { return read_file_or(pair.beta_tree / "b.conf") == "2\n"; }, kArrive));
  ASSERT_TRUE(pair.wait_in_sync()) << pair.beta->health().summary;
  const auto after_change = std::chrono::system_clock::now();

  pair.alpha_loop->stop();
  pair.alpha_host->connect_peer(nullptr);
  pair.alpha->stop();
  // beta's tandemd restarts: a new plugin on the same store state.
  pair.beta_loop->stop();
  pair.beta->stop();
  pair.beta = std::make_unique<ConfigRsyncPlugin>();
  ASSERT_TRUE(pair.beta->configure(pair.config_for(pair.beta_tree, pair.beta_port, pair.alpha_port), *pair.beta_host));
  ASSERT_TRUE(pair.beta->start());

  sdk::FailoverRequest req;
  req.kind = sdk::FailoverKind::failover;
  req.new_epoch = 2;
  auto prep = pair.beta->prepare(req);
  ASSERT_TRUE(prep) << prep.message();
  ASSERT_TRUE(prep->loss.contains("primary_changed_at_ms")) << prep->loss.dump() << "\n" << prep->loss_summary;
  const auto changed_ms = prep->loss["primary_changed_at_ms"].get<std::int64_t>();
  const auto ms = [](auto t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  };
  EXPECT_GE(changed_ms, ms(before_change) - 1000);
  EXPECT_LE(changed_ms, ms(after_change));
  EXPECT_NE(prep->loss.value("primary_checksum", "unknown"), "unknown") << prep->loss.dump();
  EXPECT_FALSE(prep->loss["config_differs"].get<bool>()) << prep->loss_summary;
  EXPECT_NE(prep->loss_summary.find("its tree last changed"), std::string::npos) << prep->loss_summary;
  EXPECT_NE(prep->loss_summary.find("a change it made after that report is unknown"), std::string::npos)
      << prep->loss_summary;
}

// A peer that does not answer (hung, or its port closed) is found so once:
// the paths after the first are not run, so a prepare bounded by the peer
// probe costs one bound, not one per path.
TEST(ConfigRsyncPrepare, APeerThatDoesNotAnswerIsAskedOnceNotOncePerPath) {
  sdk::testing::TempDir root{"tandem-config-rsync"};
  testsupport::SilentServer silent;
  const int closed_port = sdk::testing::free_port();
  for (int port : {silent.port(), closed_port}) {
    nlohmann::json paths = nlohmann::json::array();
    for (const char* name : {"first", "second", "third"})
      paths.push_back({{"name", name}, {"path", (root.path() / name).string()}});
    nlohmann::json v{{"remote", "rsync://{peer}:" + std::to_string(port)},
                     {"allowed_root", root.path().string()},
                     {"paths", paths},
                     {"timeout", "5s"}};
    auto settings = parse_settings(sdk::StoreConfig::from_json("config", full_schema(), v));
    ASSERT_TRUE(settings) << settings.message();
    auto out = run_rsync_for_all(*settings, "127.0.0.1", RsyncRun::dry_run, std::chrono::seconds(1));
    ASSERT_EQ(out.entries.size(), 3u);
    EXPECT_FALSE(out.ok);
    EXPECT_TRUE(rsync_peer_unreachable(out.entries[0].exit_code, false))
        << "port " << port << ": " << out.entries[0].error;
    for (std::size_t i : {1u, 2u})
      EXPECT_EQ(out.entries[i].error, "not run: the peer did not answer for path 'first'") << "port " << port;
    EXPECT_NE(out.error.find("path 'first'"), std::string::npos) << out.error;
  }
}

TEST(ConfigRsyncPair, FailoverWithThePrimaryDownThenFencedRestartAndRejoin) {
  PluginPair pair;
  write_file(pair.alpha_tree / "a.conf", "1\n");
  pair.start();
  ASSERT_TRUE(pair.wait_in_sync()) << pair.beta->health().summary;

  // The primary dies (its built-in daemon with it).
  pair.alpha_loop->stop();
  pair.alpha_host->connect_peer(nullptr);
  pair.alpha->stop();

  sdk::FailoverRequest req;
  req.kind = sdk::FailoverKind::failover;
  req.new_epoch = 2;
  auto prep = pair.beta_loop->exclusive([&] { return pair.beta->prepare(req); });
  ASSERT_TRUE(prep) << prep.message();
  EXPECT_TRUE(prep->ready);
  EXPECT_TRUE(prep->loss.contains("primary_unreachable")) << prep->loss.dump();
  EXPECT_FALSE(prep->loss["config_differs"].get<bool>())
      << "the last reported checksum matched: " << prep->loss_summary;
  EXPECT_NE(prep->loss_summary.find("not reachable"), std::string::npos) << prep->loss_summary;

  auto promoted = pair.beta_loop->exclusive([&] { return pair.beta->promote(req); });
  ASSERT_TRUE(promoted) << promoted.message();
  EXPECT_TRUE(promoted->changed);
  pair.beta_host->set_role(sdk::Role::primary);
  pair.beta_host->set_epoch(2);
  write_file(pair.beta_tree / "after-failover.conf", "new primary\n");

  // The old primary comes back still believing it is primary, but fenced.
  pair.alpha_host->set_fenced(true);
  ASSERT_TRUE(pair.alpha->start());
  EXPECT_EQ(pair.alpha->health().details.value("mode", ""), "idle");
  EXPECT_FALSE(sdk::testing::wait_for_port("127.0.0.1", pair.alpha_port, 300ms)) << "a fenced node must not serve";

  pair.alpha_host->set_role(sdk::Role::secondary);
  pair.alpha_host->set_epoch(2);
  pair.alpha_host->set_fenced(false);
  pair.alpha_host->connect_peer(pair.beta.get());
  auto rejoined = pair.alpha->rejoin(req);
  ASSERT_TRUE(rejoined) << rejoined.message();
  EXPECT_EQ(read_file_or(pair.alpha_tree / "after-failover.conf"), "new primary\n");
  EXPECT_EQ(pair.alpha->health().status, sdk::HealthStatus::ok) << pair.alpha->health().summary;
}

}  // namespace
}  // namespace tandem::config_rsync::testing
