// The failover orchestrator across two in-process nodes whose stores are
// small plugins keeping their role in a file (so a crashed child process's
// effects are visible to the rerun). What is checked: order, epoch, refusal,
// dry-run, switchover + rejoin, and that a crash at every step followed by a
// rerun ends in the same state as an uninterrupted promote.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>

#include "failover/failover_orchestrator.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::core {
namespace {

using nlohmann::json;

// A store whose "copy" is a JSON file: {"role", "promotions", "demotions", "rejoins"}.
class FileBackedStore final : public sdk::Plugin {
 public:
  FileBackedStore(std::filesystem::path file, std::string name, int order, std::vector<std::string>* calls)
      : file_(std::move(file)), name_(std::move(name)), order_(order), calls_(calls) {
    if (!std::filesystem::exists(file_))
      save({{"role", "secondary"}, {"promotions", 0}, {"demotions", 0}, {"rejoins", 0}});
  }
  sdk::PluginInfo info() const override { return {"file-store", "1", "test", order_}; }
  sdk::ConfigSchema schema() const override { return {}; }
  sdk::Status configure(const sdk::StoreConfig&, sdk::HostContext&) override { return {}; }
  sdk::Health health() const override { return sdk::Health::make(sdk::HealthStatus::ok, "ok"); }

  sdk::Result<sdk::PrepareReport> prepare(const sdk::FailoverRequest& req) override {
    if (during_prepare) during_prepare(req);
    sdk::PrepareReport r;
    r.ready = !refuse_;
    r.refusal = refuse_ ? "store not caught up" : "";
    r.loss_summary = name_ + ": 0 bytes not replayed";
    r.loss = {{"bytes_not_replayed", 0}};
    r.plan = "promote " + name_;
    return r;
  }
  sdk::Result<sdk::StepReport> promote(const sdk::FailoverRequest& req) override {
    record("promote:" + name_);
    json s = load();
    if (s["role"] == "primary") return sdk::StepReport{false, "already primary", json::object()};
    s["role"] = "primary";
    s["promotions"] = s["promotions"].get<int>() + 1;
    s["handoff"] = req.handoff;
    save(s);
    if (during_promote) during_promote();
    return sdk::StepReport{true, "promoted", json::object()};
  }
  sdk::Result<sdk::StepReport> demote(const sdk::FailoverRequest&) override {
    record("demote:" + name_);
    if (during_demote) during_demote();
    json s = load();
    if (s["role"] == "secondary") return sdk::StepReport{false, "already secondary", {{"final", name_}}};
    s["role"] = "secondary";
    s["demotions"] = s["demotions"].get<int>() + 1;
    save(s);
    return sdk::StepReport{true, "demoted", {{"final", name_}}};
  }
  sdk::Result<sdk::StepReport> rejoin(const sdk::FailoverRequest&) override {
    record("rejoin:" + name_);
    json s = load();
    s["role"] = "secondary";
    s["rejoins"] = s["rejoins"].get<int>() + 1;
    save(s);
    return sdk::StepReport{true, "following", json::object()};
  }

  json load() const { return json::parse(sdk::read_file(file_)); }
  void set_refuse(bool r) { refuse_ = r; }
  std::function<void()> during_promote;  // runs inside promote(), before it returns
  std::function<void()> during_demote;   // runs inside demote(), at its start
  // Runs inside prepare(), from the orchestrator's prepare threads.
  std::function<void(const sdk::FailoverRequest&)> during_prepare;

 private:
  void save(const json& j) { sdk::atomic_write_file(file_, j.dump()); }
  void record(const std::string& c) {
    if (calls_) calls_->push_back(c);
  }
  std::filesystem::path file_;
  std::string name_;
  int order_;
  std::vector<std::string>* calls_;
  bool refuse_ = false;
};

class NullLogger final : public sdk::Logger {
 public:
  void log(sdk::LogLevel, std::string_view) override {}
};

// One node: its data dir, state, stores, and orchestrator.
struct Node {
  Node(std::filesystem::path dir, sdk::Role role) : dir(std::move(dir)), state(this->dir, role) {
    std::filesystem::create_directories(this->dir);
    add_store("pg", sdk::kOrderDatabase);
    add_store("config", sdk::kOrderConfig);
    add_store("kv", sdk::kOrderKeyValue);
  }
  void add_store(const std::string& name, int order) {
    plugins[name] = std::make_unique<FileBackedStore>(dir / (name + ".json"), name, order, &calls);
    orders[name] = order;
  }
  std::filesystem::path dir;
  NodeState state;
  std::vector<std::string> calls;
  std::map<std::string, std::unique_ptr<FileBackedStore>> plugins;
  std::map<std::string, int> orders;
};

class NodeStores final : public FailoverStores {
 public:
  explicit NodeStores(Node& n) : n_(n) {}
  std::vector<FailoverStore> stores() const override {
    std::vector<FailoverStore> out;
    for (auto& [name, order] : n_.orders) out.push_back({name, "file-store", order});
    return out;
  }
  void call(const std::string& store, const std::function<void(sdk::Plugin&)>& fn) override {
    fn(*n_.plugins.at(store));
  }
  void hold_syncs() override { ++holds; }
  void release_syncs() override { --holds; }
  std::atomic<int> holds{0};  // hold_syncs() minus release_syncs()

