// A real job queue through the KV endpoint (issue 15): python-rq from Debian
// (python3-rq 1.13, no Lua: jobs dequeued with BLPOP, enqueued and finished
// in MULTI/EXEC pipelines, success handled under WATCH) run by a producer and
// four workers in the client namespace, reaching the primary only through
// HAProxy (haproxy_front.h), as the client-reroute test's clients do. The
// producer enqueues 10,000 jobs while one planned switchover and, later, a
// kill -9 of the primary's whole host (tandemd, PostgreSQL, Redis) with
// `tandemctl promote` on the other node happen.
//
// Every enqueue that returned is recorded by the producer; every run of a job
// is recorded by the job itself, in a file outside Redis (rq_job_queue.py).
// After the faults the workers are stopped and the operator's recovery runs:
// rq's StartedJobRegistry cleanup (every entry is abandoned once no worker is
// left), `rq requeue --all` of the failed jobs, and a re-push of jobs queued
// in no queue (popped, never registered as started); then a burst worker
// drains the queue. The test fails unless every acknowledged job ran at least
// once; it prints how many ran twice (at-least-once delivery).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "haproxy_front.h"
#include "pair_world.h"
#include "support/netns_scope.h"
#include "support/redis_server.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int kJobs = 10000;
constexpr int kWorkers = 4;
// Enqueues per second: 10,000 take about 50 s, so both failovers fall in the
// middle of the work (unpaced, the producer is done in seconds).
constexpr int kRate = 200;

class RqJobQueue : public ::testing::Test {
 protected:
  void SetUp() override {
    pair_ = std::make_unique<PairWorld>();
    pair_->node(0).start_daemon();
    pair_->node(1).start_daemon();
    std::string why;
    ASSERT_TRUE(wait_for([&] { return pair_in_sync(node(0), node(1), why); }, 180s))
        << "the pair did not get in sync:\n"
        << why;
    front_ = std::make_unique<HaproxyFront>(*pair_, HealthCheckTiming{});
  }
  void TearDown() override {
    if (producer_.running()) producer_.stop();
    for (auto& w : workers_) w.stop(5s);
    if (HasFailure() && pair_) {
      std::cerr << pair_->describe() << "haproxy log:\n" << front_->log_tail() << "\n";
      for (const char* f : {"producer.log", "worker-1.log", "worker-2.log", "worker-3.log", "worker-4.log"})
        std::cerr << f << ":\n" << tail(dir_.path() / f) << "\n";
    }
  }
  PairNode& node(int i) { return pair_->node(i); }
  std::string client_ns() const { return front_->target().netns; }

