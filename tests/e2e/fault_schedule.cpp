// A Jepsen-style fault schedule against a real pair (tests/e2e/pair_world.h):
// a load generator writes to PostgreSQL and to the KV endpoint of the node the
// operator calls primary and records every acknowledgement; a probe writes to
// BOTH nodes all the time and records which node acknowledged when; a seeded
// random schedule of faults and operator actions runs meanwhile, each one
// followed by the recovery an operator would do (heal, resume, restart,
// rejoin) until the pair is in sync again.
//
// Checked after each schedule:
//   - no acknowledged write is lost beyond what a promote report stated:
//     zero for a promote of an in-sync pair (synchronous PostgreSQL, KV dual
//     writes); after `promote --force` during a partition only what the report
//     did not call "nothing", plus what the cut-off old primary acknowledged
//     after the promotion (docs/operations.md, Fencing: discarded by rejoin);
//   - never two nodes acknowledging writes at the same time, except in that
//     documented window (from the promotion until the old primary fences after
//     the partition heals); every handover's window is measured and printed;
//   - every store converges after heal + rejoin: identical Redis data sets,
//     identical PostgreSQL row sets, identical config trees, and the search
//     alias on the primary holding exactly PostgreSQL's rows.
//
// Usage: tandem_e2e_fault_schedule [--runs N] [--seed S] [--faults K] [--list]
// (--list prints the schedules and runs nothing)
// Run i uses seed S+i on a fresh pair; the schedule is printed first, and a
// failing run prints the command that reruns exactly its schedule.
// Exit: 0 all runs passed, 1 a check failed, 77 no network namespaces here.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "load_generator.h"
#include "pair_node.h"
#include "pair_world.h"
#include "step_watch.h"
#include "support/netns_scope.h"
#include "support/redis_server.h"
#include "tandem/sdk/file_util.h"

namespace tandem::e2e {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kSyncTimeout = 180s;
// Deadlines (step_watch.h): a whole step of the schedule (fault, operator
// actions, waits), the start of the pair, the final checks, and each
// operator command. Generous for a loaded 2-core machine; what passes one
// is stuck, not slow. The ctest TIMEOUT of the short schedule
// (CMakeLists.txt) is above kStartBudget + 3 kStepBudget + kFinishBudget.
constexpr auto kStartBudget = 180s;
constexpr auto kStepBudget = 240s;
constexpr auto kFinishBudget = 240s;
constexpr auto kCommandBudget = 150s;
// How long a call may overrun its deadline before the watchdog unblocks it.
constexpr auto kStuckGrace = 30s;
// Two probe threads stamp acknowledgements a few ms apart: a handover with
// no overlap can still show this much.
constexpr auto kStampSlack = 100ms;
// How long after a partition heals the cut-off old primary may still
// acknowledge writes: it sees the peer's higher epoch at its next status poll
// (every 3 s, 2 s timeout; core/src/host/peer_monitor.h) and fences.
constexpr auto kFenceBound = 10s;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A check failed: the run stops and the schedule is reported as failing.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Kind {
  partition,            // node <-> node both ways, clients reach both
  one_way_to_standby,   // primary -> secondary dropped
  one_way_to_primary,   // secondary -> primary dropped
  isolate_primary,      // clients cut too
  isolate_secondary,    //
  link_down_primary,    //
  link_down_secondary,  //
  kill_tandemd_primary,
  kill_tandemd_secondary,
  pause_primary,  // SIGSTOP of every process of the host, then SIGCONT
  pause_secondary,
  restart_primary,  // SIGTERM of tandemd and start
  restart_secondary,
  switchover,
  kill_host_promote,        // kill -9 of the primary's whole host, promote, boot it, rejoin
  kill_host_secondary,      // kill -9 of the secondary's whole host, boot it
  force_promote_partition,  // partition, promote --force on the secondary, heal, rejoin
  force_promote_half_dead,  // kill -9 of the primary's tandemd only, promote --force, restart it, rejoin
};
constexpr int kKinds = 18;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::partition: return "partition primary<->secondary";
    case Kind::one_way_to_standby: return "one-way partition primary->secondary";
    case Kind::one_way_to_primary: return "one-way partition secondary->primary";
    case Kind::isolate_primary: return "isolate primary (clients too)";
    case Kind::isolate_secondary: return "isolate secondary (clients too)";
    case Kind::link_down_primary: return "link down on primary";
    case Kind::link_down_secondary: return "link down on secondary";
    case Kind::kill_tandemd_primary: return "kill -9 tandemd on primary, restart";
    case Kind::kill_tandemd_secondary: return "kill -9 tandemd on secondary, restart";
    case Kind::pause_primary: return "SIGSTOP/SIGCONT primary host";
    case Kind::pause_secondary: return "SIGSTOP/SIGCONT secondary host";
    case Kind::restart_primary: return "restart tandemd on primary";
    case Kind::restart_secondary: return "restart tandemd on secondary";
    case Kind::switchover: return "switchover";
    case Kind::kill_host_promote: return "kill -9 primary host, promote, boot, rejoin";
    case Kind::kill_host_secondary: return "kill -9 secondary host, boot";
    case Kind::force_promote_partition: return "partition, promote --force, heal, rejoin";
    case Kind::force_promote_half_dead: return "kill -9 primary tandemd, promote --force, restart, rejoin";
  }
  return "?";
}