 private:
  Node& n_;
};

// The peer as seen through another in-process node (or down).
class InProcessPeer final : public FailoverPeer {
 public:
  Node* node = nullptr;
  FailoverOrchestrator* orchestrator = nullptr;
  bool down = false;
  bool paused = false;  // the peer reports maintenance mode
  PeerView status() override {
    if (down || !node) return PeerView{false, sdk::Role::secondary, 0, false, "connection refused", false, ""};
    auto v = node->state.get();
    return PeerView{true, v.role, v.epoch, v.fenced, "", paused, paused ? "disk swap" : ""};
  }
  sdk::Result<json> demote(std::uint64_t new_epoch) override { return orchestrator->demote_for_peer(new_epoch); }
  sdk::Result<json> rejoin() override {
    auto report = orchestrator->rejoin({});
    if (report["result"] != "succeeded") return sdk::Result<json>::failure(report["reason"].get<std::string>());
    return report;
  }
};

struct Pair {
  sdk::testing::TempDir tmp{"tandem-failover"};
  Node a{tmp.path() / "a", sdk::Role::primary};
  Node b{tmp.path() / "b", sdk::Role::secondary};
  NodeStores a_stores{a}, b_stores{b};
  InProcessPeer a_peer, b_peer;  // a_peer: how A sees B
  NullLogger log;
  FailoverOrchestrator a_orch{a.dir, a.state, a_stores, a_peer, log};
  FailoverOrchestrator b_orch{b.dir, b.state, b_stores, b_peer, log};
  Pair() {
    for (auto& [name, plugin] : a.plugins)  // A's stores start as the primary copies
      if (!plugin->promote({})) throw std::runtime_error("setup: promote " + name);
    a.calls.clear();
    a_peer.node = &b;
    a_peer.orchestrator = &b_orch;
    b_peer.node = &a;
    b_peer.orchestrator = &a_orch;
  }
};

TEST(FailoverOrchestrator, PromoteWithPeerDownRunsStoresInFailoverOrderAndBumpsEpoch) {
  Pair p;
  p.b_peer.down = true;
  json report = p.b_orch.promote({});
  ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_EQ(p.b.calls, (std::vector<std::string>{"promote:config", "promote:pg", "promote:kv"}));
  auto v = p.b.state.get();
  EXPECT_EQ(v.role, sdk::Role::primary);
  EXPECT_EQ(v.epoch, 2u);
  EXPECT_EQ(report["new_epoch"], 2);
  EXPECT_TRUE(report["time_to_writable_ms"].is_number());
  EXPECT_EQ(report["loss"]["pg"]["summary"], "pg: 0 bytes not replayed");
  ASSERT_EQ(p.b_orch.history().size(), 1u);
  EXPECT_EQ(p.b_orch.history()[0]["id"], report["id"]);
  EXPECT_FALSE(p.b_orch.in_progress().has_value());
}

// Every store's prepare runs at once (a silent peer costs one probe bound,
// not one per store): each waits until all three have begun. Run one after
// the other, each would wait out the bound alone and see only itself. They
// are given the peer probe bound, and the syncs are held from before the
// prechecks to the end of the promote (never for a dry run).
TEST(FailoverOrchestrator, ThePreparesRunAtOnceWithTheProbeBoundAndTheSyncsHeld) {
  Pair p;
  p.b_peer.down = true;
  p.b_orch.set_peer_probe_timeout(std::chrono::milliseconds(1234));
  std::mutex mu;
  std::condition_variable cv;
  int begun = 0;
  std::vector<int> seen_together;
  std::vector<std::int64_t> bounds;
  std::atomic<int> holds_seen{0};
  for (auto& [name, plugin] : p.b.plugins) {
    plugin->during_prepare = [&](const sdk::FailoverRequest& req) {
      std::unique_lock l(mu);
      ++begun;
      cv.notify_all();
      cv.wait_for(l, std::chrono::seconds(10), [&] { return begun >= 3; });
      seen_together.push_back(begun);
      bounds.push_back(req.peer_timeout.count());
      holds_seen = std::max(holds_seen.load(), p.b_stores.holds.load());
    };
    plugin->during_promote = [&] { holds_seen = std::min(holds_seen.load(), p.b_stores.holds.load()); };
  }
  FailoverOptions dry;
  dry.dry_run = true;
  EXPECT_EQ(p.b_orch.promote(dry)["result"], "dry-run");
  EXPECT_EQ(holds_seen, 0) << "a dry run holds no sync";
  EXPECT_EQ(seen_together, (std::vector<int>{3, 3, 3})) << "the prepares ran one after the other";
  begun = 0;
  seen_together.clear();
  bounds.clear();
  json report = p.b_orch.promote({});
  ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_EQ(seen_together, (std::vector<int>{3, 3, 3})) << "the prepares ran one after the other";
  EXPECT_EQ(bounds, (std::vector<std::int64_t>{1234, 1234, 1234}));
  EXPECT_EQ(holds_seen, 1) << "the syncs were not held through the prechecks and every store's promote";
  EXPECT_EQ(p.b_stores.holds, 0) << "released at the end";
  EXPECT_TRUE(report["precheck_ms"].is_number()) << report.dump(2);
}

// The prepares start before the peer answers, at the epoch this node's own
// state leads to; when the peer's answer raises it, they run again with it.
TEST(FailoverOrchestrator, ThePreparesAreToldThePeersHigherEpoch) {
  Pair p;
  auto peer = p.a.state.get();
  peer.epoch = 5;
  peer.fenced = true;  // a fenced former primary: no refusal
  p.a.state.set(peer);
  std::mutex mu;
  std::vector<std::uint64_t> epochs;
  for (auto& [name, plugin] : p.b.plugins)
    plugin->during_prepare = [&](const sdk::FailoverRequest& req) {
      std::lock_guard l(mu);
      epochs.push_back(req.new_epoch);
    };
  json report = p.b_orch.promote({});
  ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_EQ(report["new_epoch"], 6);
  ASSERT_EQ(epochs.size(), 6u) << "once at epoch 2, then again at 6";
  std::sort(epochs.begin(), epochs.end());
  EXPECT_EQ(epochs, (std::vector<std::uint64_t>{2, 2, 2, 6, 6, 6}));
}

// The node fences itself, as NodeRuntime::fence records it.
void fence(Node& n, const std::string& reason) {
  auto v = n.state.get();
  v.fenced = true;
  v.fenced_reason = reason;
  n.state.set(v);
}

// A fence set while a promote runs (automatic mode's self-fence when the
// lease could not be renewed during a slow promote) is not lifted by its role
// step: the node stays fenced, the report says why, and only a forced rerun
// finishes it. A fence that was there before the promote began is lifted.
TEST(FailoverOrchestrator, AFenceSetWhileThePromoteRunsIsNotLiftedByItsRoleStep) {
  Pair p;
  p.b_peer.down = true;
  p.b.plugins["config"]->during_promote = [&] { fence(p.b, "the leader lease could not be renewed"); };
  json report = p.b_orch.promote({});
  EXPECT_EQ(report["result"], "failed") << report.dump(2);
  EXPECT_NE(report.dump().find("was fenced while the promote ran (the leader lease could not be renewed)"),
            std::string::npos)
      << report.dump(2);
  EXPECT_TRUE(p.b.state.get().fenced);
  EXPECT_NE(p.b.state.get().role, sdk::Role::primary);
  // The stores after the fence were not promoted (config is first in failover order).
  EXPECT_EQ(p.b.calls, (std::vector<std::string>{"promote:config"}));
  p.b.plugins["config"]->during_promote = nullptr;
  EXPECT_EQ(p.b_orch.promote({})["result"], "failed") << "a plain rerun keeps the fence";
  EXPECT_TRUE(p.b.state.get().fenced);
  FailoverOptions force;
  force.force = true;
  json forced = p.b_orch.promote(force);
  EXPECT_EQ(forced["result"], "succeeded") << forced.dump(2);
  EXPECT_FALSE(p.b.state.get().fenced);
  EXPECT_EQ(p.b.state.get().role, sdk::Role::primary);
}

TEST(FailoverOrchestrator, AFencedFormerPrimaryPromotedAgainIsUnfenced) {
  Pair p;
  p.a_peer.down = true;
  fence(p.a, "saw the peer at a higher epoch");
  json report = p.a_orch.promote({});
  EXPECT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_FALSE(p.a.state.get().fenced);
}

TEST(FailoverOrchestrator, PromoteRefusesWhileThePeerIsPrimaryUnlessForced) {
  Pair p;
  json refused = p.b_orch.promote({});
  EXPECT_EQ(refused["result"], "refused");
  EXPECT_NE(refused["reason"].get<std::string>().find("answers as primary"), std::string::npos);
  EXPECT_TRUE(p.b.calls.empty());
  EXPECT_EQ(p.b.state.get().role, sdk::Role::secondary);
  EXPECT_EQ(p.b.state.get().epoch, 1u);

  json forced = p.b_orch.promote({true, false});
  EXPECT_EQ(forced["result"], "succeeded") << forced.dump(2);
  EXPECT_EQ(p.b.state.get().epoch, 2u);
}

TEST(FailoverOrchestrator, DryRunStatesLossAndPlanAndChangesNothing) {
  Pair p;
  p.b_peer.down = true;
  json report = p.b_orch.promote({false, true});
  EXPECT_EQ(report["result"], "dry-run");
  EXPECT_EQ(report["plan"], json({"epoch", "promote:config", "promote:pg", "promote:kv", "role"}));
  EXPECT_EQ(report["loss"]["kv"]["details"]["bytes_not_replayed"], 0);
  EXPECT_TRUE(p.b.calls.empty());
  EXPECT_EQ(p.b.state.get().epoch, 1u);
  EXPECT_FALSE(p.b_orch.in_progress().has_value());
  EXPECT_TRUE(p.b_orch.history().empty());
}

TEST(FailoverOrchestrator, AStoreThatRefusesInPrepareBlocksThePromotion) {
  Pair p;
  p.b_peer.down = true;
  p.b.plugins.at("kv")->set_refuse(true);
  json report = p.b_orch.promote({});
  EXPECT_EQ(report["result"], "refused");
  EXPECT_NE(report["reason"].get<std::string>().find("kv: store not caught up"), std::string::npos);
  EXPECT_TRUE(p.b.calls.empty());
}

TEST(FailoverOrchestrator, SwitchoverDemotesThePeerFirstHandsOffAndRejoinsIt) {
  Pair p;
  json report = p.b_orch.switchover({});
  ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
  // The old primary demoted in reverse failover order before anything was promoted here.
  EXPECT_EQ(p.a.calls, (std::vector<std::string>{"demote:kv", "demote:pg", "demote:config", "rejoin:config",
                                                 "rejoin:pg", "rejoin:kv"}));
  EXPECT_EQ(p.b.plugins.at("pg")->load()["handoff"], json({{"final", "pg"}}));
  EXPECT_EQ(p.b.state.get().role, sdk::Role::primary);
  EXPECT_EQ(p.a.state.get().role, sdk::Role::secondary);
  EXPECT_EQ(p.a.state.get().epoch, p.b.state.get().epoch);
  EXPECT_EQ(p.a.plugins.at("kv")->load()["role"], "secondary");
  EXPECT_EQ(p.b.plugins.at("kv")->load()["role"], "primary");
}

// The old primary's stores run no sync while a switchover demotes them: the
// node's role turns secondary only after the last store's demote, so a sync
// in between would still see a primary.
TEST(FailoverOrchestrator, TheOldPrimaryHoldsItsSyncsWhileItsStoresDemote) {
  Pair p;
  std::vector<int> holds_seen;
  for (auto& [name, plugin] : p.a.plugins) plugin->during_demote = [&] { holds_seen.push_back(p.a_stores.holds); };
  json report = p.b_orch.switchover({});
  ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_EQ(holds_seen, (std::vector<int>{1, 1, 1})) << "a store demoted while the old primary's syncs ran";
  EXPECT_EQ(p.a_stores.holds, 0) << "released once the demotes ended";
}

TEST(FailoverOrchestrator, SwitchoverRefusesWhenThePeerIsDown) {
  Pair p;
  p.b_peer.down = true;
  json report = p.b_orch.switchover({});
  EXPECT_EQ(report["result"], "refused");
  EXPECT_NE(report["reason"].get<std::string>().find("tandemctl promote"), std::string::npos);
}

TEST(FailoverOrchestrator, RejoinAfterAnUnplannedFailoverTakesThePeersEpoch) {
  Pair p;
  p.b_peer.down = true;
  ASSERT_EQ(p.b_orch.promote({})["result"], "succeeded");
  // A comes back (still believing it is primary at epoch 1) and is rejoined.
  json report = p.a_orch.rejoin({});
  ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_EQ(p.a.state.get().role, sdk::Role::secondary);
  EXPECT_EQ(p.a.state.get().epoch, 2u);
  EXPECT_EQ(p.a.calls, (std::vector<std::string>{"rejoin:config", "rejoin:pg", "rejoin:kv"}));
  // A second rejoin finds nothing to do and touches no store.
  p.a.calls.clear();
  json again = p.a_orch.rejoin({});
  EXPECT_EQ(again["result"], "succeeded");
  EXPECT_NE(again["reason"].get<std::string>().find("nothing to do"), std::string::npos);
  EXPECT_TRUE(p.a.calls.empty());
}

TEST(FailoverOrchestrator, AFailedStepIsReportedAndTheRerunResumesThere) {
  Pair p;
  p.b_peer.down = true;
  // Make kv's promote fail once by putting garbage in its file: load() throws.
  sdk::atomic_write_file(p.b.dir / "kv.json", "not json");
  json failed = p.b_orch.promote({});
  EXPECT_EQ(failed["result"], "failed");
  EXPECT_NE(failed["reason"].get<std::string>().find("promote:kv"), std::string::npos);
  ASSERT_TRUE(p.b_orch.in_progress().has_value());
  sdk::atomic_write_file(p.b.dir / "kv.json", R"({"role":"secondary","promotions":0,"demotions":0,"rejoins":0})");
  p.b.calls.clear();
  json resumed = p.b_orch.promote({});
  EXPECT_EQ(resumed["result"], "succeeded") << resumed.dump(2);
  EXPECT_EQ(p.b.calls, (std::vector<std::string>{"promote:kv"}));  // finished steps not repeated
  EXPECT_EQ(p.b.state.get().epoch, 2u);
}

TEST(FailoverOrchestrator, WhileThisNodeIsPausedPromoteAndSwitchoverAreRefusedUnlessForced) {
  Pair p;
  MaintenanceState maintenance(p.b.dir);
  maintenance.pause("kernel upgrade");
  FailoverOrchestrator b(p.b.dir, p.b.state, p.b_stores, p.b_peer, p.log, &maintenance);

  json switchover = b.switchover({});
  EXPECT_EQ(switchover["result"], "refused") << switchover.dump(2);
  EXPECT_NE(switchover["reason"].get<std::string>().find("this node is paused (maintenance mode since "),
            std::string::npos);
  EXPECT_NE(switchover["reason"].get<std::string>().find("(kernel upgrade)"), std::string::npos);
  EXPECT_NE(switchover["reason"].get<std::string>().find("tandemctl resume"), std::string::npos);
  json dry = b.switchover({false, true});
  EXPECT_EQ(dry["result"], "refused");  // the dry run says so too
  p.b_peer.down = true;
  json promote = b.promote({});
  EXPECT_EQ(promote["result"], "refused");
  EXPECT_TRUE(p.b.calls.empty());
  EXPECT_TRUE(p.a.calls.empty());
  EXPECT_EQ(p.b.state.get().epoch, 1u);

  json forced = b.promote({true, false});
  ASSERT_EQ(forced["result"], "succeeded") << forced.dump(2);
  EXPECT_EQ(p.b.state.get().role, sdk::Role::primary);
}

TEST(FailoverOrchestrator, APausedPeerRefusesTheSwitchoverAndResumeAllowsIt) {
  Pair p;
  p.b_peer.paused = true;
  json refused = p.b_orch.switchover({});
  EXPECT_EQ(refused["result"], "refused");
  EXPECT_NE(refused["reason"].get<std::string>().find("the peer is paused (maintenance mode (disk swap))"),
            std::string::npos)
      << refused.dump(2);
  EXPECT_TRUE(p.a.calls.empty());
  p.b_peer.paused = false;
  EXPECT_EQ(p.b_orch.switchover({})["result"], "succeeded");
}

TEST(FailoverOrchestrator, RejoinIsNotBlockedByMaintenanceMode) {
  Pair p;
  p.b_peer.down = true;
  ASSERT_EQ(p.b_orch.promote({})["result"], "succeeded");
  MaintenanceState maintenance(p.a.dir);
  maintenance.pause("");
  FailoverOrchestrator a(p.a.dir, p.a.state, p.a_stores, p.a_peer, p.log, &maintenance);
  json report = a.rejoin({});
  EXPECT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_EQ(p.a.state.get().role, sdk::Role::secondary);
}

// [hooks] with real programs (shell scripts in the test's temp dir), run by
// the real HookRunner through the SDK's process layer.
struct Hooks {
  explicit Hooks(const std::filesystem::path& dir) : dir(dir) {}
  // A script `name` with `body`; its arguments and TANDEM_* environment are appended to <name>.log first.
  std::string script(const std::string& name, const std::string& body) {
    auto path = dir / name;
    sdk::atomic_write_file(path,
                           "#!/bin/sh\n{ echo \"args: $*\"; env | grep '^TANDEM_' | sort; } >> '" +
                               (dir / (name + ".log")).string() + "'\n" + body + "\n",
                           0755);
    return path.string();
  }
  void set(const std::string& event, const std::string& program, std::chrono::milliseconds timeout) {
    config.commands[event] = HookCommand{event, {program}, timeout, "test.toml:1:1"};
  }
  std::string log(const std::string& name) const {
    auto p = dir / (name + ".log");
    return std::filesystem::exists(p) ? sdk::read_file(p) : "";
  }
  std::filesystem::path dir;
  HooksConfig config;
};

json hook_outcome(const json& report, const std::string& hook) {
  for (auto& h : report["hooks"])
    if (h["hook"] == hook) return h;
  return nullptr;
}

TEST(FailoverHooks, AHookPastItsTimeoutAndAFailingHookNeverStopThePromoteAndAreReported) {
  Pair p;
  p.b_peer.down = true;
  Hooks h(p.tmp.path());
  h.set("on_role_change", h.script("slow", "sleep 30"), std::chrono::milliseconds(1500));
  h.set("on_promote", h.script("failing", "echo 'disk full' >&2; exit 3"), std::chrono::seconds(10));
  h.set("on_failover_report", h.script("report", "cat > '" + (p.tmp.path() / "report.json").string() + "'"),
        std::chrono::seconds(10));
  HookRunner runner(h.config, "beta", "alpha");
  FailoverOrchestrator b(p.b.dir, p.b.state, p.b_stores, p.b_peer, p.log, nullptr, &runner);

  json report = b.promote({});
  ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_EQ(p.b.state.get().role, sdk::Role::primary);
  EXPECT_EQ(p.b.calls, (std::vector<std::string>{"promote:config", "promote:pg", "promote:kv"}));
  json slow = hook_outcome(report, "on_role_change");
  EXPECT_EQ(slow["result"], "timed out") << report["hooks"].dump(2);
  json failing = hook_outcome(report, "on_promote");
  EXPECT_EQ(failing["result"], "failed") << report["hooks"].dump(2);
  EXPECT_NE(failing["summary"].get<std::string>().find("exit 3: disk full"), std::string::npos);
  // What each hook was told.
  EXPECT_NE(h.log("slow").find("args: on_role_change primary"), std::string::npos) << h.log("slow");
  EXPECT_NE(h.log("slow").find("TANDEM_OLD_ROLE=secondary"), std::string::npos);
  EXPECT_NE(h.log("slow").find("TANDEM_NEW_ROLE=primary"), std::string::npos);
  EXPECT_NE(h.log("slow").find("TANDEM_EPOCH=2"), std::string::npos);
  EXPECT_NE(h.log("failing").find("TANDEM_SUCCESS=1"), std::string::npos) << h.log("failing");
  EXPECT_NE(h.log("failing").find("TANDEM_NODE=beta"), std::string::npos);
  EXPECT_NE(h.log("failing").find("TANDEM_EVENT=on_promote"), std::string::npos);
  EXPECT_NE(h.log("failing").find("TANDEM_FAILOVER_KIND=promote"), std::string::npos);
  // The report hook gets the whole report on stdin, after it was made.
  ASSERT_TRUE(runner.shutdown(std::chrono::seconds(20)));
  json seen = json::parse(sdk::read_file(p.tmp.path() / "report.json"));
  EXPECT_EQ(seen["id"], report["id"]);
  EXPECT_EQ(seen["hooks"], report["hooks"]);
  EXPECT_NE(h.log("report").find("TANDEM_RESULT=succeeded"), std::string::npos) << h.log("report");
}

TEST(FailoverHooks, APrePromoteHookThatFailsVetoesWithItsFirstLineInTheDryRunTooAndForceOverridesIt) {
  Pair p;
  p.b_peer.down = true;
  Hooks h(p.tmp.path());
  h.set("pre_promote", h.script("veto", "echo 'a deploy is running'; echo 'second line'; exit 1"),
        std::chrono::seconds(10));
  HookRunner runner(h.config, "beta", "alpha");
  FailoverOrchestrator b(p.b.dir, p.b.state, p.b_stores, p.b_peer, p.log, nullptr, &runner);

  json dry = b.promote({false, true});
  EXPECT_EQ(dry["result"], "refused") << dry.dump(2);
  EXPECT_NE(dry["reason"].get<std::string>().find("the pre_promote hook vetoed the promote: a deploy is running"),
            std::string::npos)
      << dry.dump(2);
  EXPECT_NE(h.log("veto").find("TANDEM_DRY_RUN=1"), std::string::npos) << h.log("veto");
  json refused = b.promote({});
  EXPECT_EQ(refused["result"], "refused");
  EXPECT_EQ(hook_outcome(refused, "pre_promote")["result"], "failed");
  EXPECT_TRUE(p.b.calls.empty()) << "nothing changes after a veto";
  EXPECT_EQ(p.b.state.get().epoch, 1u);

  json forced = b.promote({true, false});
  ASSERT_EQ(forced["result"], "succeeded") << forced.dump(2);
  EXPECT_EQ(hook_outcome(forced, "pre_promote")["result"], "failed") << "the overridden veto is still reported";
  EXPECT_NE(h.log("veto").find("TANDEM_FORCE=1"), std::string::npos);
}

TEST(FailoverHooks, APrePromoteHookThatTimesOutVetoesAndOneThatExitsZeroAllows) {
  Pair p;
  Hooks h(p.tmp.path());
  h.set("pre_promote", h.script("hang", "sleep 30"), std::chrono::milliseconds(1000));
  {
    HookRunner runner(h.config, "beta", "alpha");
    FailoverOrchestrator b(p.b.dir, p.b.state, p.b_stores, p.b_peer, p.log, nullptr, &runner);
    json refused = b.switchover({});
    EXPECT_EQ(refused["result"], "refused") << refused.dump(2);
    EXPECT_NE(refused["reason"].get<std::string>().find("the pre_promote hook vetoed the switchover: it did not "
                                                        "answer in time"),
              std::string::npos)
        << refused.dump(2);
    EXPECT_TRUE(p.a.calls.empty()) << "the old primary was not touched";
  }
  h.set("pre_promote", h.script("allow", "exit 0"), std::chrono::seconds(10));
  h.set("on_demote", h.script("demoted", "exit 0"), std::chrono::seconds(10));
  HookRunner b_runner(h.config, "beta", "alpha");
  HooksConfig a_hooks;
  a_hooks.commands["on_demote"] = h.config.commands["on_demote"];
  a_hooks.commands["on_role_change"] =
      HookCommand{"on_role_change", {h.script("a_role", "exit 0")}, std::chrono::seconds(10), "t"};
  HookRunner a_runner(a_hooks, "alpha", "beta");
  FailoverOrchestrator a(p.a.dir, p.a.state, p.a_stores, p.a_peer, p.log, nullptr, &a_runner);
  FailoverOrchestrator b(p.b.dir, p.b.state, p.b_stores, p.b_peer, p.log, nullptr, &b_runner);
  p.b_peer.orchestrator = &a;
  json report = b.switchover({});
  ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_EQ(hook_outcome(report, "pre_promote")["result"], "ok");
  EXPECT_EQ(p.b.state.get().role, sdk::Role::primary);
  // The old primary's own hooks: its demote and its role change.
  ASSERT_TRUE(a_runner.shutdown(std::chrono::seconds(20)));
  EXPECT_NE(h.log("demoted").find("args: on_demote secondary"), std::string::npos) << h.log("demoted");
  EXPECT_NE(h.log("demoted").find("TANDEM_NODE=alpha"), std::string::npos);
  EXPECT_NE(h.log("a_role").find("TANDEM_OLD_ROLE=primary"), std::string::npos) << h.log("a_role");
}

// Final state of node B after a promote, as compared across runs.
json final_state(const std::filesystem::path& dir) {
  json out;
  for (auto s : {"config", "pg", "kv"}) {
    json j = json::parse(sdk::read_file(dir / (std::string(s) + ".json")));
    out[s] = {{"role", j["role"]}, {"promotions", j["promotions"]}};
  }
  json ns = json::parse(sdk::read_file(dir / "node-state.json"));
  out["node"] = {{"role", ns["role"]}, {"epoch", ns["epoch"]}};
  out["journal_left"] = std::filesystem::exists(dir / "failover" / "journal.json");
  return out;
}

TEST(FailoverOrchestrator, ACrashAtAnyStepFollowedByARerunEndsInTheUninterruptedState) {
  json reference;
  {
    Pair p;
    p.b_peer.down = true;
    ASSERT_EQ(p.b_orch.promote({})["result"], "succeeded");
    reference = final_state(p.b.dir);
  }
  for (std::string step : {"epoch", "promote:config", "promote:pg", "promote:kv", "role"}) {
    for (std::string when : {"before", "after"}) {
      SCOPED_TRACE(when + ":" + step);
      Pair p;
      p.b_peer.down = true;
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        ::setenv("TANDEM_FAULT_INJECT", (when + ":" + step).c_str(), 1);
        p.b_orch.promote({});
        ::_exit(0);  // not reached when the fault point fires
      }
      int status = 0;
      ::waitpid(pid, &status, 0);
      ASSERT_TRUE(WIFEXITED(status));
      ASSERT_EQ(WEXITSTATUS(status), 86) << "the crash point did not fire";
      // A fresh process would reload state from disk: rebuild node B's objects.
      NodeState reloaded(p.b.dir, sdk::Role::secondary);
      Node& b = p.b;
      NodeStores stores(b);
      FailoverOrchestrator rerun(b.dir, reloaded, stores, p.b_peer, p.log);
      json report = rerun.promote({});
      ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
      json got = final_state(b.dir);
      EXPECT_EQ(got, reference);
      EXPECT_EQ(rerun.history().size(), 1u);
    }
  }
}

