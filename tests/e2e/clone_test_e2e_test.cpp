// tandemctl clone-test on the secondary of a running pair under load: the
// test instance holds every write acknowledged before it was made, its
// tandemd runs as role "test" and refuses promote, and writes to it never
// reach the pair.
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "load_generator.h"
#include "pair_node.h"
#include "pair_world.h"
#include "support/netns_scope.h"
#include "support/redis_server.h"
#include "tandem/sdk/clone_test.h"
#include "tandem/sdk/file_util.h"

namespace tandem::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Runs `argv` inside `netns` (as `user` when given).
sdk::ProcessResult run_in(const std::string& netns, std::vector<std::string> argv, const std::string& user = "") {
  sdk::ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.env = {{"TANDEM_CONFIG", ""}, {"TANDEM_PLUGIN_PATH", ""}};
  if (!user.empty()) spec.run_as_user = user;
  spec.cwd = "/";
  spec.timeout = std::chrono::minutes(2);
  testsupport::NetnsScope in(netns);
  auto r = sdk::run_process(spec);
  if (!r.ok()) throw std::runtime_error("cannot run " + spec.argv[0] + ": " + r.message());
  return *r;
}

// Every regular file under `root` (relative path -> contents).
std::map<std::string, std::string> tree_of(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = sdk::read_file(e.path());
  return out;
}

// Stops what the clone started (its PostgreSQL, its Redis, its tandemd) when the test ends.
struct CloneGuard {
  std::string netns;
  fs::path dir;
  int kv_port = 0;
  sdk::ChildProcess tandemd;
  ~CloneGuard() {
    tandemd.stop(std::chrono::seconds(20));
    if (fs::exists(dir / "stores" / kPgStore / "data" / "postmaster.pid"))
      (void)run_in(netns,
                   {(testsupport::PostgresServer::bin_dir() / "pg_ctl").string(), "-D",
                    (dir / "stores" / kPgStore / "data").string(), "-m", "immediate", "-w", "stop"},
                   "postgres");
    if (kv_port) try {
        testsupport::NetnsScope in(netns);
        testsupport::RedisClient c("127.0.0.1", kv_port, 2s);
        c.command({"SHUTDOWN", "NOSAVE"});
      } catch (const std::exception&) {}
  }
};