struct Step {
  Kind kind;
  int hold_ms;   // how long the fault lasts
  int hold2_ms;  // force promote: how long the two primaries run before heal
  bool boot_pg;  // kill_host_promote: the host's boot starts PostgreSQL before tandemd
};

std::vector<Step> make_schedule(std::uint64_t seed, int faults) {
  std::mt19937_64 rng(seed);
  std::vector<Step> out;
  std::vector<int> deck;
  while (static_cast<int>(out.size()) < faults) {
    if (deck.empty()) {
      for (int k = 0; k < kKinds; ++k) deck.push_back(k);
      std::shuffle(deck.begin(), deck.end(), rng);
    }
    Step s;
    s.kind = static_cast<Kind>(deck.back());
    deck.pop_back();
    s.hold_ms = std::uniform_int_distribution<int>(1500, 7000)(rng);
    s.hold2_ms = std::uniform_int_distribution<int>(1000, 4000)(rng);
    s.boot_pg = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
    out.push_back(s);
  }
  return out;
}

std::string describe(const Step& s) {
  std::ostringstream o;
  o << kind_name(s.kind) << " (hold " << s.hold_ms << " ms";
  if (s.kind == Kind::force_promote_partition || s.kind == Kind::force_promote_half_dead)
    o << ", two primaries " << s.hold2_ms << " ms";
  if (s.kind == Kind::kill_host_promote) o << (s.boot_pg ? ", boot starts PostgreSQL" : ", boot without PostgreSQL");
  o << ")";
  return o.str();
}

// One change of primary, as the test made it.
struct Handover {
  std::string what;
  int from = 0, to = 0;
  Clock::time_point start;  // the command began
  bool force = false;
  // Until when the old primary may still acknowledge writes (the documented
  // window); nullopt: it must have stopped before the new one's first.
  std::optional<Clock::time_point> old_allowed_until;
  json loss;  // the report's "loss" object (promote)
};

struct StoreTotals {
  std::size_t lost_stated = 0, lost_window = 0;
  std::size_t merged = 0;  // forced-window writes of the old primary that reached the new one
};

class ScheduleRun {
 public:
  ScheduleRun(std::uint64_t seed, int faults) : seed_(seed), schedule_(make_schedule(seed, faults)) {}

  void print() const {
    std::cout << "\n==== fault schedule seed " << seed_ << ", " << schedule_.size() << " faults:\n";
    for (std::size_t i = 0; i < schedule_.size(); ++i)
      std::cout << "  " << i + 1 << ". " << describe(schedule_[i]) << "\n";
    std::cout << std::flush;
  }

  // Runs the schedule; returns true when every check passed.
  bool run() {
    print();
    try {
      pair_ = std::make_unique<PairWorld>();
      if (!pair_->net()) {
        std::cout << "SKIP: network namespaces unavailable (" << pair_->loopback_reason() << ")" << std::endl;
        skipped_ = true;
        return true;
      }
      watch_ = std::make_unique<StepWatch>(kStuckGrace, [this](const std::string&) { return unblock(); });
      {
        StepWatch::Phase phase(*watch_, "starting the pair", kStartBudget);
        node(0).start_daemon();
        node(1).start_daemon();
        wait_in_sync("after the pair started");
        load_ = std::make_unique<LoadGenerator>(pair_->target_of(0));
        probe_ = std::make_unique<WritableProbe>(pair_->target_of(0), pair_->target_of(1));
        let_load_run(100);
      }
      for (std::size_t i = 0; i < schedule_.size(); ++i) {
        const auto t0 = Clock::now();
        std::cout << "-- " << i + 1 << "/" << schedule_.size() << " " << describe(schedule_[i]) << "; primary "
                  << node(primary_).name() << std::endl;
        step_ = i + 1;
        StepWatch::Phase phase(*watch_,
                               "step " + std::to_string(i + 1) + "/" + std::to_string(schedule_.size()) + " (" +
                                   describe(schedule_[i]) + ", primary " + node(primary_).name() + ")",
                               kStepBudget);
        run_step(schedule_[i]);
        write_config_change(i + 1);
        let_load_run(20);
        std::cout << "   done in " << std::fixed << std::setprecision(1) << ms(Clock::now() - t0) / 1000 << " s"
                  << std::endl;
      }
      StepWatch::Phase phase(*watch_, "final checks", kFinishBudget);
      finish();
    } catch (const std::exception& e) {
      failed_ = true;
      std::cout << "FAILED in step " << step_ << ": " << e.what() << "\n";
      // What the watchdog saw before it killed the hosts' processes, when the
      // failure came after that but was not its Stuck.
      if (auto stuck = watch_ ? watch_->stuck() : std::nullopt; stuck && *stuck != e.what())
        std::cout << "(the watchdog had found: " << *stuck << ")\n";
      if (pair_) std::cout << pair_->describe();
    }
    if (probe_) probe_->stop();
    if (load_) load_->stop();
    if (pair_) pair_->resume_all();
    watch_.reset();
    if (failed_)
      std::cout << "FAILING SCHEDULE; rerun it with: tests/e2e/fault_schedule --runs 1 --seed " << seed_ << " --faults "
                << schedule_.size() << std::endl;
    return !failed_;
  }