  // python3 rq_job_queue.py --host <HAProxy> --port <its KV port> args...
  std::vector<std::string> script(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"/usr/bin/python3", RQ_JOB_QUEUE_SCRIPT,
                                  "--host",           front_->target().host,
                                  "--port",           std::to_string(front_->target().kv_port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  // A long-running script process in the client namespace.
  sdk::ChildProcess start(const std::vector<std::string>& args, const std::string& log) {
    sdk::ChildSpec spec;
    spec.argv = script(args);
    spec.log_file = dir_.path() / log;
    testsupport::NetnsScope in(client_ns());
    sdk::ChildProcess child;
    auto st = child.start(spec);
    if (!st.ok()) ADD_FAILURE() << "cannot start " << log << ": " << st.message();
    return child;
  }
  // Runs a script step to its end in the client namespace; its last stdout line as JSON.
  json run(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    sdk::ProcessSpec spec;
    spec.argv = script(args);
    spec.timeout = timeout;
    testsupport::NetnsScope in(client_ns());
    auto r = sdk::run_process(spec);
    if (!r.ok()) {
      ADD_FAILURE() << args[0] << ": " << r.error().message;
      return {};
    }
    EXPECT_TRUE(r.value().succeeded()) << args[0] << ": " << r.value().describe() << "\n" << r.value().stderr_text;
    const std::string& out = r.value().stdout_text;
    auto start = out.rfind('\n', out.size() >= 2 ? out.size() - 2 : 0);
    return json::parse(start == std::string::npos ? out : out.substr(start + 1), nullptr, false);
  }
  std::size_t acked() const {
    std::ifstream in(dir_.path() / "acked");
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) n += !line.empty();
    return n;
  }
  static std::string tail(const std::filesystem::path& p, std::size_t bytes = 3000) {
    std::error_code ec;
    std::string text = std::filesystem::exists(p, ec) ? sdk::read_file(p) : "";
    return text.size() > bytes ? text.substr(text.size() - bytes) : text;
  }
  // The queue's length, asked through HAProxy as the clients do (-1: no answer).
  long long queue_length() {
    try {
      testsupport::NetnsScope in(client_ns());
      testsupport::RedisClient c(front_->target().host, front_->target().kv_port, 3s);
      auto r = c.command({"LLEN", "rq:queue:jobs"});
      return r.is_error() ? -1 : r.integer;
    } catch (const std::exception&) {
      return -1;
    }
  }
  // How often HAProxy marked a KV server down so far (each time it closed every client session).
  std::size_t kv_marked_down() const {
    const std::string log = front_->log_tail(std::size_t{1} << 22);
    std::size_t n = 0;
    for (auto at = log.find("Server kv/"); at != std::string::npos; at = log.find("Server kv/", at + 1))
      n += log.compare(log.find(' ', at + 10) + 1, 7, "is DOWN") == 0;
    return n;
  }
  void expect_routed_to(const std::string& name, const std::string& when) {
    EXPECT_TRUE(wait_for([&] { return front_->up_servers("kv") == name; }, 30s))
        << when << ": HAProxy's kv servers up: '" << front_->up_servers("kv") << "', expected '" << name << "'";
  }
  void run_failover(int i, const std::vector<std::string>& args) {
    auto r = node(i).ctl(args);
    json report = json::parse(r.stdout_text, nullptr, false);
    EXPECT_EQ(r.exit_code, 0) << args[0] << " on " << node(i).name() << ":\n" << r.stdout_text << r.stderr_text;
    EXPECT_EQ(report.is_object() ? report.value("result", "") : "", "succeeded") << r.stdout_text;
  }
  void wait_for_acked(std::size_t n, const std::string& before) {
    ASSERT_TRUE(wait_for([&] { return acked() >= n || !producer_.running(); }, 120s))
        << "the producer did not get " << n << " enqueues acknowledged before " << before << " (" << acked() << "):\n"
        << tail(dir_.path() / "producer.log");
    ASSERT_TRUE(producer_.running() || acked() >= n) << "the producer ended early:\n"
                                                     << tail(dir_.path() / "producer.log");
  }

  sdk::testing::TempDir dir_{"tandem-rq"};
  std::unique_ptr<PairWorld> pair_;
  std::unique_ptr<HaproxyFront> front_;
  sdk::ChildProcess producer_;
  std::vector<sdk::ChildProcess> workers_;
};

TEST_F(RqJobQueue, TenThousandJobsAcrossSwitchoverAndKillNineEachAcknowledgedJobRuns) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string acked_file = (dir_.path() / "acked").string();
  const std::string stop_file = (dir_.path() / "stop").string();
  for (int i = 1; i <= kWorkers; ++i) {
    const std::string w = "worker-" + std::to_string(i);
    workers_.push_back(
        start({"work", "--runs", (dir_.path() / ("runs-" + w)).string(), "--stop", stop_file}, w + ".log"));
  }
  producer_ =
      start({"produce", "--count", std::to_string(kJobs), "--acked", acked_file, "--rate", std::to_string(kRate)},
            "producer.log");