// The crash is a crash: no at-exit code runs. With _exit(), ThreadSanitizer's
// interceptor ran its at-exit checks and reported a finished thread that its
// owner would have joined later (elasticsearch-rebuild's rebuild thread, in
// the e2e pair test) as a thread leak. Only the sanitized run (make
// test-tsan) sees that report, as a file; elsewhere this test cannot fail.
TEST(FailoverOrchestrator, AnInjectedCrashRunsNoAtExitChecks) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::atomic<pid_t> tid{0};
    std::thread finished([&] { tid = ::gettid(); });
    // Until it has ended, unjoined: its task is gone from /proc/self/task.
    // (Not "one task left": ThreadSanitizer runs a background thread of its own.)
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (tid == 0 || std::filesystem::exists("/proc/self/task/" + std::to_string(tid.load()))) {
      if (std::chrono::steady_clock::now() > deadline) ::_exit(3);  // the thread never ended: not the case tested
      std::this_thread::yield();
    }
    ::setenv("TANDEM_FAULT_INJECT", "after:role", 1);
    fault_point("after", "role");
    ::_exit(0);  // not reached when the fault point fires
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 86);
}

// A store that implements no failover step at all (the SDK's default bodies).
class NoStepsStore final : public sdk::Plugin {
 public:
  explicit NoStepsStore(bool nothing_to_fail_over) : nothing_(nothing_to_fail_over) {}
  sdk::PluginInfo info() const override {
    return {.name = "no-steps",
            .version = "1",
            .description = "implements no failover step",
            .nothing_to_fail_over = nothing_};
  }
  sdk::ConfigSchema schema() const override { return {}; }
  sdk::Status configure(const sdk::StoreConfig&, sdk::HostContext&) override { return {}; }
  sdk::Health health() const override { return sdk::Health::make(sdk::HealthStatus::ok, "fine"); }