  bool skipped() const { return skipped_; }
  const std::string& summary() const { return summary_; }

 private:
  PairNode& node(int i) { return pair_->node(i); }
  testsupport::NetnsWorld& net() { return *pair_->net(); }
  int secondary() const { return 1 - primary_; }
  const std::string& host_name(int i) { return node(i).name(); }

  // ---- waiting and recovery ----

  // The watchdog found the main thread past a deadline in a call that does
  // not return (step_watch.h): what both nodes show now, then every process
  // on the hosts killed, which ends whatever the main thread waits on
  // (tandemctl, a store's connection, a daemon's answer). Watchdog thread.
  std::string unblock() {
    std::string seen = pair_->describe();
    for (const auto& h : net().hosts()) net().kill_all(h);
    return seen;
  }

  // Polls `ready` every 100 ms until true. Past `budget` (or an enclosing
  // step's deadline) the run fails with where it stuck and what was seen
  // last (`seen`, e.g. both nodes' status).
  void await(const std::string& what, Clock::duration budget, const std::function<bool()>& ready,
             const std::function<std::string()>& seen = {}) {
    StepWatch::Phase phase(*watch_, "waiting for " + what, budget);
    while (!ready()) {
      if (watch_->remaining() == Clock::duration::zero())
        throw Failure("timed out: " + watch_->describe() + (seen ? ":\n" + seen() : std::string()));
      std::this_thread::sleep_for(100ms);
    }
  }

  // Both nodes in their roles, every store replicating (as pair_failover_test).
  void wait_in_sync(const std::string& when) {
    std::string why;
    const int p = primary_, s = secondary();
    await(
        "the pair in sync (" + node(p).name() + " primary, " + node(s).name() + " secondary) " + when, kSyncTimeout,
        [&] { return pair_in_sync(node(p), node(s), why); }, [&] { return why; });
  }

  void let_load_run(std::size_t n) {
    const auto pg0 = load_->pg_acked().size(), kv0 = load_->kv_acked().size();
    await(
        std::to_string(n) + " more acknowledged writes per store on " + node(primary_).name(), 60s,
        [&] { return load_->pg_acked().size() >= pg0 + n && load_->kv_acked().size() >= kv0 + n; },
        [&] { return "the load generator made no progress: " + load_->last_errors(); });
  }

  void hold(int ms_) { std::this_thread::sleep_for(std::chrono::milliseconds(ms_)); }

  void ensure_daemon(int i) {
    if (!node(i).daemon_running()) node(i).start_daemon();
  }

  // A killed host boots: its Redis and search cluster start again (PostgreSQL
  // only when `pg`), then tandemd.
  void boot_host(int i, bool pg) {
    StepWatch::Phase phase(*watch_, "booting " + node(i).name(), 120s);
    wait_for([&] { return testsupport::netns_pids(node(i).host().netns).empty(); }, 10s);
    node(i).redis().restart();
    node(i).restart_es();
    if (pg) node(i).pg().start();
    node(i).start_daemon();
  }