  // 1. A planned switchover alpha -> beta at 30 %.
  wait_for_acked(kJobs * 3 / 10, "the switchover");
  const std::size_t at_switchover = acked();
  const std::size_t down_before_switchover = kv_marked_down();
  run_failover(1, {"switchover"});
  expect_routed_to("beta", "after the switchover");
  ASSERT_FALSE(HasFailure());

  // 2. At 60 %: beta's whole host dies (kill -9 of tandemd, PostgreSQL,
  // Redis, as pair_failover_test does); alpha is promoted.
  wait_for_acked(kJobs * 6 / 10, "the kill -9");
  const std::size_t at_kill = acked();
  const std::size_t down_before_kill = kv_marked_down();
  node(1).kill_daemon();
  node(1).pg().kill9();
  node(1).redis().kill9();
  run_failover(0, {"promote"});
  expect_routed_to("alpha", "after kill -9 and promote");
  ASSERT_FALSE(HasFailure());

  // 3. The producer finishes; the workers empty the queue.
  ASSERT_TRUE(wait_for([&] { return !producer_.running(); }, 180s))
      << "the producer did not finish (" << acked() << " acknowledged):\n"
      << tail(dir_.path() / "producer.log");
  const auto produced_at = std::chrono::steady_clock::now();
  EXPECT_EQ(producer_.exit_status().value_or(-1), 0) << tail(dir_.path() / "producer.log");
  // Generous: on two shared cores (both Redis with appendfsync always) the
  // workers ran 60-80 jobs/s, behind the producer.
  EXPECT_TRUE(wait_for([&] { return queue_length() == 0; }, 300s)) << "queue length " << queue_length();
  const auto drained_at = std::chrono::steady_clock::now();

  // 4. The workers go (warm shutdown: each finishes its job), then the
  // operator's recovery and a burst worker for what it requeued.
  sdk::atomic_write_file(stop_file, "", 0644);
  for (auto& w : workers_) w.stop(30s);
  std::cout << "worker restarts after errors:";
  for (int i = 1; i <= kWorkers; ++i) {
    const std::string log = tail(dir_.path() / ("worker-" + std::to_string(i) + ".log"), 4000);
    const auto at = log.rfind("{\"restarts\"");
    std::cout << " " << (at == std::string::npos ? "?" : log.substr(at, log.find('}', at) - at + 1));
  }
  std::cout << std::endl;
  json recovered = run({"recover"}, 60s);
  std::cout << "recovery: " << recovered.dump() << std::endl;
  run({"drain", "--runs", (dir_.path() / "runs-drain").string()}, 120s);
  json report = run({"report", "--acked", acked_file, "--runs", (dir_.path() / "runs-*").string()}, 60s);
  ASSERT_TRUE(report.is_object()) << report.dump();

  const auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::cout << "producer: " << tail(dir_.path() / "producer.log", 600) << "enqueues acknowledged at the switchover "
            << at_switchover << ", at the kill -9 " << at_kill << "; produced in " << secs(produced_at - t0)
            << " s, queue drained " << secs(drained_at - t0) << " s after the start ("
            << static_cast<double>(kJobs) / secs(drained_at - t0) << " jobs/s end to end)" << std::endl;
  std::cout << "report: " << report.dump() << std::endl;
  std::cout << "HAProxy marked a KV server down " << down_before_switchover << " times before the switchover, "
            << down_before_kill << " before the kill -9, " << kv_marked_down() << " in all" << std::endl;
  EXPECT_EQ(report.value("acknowledged", 0), kJobs);
  EXPECT_EQ(report.value("acknowledged_distinct", 0), kJobs);
  EXPECT_EQ(report.value("acknowledged_not_run", -1), 0)
      << "acknowledged jobs that never ran: " << report["acknowledged_not_run_ids"].dump();
  EXPECT_EQ(report.value("queue_left", -1), 0);
  EXPECT_EQ(report.value("started_registry", -1), 0);
  EXPECT_EQ(report.value("failed_registry", -1), 0);
}

}  // namespace
}  // namespace tandem::e2e