TEST(CloneTest, ATestInstanceFromTheSecondaryUnderLoadHoldsTheDataAndNeverReachesThePair) {
  PairWorld pair;
  PairNode& alpha = pair.node(0);
  PairNode& beta = pair.node(1);
  alpha.start_daemon();
  beta.start_daemon();
  std::string why;
  ASSERT_TRUE(wait_for([&] { return pair_in_sync(alpha, beta, why); }, 180s)) << why;

  LoadGenerator load(pair.target_of(0));
  ASSERT_TRUE(wait_for([&] { return load.pg_acked().size() >= 200 && load.kv_acked().size() >= 200; }, 60s))
      << load.last_errors();
  const auto pg_before = load.pg_acked();
  const auto kv_before = load.kv_acked();

  sdk::testing::TempDir root("tandem-e2e-clone");
  root.chown_to("postgres");
  CloneGuard guard;
  guard.netns = beta.host().netns;
  guard.dir = root.path() / "test-instance";
  const auto started = std::chrono::steady_clock::now();
  auto made = beta.ctl({"clone-test", "--target", guard.dir.string()}, false, std::chrono::minutes(10));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << made.stdout_text << made.stderr_text << "clone-test took " << seconds << " s with "
            << load.pg_acked().size() - pg_before.size() << " PG and " << load.kv_acked().size() - kv_before.size()
            << " KV writes acknowledged meanwhile" << std::endl;
  ASSERT_TRUE(made.succeeded()) << made.describe() << "\n" << made.stdout_text << made.stderr_text;
  const json marker = json::parse(sdk::read_file(guard.dir / sdk::kCloneMarkerFile));
  const int pg_port = marker["ports"].value(kPgStore, 0);
  guard.kv_port = marker["ports"].value(kKvStore, 0);
  const int api_port = marker["ports"].value("api", 0);
  ASSERT_TRUE(pg_port && guard.kv_port && api_port) << marker.dump();
  EXPECT_EQ(tree_of(guard.dir / "stores" / kConfigStore / "app"), tree_of(beta.config_tree()))
      << "the config tree is copied as it is on beta";
  EXPECT_FALSE(tree_of(beta.config_tree()).empty());
  EXPECT_NE(made.stdout_text.find(std::string(kSearchStore) + ": not cloned"), std::string::npos) << made.stdout_text;

  // Every write acknowledged before the clone began is in it.
  const auto clone_ids = pg_ids(guard.netns, "127.0.0.1", pg_port);
  EXPECT_EQ(describe_missing(missing_from(pg_before, clone_ids)), describe_missing({}));
  EXPECT_EQ(describe_missing(missing_kv_keys(guard.netns, "127.0.0.1", guard.kv_port, kv_before)),
            describe_missing({}));
  std::cout << "the clone holds " << clone_ids.size() << " rows (" << pg_before.size()
            << " acknowledged before it began)" << std::endl;

  // Writes to the clone.
  auto inserted = run_in(guard.netns,
                         {(testsupport::PostgresServer::bin_dir() / "psql").string(), "-XAt", "-v", "ON_ERROR_STOP=1",
                          "-h", "127.0.0.1", "-p", std::to_string(pg_port), "-U", "postgres", "-c",
                          "INSERT INTO load_events(id, payload) VALUES (-424242, 'clone only')"},
                         "postgres");
  ASSERT_TRUE(inserted.succeeded()) << inserted.describe() << inserted.stderr_text;
  {
    testsupport::NetnsScope in(guard.netns);
    testsupport::RedisClient c("127.0.0.1", guard.kv_port, 5s);
    EXPECT_EQ(c.command({"SET", "clone-only", "1"}).str, "OK");
  }

  // The test node's tandemd: role test, promote refused.
  sdk::ChildSpec spec;
  spec.argv = {TANDEMD_BINARY, "--config", (guard.dir / "tandemd.toml").string()};
  spec.env = {{"TANDEM_PLUGIN_PATH", ""}};
  spec.log_file = root.path() / "test-node.log";
  {
    testsupport::NetnsScope in(guard.netns);
    guard.tandemd = testsupport::start_background(spec);
    ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", api_port, 60s)) << guard.tandemd.log_tail();
  }
  const std::string ctl = TANDEMCTL_BINARY;
  const std::string conf = (guard.dir / "tandemd.toml").string();
  json status;
  ASSERT_TRUE(wait_for(
      [&] {
        auto s = run_in(guard.netns, {ctl, "--config", conf, "--json", "status"});
        status = json::parse(s.stdout_text, nullptr, false);
        return status.is_object() && status.value("stores", json::array()).size() == 1 &&
               health_status(status["stores"][0]) != "unknown";
      },
      30s))
      << status.dump() << guard.tandemd.log_tail();
  EXPECT_EQ(status.value("role", ""), "test") << status.dump();
  std::cout << "the test node's pg store: " << health_status(status["stores"][0]) << " - "
            << status["stores"][0].value("health", json::object()).value("summary", "") << std::endl;
  EXPECT_EQ(health_status(status["stores"][0]), "ok") << status.dump(2);
  auto promote = run_in(guard.netns, {ctl, "--config", conf, "promote", "--force"});
  EXPECT_FALSE(promote.succeeded()) << promote.stdout_text;
  EXPECT_NE((promote.stdout_text + promote.stderr_text).find("test instance"), std::string::npos)
      << promote.stdout_text << promote.stderr_text;

  // The pair never saw the clone's writes and still holds everything.
  std::this_thread::sleep_for(3s);
  load.stop();
  ASSERT_TRUE(wait_for([&] { return pair_in_sync(alpha, beta, why); }, 120s)) << why;
  for (PairNode* n : {&alpha, &beta}) {
    const auto ids = n->pg_ids();
    EXPECT_FALSE(std::binary_search(ids.begin(), ids.end(), -424242)) << n->name();
    EXPECT_EQ(n->redis_command({"EXISTS", "clone-only"}).integer, 0) << n->name();
    EXPECT_EQ(missing_acknowledged(load, *n), "") << n->name();
    // What the clone holds (its own row aside) is what the pair holds.
    EXPECT_EQ(describe_missing(missing_from(clone_ids, ids)), describe_missing({})) << n->name();
  }
  EXPECT_EQ(alpha.pg().psql("SELECT count(*) FROM pg_stat_replication"), "1\n") << "only beta streams from alpha";
}

}  // namespace
}  // namespace tandem::e2e