  // An operator command, retried (an operator reruns a failed one) up to
  // `attempts` times within kCommandBudget; each run of tandemctl is bounded
  // by what is left of it.
  json ctl_report(int i, const std::vector<std::string>& args, int attempts = 1) {
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    StepWatch::Phase phase(*watch_, "tandemctl" + cmd + " on " + node(i).name(), kCommandBudget);
    std::string last;
    for (int a = 0; a < attempts; ++a) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(watch_->remaining());
      if (left <= 0ms) break;
      auto r = node(i).ctl(args, true, left);
      json report = json::parse(r.stdout_text, nullptr, false);
      if (r.exit_code == 0 && report.is_object() && report.value("result", "") == "succeeded") return report;
      last = (r.timed_out ? "(tandemctl killed at the deadline)\n" : "") + r.stdout_text + r.stderr_text;
      std::this_thread::sleep_for(2s);
    }
    throw Failure("tandemctl" + cmd + " on " + node(i).name() + " failed (" + watch_->describe() + "):\n" + last);
  }

  void wait_fenced(int i) {
    json st;
    await(
        node(i).name() + " to fence", 60s, [&] { return (st = node(i).status()).value("fenced", false); },
        [&] { return summarize(node(i).name(), st); });
  }

  // ---- the steps ----

  void run_step(const Step& s) {
    const int p = primary_, q = secondary();
    const std::string P = host_name(p), Q = host_name(q);
    switch (s.kind) {
      case Kind::partition:
        net().partition(P, Q);
        hold(s.hold_ms);
        net().heal();
        break;
      case Kind::one_way_to_standby:
        net().partition_one_way(P, Q);
        hold(s.hold_ms);
        net().heal();
        break;
      case Kind::one_way_to_primary:
        net().partition_one_way(Q, P);
        hold(s.hold_ms);
        net().heal();
        break;
      case Kind::isolate_primary:
      case Kind::isolate_secondary:
        net().isolate(s.kind == Kind::isolate_primary ? P : Q);
        hold(s.hold_ms);
        net().heal();
        break;
      case Kind::link_down_primary:
      case Kind::link_down_secondary: {
        const std::string& h = s.kind == Kind::link_down_primary ? P : Q;
        net().link_down(h);
        hold(s.hold_ms);
        net().link_up(h);
        break;
      }
      case Kind::kill_tandemd_primary:
      case Kind::kill_tandemd_secondary: {
        const int i = s.kind == Kind::kill_tandemd_primary ? p : q;
        node(i).kill_daemon();
        hold(s.hold_ms);
        node(i).start_daemon();
        break;
      }
      case Kind::pause_primary:
      case Kind::pause_secondary: {
        const std::string& h = s.kind == Kind::pause_primary ? P : Q;
        net().pause(h);
        hold(s.hold_ms);
        net().resume(h);
        break;
      }
      case Kind::restart_primary:
      case Kind::restart_secondary: {
        const int i = s.kind == Kind::restart_primary ? p : q;
        node(i).stop_daemon();
        hold(std::min(s.hold_ms, 2000));
        node(i).start_daemon();
        break;
      }
      case Kind::switchover: {
        Handover h = begin_handover("switchover", p, q, false);
        ctl_report(q, {"switchover"});
        load_->retarget(pair_->target_of(q));
        handovers_.push_back(h);
        primary_ = q;
        break;
      }
      case Kind::kill_host_promote: {
        net().kill_all(P);
        hold(std::min(s.hold_ms, 3000));
        Handover h = begin_handover("promote after the primary's host died", p, q, false);
        json report = ctl_report(q, {"promote"}, 15);
        h.loss = report.value("loss", json::object());
        load_->retarget(pair_->target_of(q));
        print_loss(h);
        // A PostgreSQL the boot starts before tandemd is a writable primary
        // until tandemd fences it (docs/operations.md: nothing can fence it
        // before tandemd runs); the window ends with the fence.
        boot_host(p, s.boot_pg);
        wait_fenced(p);
        if (s.boot_pg) wait_for([&] { return !node(p).pg().running(); }, 30s);
        if (s.boot_pg) h.old_allowed_until = Clock::now() + kStampSlack;
        ctl_report(p, {"rejoin"}, 5);
        handovers_.push_back(h);
        primary_ = q;
        break;
      }
      case Kind::kill_host_secondary:
        net().kill_all(Q);
        hold(s.hold_ms);
        boot_host(q, false);  // the plugin starts the standby's PostgreSQL
        break;
      case Kind::force_promote_partition: {
        net().partition(P, Q);
        hold(s.hold_ms);  // the application still writes to P, which it reaches
        Handover h = begin_handover("promote --force during a partition", p, q, true);
        json report = ctl_report(q, {"promote", "--force"}, 5);
        h.loss = report.value("loss", json::object());
        load_->retarget(pair_->target_of(q));
        print_loss(h);
        hold(s.hold2_ms);  // two primaries, each reached by clients
        const auto healed = Clock::now();
        net().heal();
        wait_fenced(p);
        const double fence_ms = ms(Clock::now() - healed);
        std::cout << "   " << P << " fenced " << std::fixed << std::setprecision(0) << fence_ms << " ms after the heal"
                  << std::endl;
        h.old_allowed_until = healed + kFenceBound;
        ctl_report(p, {"rejoin"}, 5);
        handovers_.push_back(h);
        primary_ = q;
        break;
      }
      case Kind::force_promote_half_dead: {
        // tandemd dies; the primary's PostgreSQL and Redis go on. Its
        // synchronous commits wait for a standby that is now promoted, so
        // none is acknowledged; the KV endpoint died with tandemd.
        node(p).kill_daemon();
        hold(std::min(s.hold_ms, 3000));
        Handover h = begin_handover("promote --force of a half-dead primary", p, q, true);
        json report = ctl_report(q, {"promote", "--force"}, 5);
        h.loss = report.value("loss", json::object());
        load_->retarget(pair_->target_of(q));
        print_loss(h);
        hold(s.hold2_ms);
        node(p).start_daemon();
        wait_fenced(p);
        ctl_report(p, {"rejoin"}, 5);
        handovers_.push_back(h);
        primary_ = q;
        break;
      }
    }
    pair_->resume_all();
    net().heal();
    ensure_daemon(0);
    ensure_daemon(1);
    wait_in_sync("after step " + std::to_string(step_));
    check_losses();
  }

  static Handover begin_handover(std::string what, int from, int to, bool force) {
    Handover h;
    h.what = std::move(what);
    h.from = from;
    h.to = to;
    h.start = Clock::now();
    h.force = force;
    return h;
  }

  void print_loss(const Handover& h) {
    std::cout << "   " << h.what << " on " << node(h.to).name() << "; loss stated:";
    for (const auto& [store, loss] : h.loss.items())
      std::cout << " " << store << ": " << loss.value("summary", "?") << ";";
    std::cout << std::endl;
  }

  // A config change on the primary; it must reach the secondary (the
  // primary tells it to pull; at the latest its next interval pull).
  void write_config_change(std::size_t step) {
    const std::string file = "step-" + std::to_string(step) + ".conf";
    const std::string text = "written on " + node(primary_).name() + " after step " + std::to_string(step) + "\n";
    sdk::atomic_write_file(node(primary_).config_tree() / file, text, 0644);
    const auto copy = node(secondary()).config_tree() / file;
    await(file + " written on " + node(primary_).name() + " to reach " + node(secondary()).name(), 90s, [&] {
      std::ifstream in(copy);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) == text;
    });
  }

  // ---- checks ----

  int node_of_host(const std::string& address) {
    for (int i = 0; i < 2; ++i)
      if (node(i).host().address == address) return i;
    return -1;
  }

  // Acknowledged writes missing on the primary, not excused yet, are checked
  // against the last handover's report: allowed only after promote --force,
  // when acknowledged by the old primary, and (before the command) when the
  // report did not claim "nothing" for that store.
  void check_losses() {
    // The acknowledgements first, then the store: a write acknowledged in
    // between must not look lost.
    const auto pg_history = load_->pg_history();
    check_store_losses("PostgreSQL", kPgStore, pg_history, node(primary_).pg_ids(), pg_excused_, pg_totals_);
    const auto kv_history = load_->kv_history();
    std::vector<std::int64_t> kv_ids;
    for (const auto& a : kv_history) kv_ids.push_back(a.id);
    const auto kv_missing = node(primary_).missing_kv_keys(kv_ids);
    std::vector<std::int64_t> have;  // present = acknowledged minus missing
    std::set<std::int64_t> miss(kv_missing.begin(), kv_missing.end());
    for (auto id : kv_ids)
      if (!miss.count(id)) have.push_back(id);
    check_store_losses("KV", kKvStore, kv_history, have, kv_excused_, kv_totals_);
  }

  // Where a missing write is (for the failure message).
  std::string where(const char* store, std::int64_t id) {
    std::string out;
    for (int i = 0; i < 2; ++i) {
      bool present = false;
      if (std::string(store) == kKvStore) {
        present = node(i).missing_kv_keys({id}).empty();
      } else {
        const auto ids = node(i).pg_ids();
        present = std::binary_search(ids.begin(), ids.end(), id);
      }
      out += std::string(", ") + (present ? "present" : "absent") + " on " + node(i).name();
    }
    return out;
  }

  void check_store_losses(const std::string& label, const char* store, const std::vector<Ack>& history,
                          std::vector<std::int64_t> have, std::set<std::int64_t>& excused, StoreTotals& totals) {
    const auto where = [&](std::int64_t id) { return this->where(store, id); };
    std::sort(have.begin(), have.end());
    const Handover* last = handovers_.empty() ? nullptr : &handovers_.back();
    std::vector<std::int64_t> unexplained;
    std::string detail;  // who acknowledged the first unexplained ones, and when
    std::size_t stated = 0, window = 0;
    std::vector<std::int64_t> merged_now;
    for (const auto& a : history) {
      if (excused.count(a.id)) continue;
      if (std::binary_search(have.begin(), have.end(), a.id)) {
        // Acknowledged by the cut-off old primary after the forced promotion,
        // yet on the new one: merged in when the partition healed, not discarded.
        if (last && last->force && a.at >= last->start + kStampSlack && node_of_host(a.host) == last->from &&
            merged_.insert({label, a.id}).second) {
          ++totals.merged;
          merged_now.push_back(a.id);
        }
        continue;
      }
      const auto describe_ack = [&] {
        std::ostringstream o;
        o << "; id " << a.id << " acknowledged by " << a.host;
        if (last)
          o << " " << std::fixed << std::setprecision(0) << ms(a.at - last->start) << " ms after the handover began";
        return o.str();
      };
      const bool by_old = last && node_of_host(a.host) == last->from;
      const bool force = last && last->force;
      const std::string summary = last ? last->loss.value(store, json::object()).value("summary", "") : std::string("");
      if (force && by_old && a.at >= last->start) {
        ++window;  // the documented two-primaries window: discarded by rejoin
      } else if (force && by_old && summary.rfind("nothing", 0) != 0) {
        ++stated;  // the report said it could be lost
      } else {
        if (unexplained.size() < 5) detail += describe_ack() + where(a.id);
        unexplained.push_back(a.id);
        continue;
      }
      excused.insert(a.id);
    }
    totals.lost_stated += stated;
    totals.lost_window += window;
    if (stated || window)
      std::cout << "   " << label << ": " << stated << " acknowledged writes lost as the report allowed, " << window
                << " acknowledged by the old primary after the forced promotion (discarded by rejoin)" << std::endl;
    // KV: such a write reached the new primary's Redis from the old one's
    // journal after the new primary took writes of its own; for a key both
    // wrote, that replaces the new value (a lost update). docs/operations.md
    // (Fencing) says they are discarded. PostgreSQL only counts them: a
    // synchronous commit the old primary acknowledged had reached the standby
    // before it was promoted.
    if (std::string(store) == kKvStore && !merged_now.empty()) {
      std::string ids;
      for (std::size_t i = 0; i < merged_now.size() && i < 10; ++i)
        ids += (i ? ", " : " e.g. ") + std::to_string(merged_now[i]);
      throw Failure(label + ": " + std::to_string(merged_now.size()) +
                    " writes the cut-off old primary acknowledged after `promote --force` began are on the new "
                    "primary " +
                    node(primary_).name() + " (merged, not discarded):" + ids +
                    (last ? "; last handover: " + last->what : std::string()));
    }
    if (!unexplained.empty()) {
      std::string why = label + ": acknowledged writes missing on the primary " + node(primary_).name() + " beyond " +
                        "what any report stated: " + describe_missing(unexplained) + detail;
      if (last) why += "; last handover: " + last->what + ", report " + last->loss.value(store, json()).dump();
      throw Failure(why);
    }
  }

  // Every handover's window per store: from the new primary's first
  // acknowledgement to the old one's last, within the handover's segment
  // (until the next handover began). Before the first handover only alpha
  // may acknowledge.
  void check_windows(const std::string& label, const std::vector<Clock::time_point> (&acks)[2],
                     const std::vector<Ack>& load, double& worst_clean, double& worst_forced) {
    std::vector<std::pair<Clock::time_point, int>> all;
    for (int i = 0; i < 2; ++i)
      for (auto t : acks[i]) all.push_back({t, i});
    for (const auto& a : load) all.push_back({a.at, node_of_host(a.host)});
    std::sort(all.begin(), all.end());
    const auto segment_end = [&](std::size_t k) {
      return k + 1 < handovers_.size() ? handovers_[k + 1].start : Clock::time_point::max();
    };
    // Before any handover: the initial primary (alpha) only.
    const auto first_start = handovers_.empty() ? Clock::time_point::max() : handovers_[0].start;
    for (const auto& [t, i] : all)
      if (t < first_start && i != 0)
        throw Failure(label + ": " + node(1).name() + " acknowledged a write while " + node(0).name() +
                      " was the only primary");
    for (std::size_t k = 0; k < handovers_.size(); ++k) {
      const Handover& h = handovers_[k];
      std::optional<Clock::time_point> first_new, last_old;
      for (const auto& [t, i] : all) {
        if (t < h.start || t >= segment_end(k)) continue;
        if (i == h.to && !first_new) first_new = t;
      }
      if (!first_new) throw Failure(label + ": " + node(h.to).name() + " took no write after " + h.what);
      for (const auto& [t, i] : all)
        if (t >= *first_new && t < segment_end(k) && i == h.from) last_old = t;
      const double w = last_old ? ms(*last_old - *first_new) : 0.0;
      std::cout << "   " << label << " handover " << k + 1 << " (" << h.what << ", " << node(h.from).name() << " -> "
                << node(h.to).name() << "): two writers for " << std::fixed << std::setprecision(1) << w << " ms"
                << std::endl;
      const auto allowed_until = h.old_allowed_until.value_or(*first_new + kStampSlack);
      if (last_old && *last_old > std::max(allowed_until, *first_new + kStampSlack))
        throw Failure(label + ": " + node(h.from).name() + " still acknowledged writes " + std::to_string(w) +
                      " ms after " + node(h.to).name() + " took its first, beyond the documented window (" + h.what +
                      ")");
      double& worst = h.force ? worst_forced : worst_clean;
      worst = std::max(worst, w);
    }
  }

  // The config tree's files and contents, and a checksum of them for the report.
  std::map<std::string, std::string> tree_files(const PairNode& n) {
    std::map<std::string, std::string> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(n.config_tree())) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      files[std::filesystem::relative(e.path(), n.config_tree()).string()] =
          std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    return files;
  }

  static std::string checksum(const std::map<std::string, std::string>& files) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a over names and contents
    auto mix = [&](const std::string& s) {
      for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
      h = (h ^ 0xff) * 1099511628211ull;
    };
    for (const auto& [name, body] : files) {
      mix(name);
      mix(body);
    }
    std::ostringstream hex;
    hex << std::hex << std::setw(16) << std::setfill('0') << h << std::dec << " (" << files.size() << " files)";
    return hex.str();
  }

  std::map<std::string, std::string> redis_data(int i) {
    testsupport::NetnsScope in(node(i).host().netns);
    testsupport::RedisClient c("127.0.0.1", node(i).redis().port(), 30s);
    return testsupport::redis_snapshot(c);
  }

  std::vector<std::string> probe_rows(int i) {
    std::istringstream in(node(i).pg().psql("SELECT id FROM probe_events ORDER BY id"));
    std::vector<std::string> rows;
    for (std::string line; std::getline(in, line);) rows.push_back(line);
    return rows;
  }

  void finish() {
    probe_->stop();
    load_->stop();
    const int p = primary_, s = secondary();
    // Every acknowledged write not stated lost is on both nodes.
    check_losses();
    // Windows.
    double clean = 0, forced = 0;
    std::vector<Clock::time_point> pg_acks[2] = {probe_->pg_acks(0), probe_->pg_acks(1)};
    std::vector<Clock::time_point> kv_acks[2] = {probe_->kv_acks(0), probe_->kv_acks(1)};
    check_windows("PostgreSQL", pg_acks, load_->pg_history(), clean, forced);
    check_windows("KV", kv_acks, load_->kv_history(), clean, forced);

    // Convergence.
    await(
        "the same PostgreSQL rows on both nodes", 60s, [&] { return node(s).pg_ids() == node(p).pg_ids(); },
        [&] {
          return "PostgreSQL row sets differ: " + std::to_string(node(p).pg_ids().size()) + " rows on " +
                 node(p).name() + ", " + std::to_string(node(s).pg_ids().size()) + " on " + node(s).name();
        });
    await("the same probe_events on both nodes", 30s, [&] { return probe_rows(s) == probe_rows(p); });
    std::map<std::string, std::string> kp, ks;
    if (!wait_for([&] { return (kp = redis_data(p)) == (ks = redis_data(s)); },
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::min<Clock::duration>(30s, watch_->remaining())))) {
      // Which keys differ: acknowledged writes, or writes whose outcome the
      // client never learned (in flight when a tandemd was killed; the
      // kvstore's crash reconciliation must still make both sides equal).
      std::set<std::int64_t> acked;
      for (const auto& a : load_->kv_history()) acked.insert(a.id);
      std::vector<std::string> bad, unacked;
      auto classify = [&](const std::string& key) {
        const bool load_key = key.rfind("load:", 0) == 0;
        const bool never_acked = load_key && !acked.count(std::stoll(key.substr(5)));
        (never_acked || key.rfind("probe:", 0) == 0 ? unacked : bad).push_back(key);
      };
      for (const auto& [k, v] : kp)
        if (auto it = ks.find(k); it == ks.end() || it->second != v) classify(k);
      for (const auto& [k, v] : ks)
        if (!kp.count(k)) classify(k);
      std::string list;
      for (std::size_t i = 0; i < unacked.size() && i < 5; ++i) list += " " + unacked[i];
      if (!unacked.empty() || !bad.empty())
        throw Failure("Redis data sets differ between " + node(p).name() + " and " + node(s).name() + ": " +
                      std::to_string(bad.size()) + " acknowledged key(s)" +
                      (bad.empty() ? "" : " e.g. " + bad.front()) + ", " + std::to_string(unacked.size()) +
                      " never acknowledged (in flight at a kill?):" + list);
    }
    std::map<std::string, std::string> tp, ts;
    await(
        "the same config tree on both nodes", 90s,
        [&] { return (tp = tree_files(node(p))) == (ts = tree_files(node(s))); },
        [&] {
          return "config trees differ: " + node(p).name() + " " + checksum(tp) + ", " + node(s).name() + " " +
                 checksum(ts);
        });
    const std::string cp = checksum(tp);
    // Every config change written on a primary along the way is there.
    for (std::size_t i = 1; i <= step_; ++i)
      if (!std::filesystem::exists(node(s).config_tree() / ("step-" + std::to_string(i) + ".conf")))
        throw Failure("config change of step " + std::to_string(i) + " is not on " + node(s).name());
    check_search_alias(p);

    const auto pg = load_->pg_history().size(), kv = load_->kv_history().size();
    std::ostringstream o;
    o << "seed " << seed_ << ": PASS; " << schedule_.size() << " faults; acknowledged PostgreSQL " << pg << ", KV "
      << kv << "; lost as stated PostgreSQL " << pg_totals_.lost_stated << ", KV " << kv_totals_.lost_stated
      << "; lost in the forced window PostgreSQL " << pg_totals_.lost_window << ", KV " << kv_totals_.lost_window
      << "; forced-window writes merged into the new primary PostgreSQL " << pg_totals_.merged << ", KV "
      << kv_totals_.merged << "; two-writers window: clean handovers max " << std::fixed << std::setprecision(1)
      << clean << " ms, forced promotes max " << forced << " ms; " << handovers_.size() << " handovers; Redis keys "
      << kp.size() << ", config " << cp;
    summary_ = o.str();
    std::cout << summary_ << std::endl;
  }

  void check_search_alias(int p) {
    const auto before = details(node(p).store(node(p).status(), kSearchStore)).value("last_rebuild", json());
    sdk::ProcessResult rebuild;
    {
      StepWatch::Phase phase(*watch_, "tandemctl rebuild on " + node(p).name(), kCommandBudget);
      rebuild = node(p).ctl({"rebuild", kSearchStore}, true,
                            std::chrono::duration_cast<std::chrono::milliseconds>(watch_->remaining()));
    }
    if (rebuild.exit_code != 0) throw Failure("rebuild on the primary failed: " + rebuild.stdout_text);
    json last;
    await(
        "the search rebuild on " + node(p).name(), 120s,
        [&] {
          json d = details(node(p).store(node(p).status(), kSearchStore));
          last = d.value("last_rebuild", json());
          return !d.value("rebuilding", true) && last.is_object() && last != before;
        },
        [&] { return "last rebuild: " + last.dump(); });
    if (last.value("result", "") != "success") throw Failure("search rebuild: " + last.dump());
    const auto rows = node(p).pg_ids();
    std::vector<std::int64_t> docs;
    for (std::size_t from = 0;; from += 5000) {
      json page = node(p).es_get(std::string("/") + kSearchAlias + "/_search?size=5000&from=" + std::to_string(from) +
                                 "&_source=false");
      const auto& hits = page.at("hits").at("hits");
      for (const auto& h : hits) docs.push_back(std::stoll(h.at("_id").get<std::string>()));
      if (hits.size() < 5000) break;
    }
    std::sort(docs.begin(), docs.end());
    if (docs != rows)
      throw Failure("the search alias differs from PostgreSQL: " + describe_missing(missing_from(rows, docs)) +
                    " from the index; " + describe_missing(missing_from(docs, rows)) + " from PostgreSQL");
  }

  std::uint64_t seed_;
  std::vector<Step> schedule_;
  std::unique_ptr<PairWorld> pair_;
  std::unique_ptr<LoadGenerator> load_;
  std::unique_ptr<WritableProbe> probe_;
  std::unique_ptr<StepWatch> watch_;  // after pair_: its watchdog may look at the pair
  int primary_ = 0;
  std::size_t step_ = 0;
  std::vector<Handover> handovers_;
  std::set<std::int64_t> pg_excused_, kv_excused_;
  std::set<std::pair<std::string, std::int64_t>> merged_;
  StoreTotals pg_totals_, kv_totals_;
  bool failed_ = false, skipped_ = false;
  std::string summary_;
};

}  // namespace
}  // namespace tandem::e2e