 private:
  bool nothing_;
};

class OneStore final : public FailoverStores {
 public:
  explicit OneStore(sdk::Plugin& p) : p_(p) {}
  std::vector<FailoverStore> stores() const override {
    return {{"watch", "no-steps", 50, p_.info().nothing_to_fail_over}};
  }
  void call(const std::string&, const std::function<void(sdk::Plugin&)>& fn) override { fn(p_); }

 private:
  sdk::Plugin& p_;
};

struct DownPeer final : public FailoverPeer {
  PeerView status() override {
    return PeerView{false, sdk::Role::secondary, 0, false, "connection refused", false, ""};
  }
  sdk::Result<json> demote(std::uint64_t) override { return sdk::Result<json>::failure("down"); }
  sdk::Result<json> rejoin() override { return sdk::Result<json>::failure("down"); }
};

TEST(FailoverOrchestrator, AnUnimplementedStepIsNotSupportedNeverSuccess) {
  NoStepsStore plugin(false);
  auto r = plugin.promote({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), sdk::ErrorCode::not_supported);
  EXPECT_EQ(plugin.demote({}).code(), sdk::ErrorCode::not_supported);
  EXPECT_EQ(plugin.rejoin({}).code(), sdk::ErrorCode::not_supported);
}

TEST(FailoverOrchestrator, NotSupportedFailsThePromoteOfAStoreThatHasSomethingToFailOver) {
  sdk::testing::TempDir tmp{"tandem-failover"};
  NodeState state(tmp.path(), sdk::Role::secondary);
  NoStepsStore plugin(false);
  OneStore stores(plugin);
  DownPeer peer;
  NullLogger log;
  FailoverOrchestrator orch(tmp.path(), state, stores, peer, log);
  json report = orch.promote({});
  EXPECT_EQ(report["result"], "failed") << report.dump(2);
  EXPECT_NE(report["reason"].get<std::string>().find("does not implement promote"), std::string::npos)
      << report.dump(2);
  EXPECT_EQ(state.get().role, sdk::Role::secondary);
}

TEST(FailoverOrchestrator, NotSupportedIsSkippedForAStoreWithNothingToFailOver) {
  sdk::testing::TempDir tmp{"tandem-failover"};
  NodeState state(tmp.path(), sdk::Role::secondary);
  NoStepsStore plugin(true);
  OneStore stores(plugin);
  DownPeer peer;
  NullLogger log;
  FailoverOrchestrator orch(tmp.path(), state, stores, peer, log);
  json report = orch.promote({});
  ASSERT_EQ(report["result"], "succeeded") << report.dump(2);
  EXPECT_NE(report.dump().find("skipped: this plugin does not implement promote"), std::string::npos) << report.dump(2);
  EXPECT_EQ(state.get().role, sdk::Role::primary);
}

}  // namespace
}  // namespace tandem::core