int main(int argc, char** argv) {
  int runs = 1, faults = 8;
  bool list = false;
  std::optional<std::uint64_t> seed;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--runs")
        runs = std::stoi(value());
      else if (a == "--seed")
        seed = std::stoull(value());
      else if (a == "--faults")
        faults = std::stoi(value());
      else if (a == "--list")
        list = true;
      else {
        std::cerr << "usage: " << argv[0] << " [--runs N] [--seed S] [--faults K] [--list]\n";
        return 2;
      }
    } catch (const std::exception&) {
      std::cerr << a << ": not a number\n";
      return 2;
    }
  }
  if (runs < 1 || faults < 1) {
    std::cerr << "--runs and --faults must be at least 1\n";
    return 2;
  }
  if (!seed)
    seed = std::random_device{}() ^
           static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::cout << "fault schedule: " << runs << " run(s) from seed " << *seed << ", " << faults << " faults each"
            << std::endl;
  if (list) {
    for (int r = 0; r < runs; ++r) tandem::e2e::ScheduleRun(*seed + static_cast<std::uint64_t>(r), faults).print();
    return 0;
  }
  std::vector<std::string> summaries;
  int failures = 0;
  bool skipped = false;
  for (int r = 0; r < runs; ++r) {
    tandem::e2e::ScheduleRun run(*seed + static_cast<std::uint64_t>(r), faults);
    const bool ok = run.run();
    skipped = skipped || run.skipped();
    if (!ok) ++failures;
    summaries.push_back(ok ? run.summary() : "seed " + std::to_string(*seed + r) + ": FAIL");
  }
  std::cout << "\n==== summary\n";
  for (const auto& s : summaries) std::cout << s << "\n";
  std::cout << failures << " of " << runs << " schedules failed" << std::endl;
  if (skipped) return 77;
  return failures ? 1 : 0;
}
