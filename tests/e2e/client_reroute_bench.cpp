// tests/bench/client_reroute's driver: how long a client that knows only
// HAProxy's address waits for its first acknowledged write on the new primary,
// measured from the start of a planned switchover and from a kill -9 of the
// primary's host (followed at once by `tandemctl promote`; an operator's
// reaction time is not included), for PostgreSQL and the KV endpoint.
//
// Rounds interleave two HAProxy health-check timings in front of the same
// pair: tandem's documented one (inter 500ms fall 2 rise 1, docs/http-api.md)
// and HAProxy's defaults (inter 2s fall 3 rise 2). Each round: switchover,
// kill -9 + promote, then the dead node is restarted and rejoined so the next
// round starts from the same primary. Printed per event and as medians with
// the spread (min-max, the noise), beside HAProxy's default detection time
// (inter 2s x fall 3 = 6 s, before a check even reports the change) and
// Patroni's default leader TTL (30 s before it starts a failover).
//
// Usage: tandem_bench_client_reroute [--rounds N]   (N per timing, default 2)
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "haproxy_front.h"
#include "pair_world.h"
#include "support/netns_scope.h"
#include "support/redis_server.h"

namespace tandem::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Writes through HAProxy every 10 ms, PostgreSQL and KV each on its own
// connection (reconnecting after any failure), and records which node
// acknowledged each write: PostgreSQL by the server's address:port, KV by
// the run_id of the Redis behind the endpoint (INFO server on connect).
class IdentifyingWriter {
 public:
  // pg_nodes: each node's PostgreSQL as "address:port"; kv_nodes: the run_id
  // of each node's Redis now (a restarted Redis has a new one).
  IdentifyingWriter(LoadTarget via, std::vector<std::string> pg_nodes, std::vector<std::string> kv_nodes)
      : via_(std::move(via)), pg_nodes_(std::move(pg_nodes)), kv_nodes_(std::move(kv_nodes)) {
    threads_[0] = std::thread([this] { run_pg(); });
    threads_[1] = std::thread([this] { run_kv(); });
  }
  ~IdentifyingWriter() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  // The first acknowledgement by node `i` at or after `t0` (nullopt: none yet).
  std::optional<Clock::time_point> first_ack(bool pg, int i, Clock::time_point t0) const {
    std::lock_guard l(mu_);
    for (const auto& [at, node] : pg ? pg_acks_ : kv_acks_)
      if (node == i && at >= t0) return at;
    return std::nullopt;
  }

 private:
  void record(bool pg, int node) {
    std::lock_guard l(mu_);
    (pg ? pg_acks_ : kv_acks_).emplace_back(Clock::now(), node);
  }
  void run_pg() {
    const std::string conninfo = "host=" + via_.host + " port=" + std::to_string(via_.pg_port) +
                                 " user=postgres dbname=postgres connect_timeout=2"
                                 " options='-c statement_timeout=5000 -c client_min_messages=error'";
    PGconn* c = nullptr;
    while (!stop_) {
      if (!c || PQstatus(c) != CONNECTION_OK) {
        if (c) PQfinish(c);
        testsupport::NetnsScope in(via_.netns);
        c = PQconnectdb(conninfo.c_str());
        if (PQstatus(c) == CONNECTION_OK) {
          PGresult* r = PQexec(c, "CREATE TABLE IF NOT EXISTS reroute_probe (at timestamptz DEFAULT now())");
          PQclear(r);
        }
      }
      int node = -1;
      if (PQstatus(c) == CONNECTION_OK) {
        PGresult* r = PQexec(c,
                             "INSERT INTO reroute_probe DEFAULT VALUES "
                             "RETURNING host(inet_server_addr()) || ':' || inet_server_port()");
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
          std::string who = PQgetvalue(r, 0, 0);
          for (std::size_t i = 0; i < pg_nodes_.size(); ++i)
            if (pg_nodes_[i] == who) node = static_cast<int>(i);
        } else {
          PQfinish(c);
          c = nullptr;
        }
        PQclear(r);
      }
      if (node >= 0) record(true, node);
      std::this_thread::sleep_for(10ms);
    }
    if (c) PQfinish(c);
  }
  void run_kv() {
    std::unique_ptr<testsupport::RedisClient> c;
    int node = -1;
    for (long n = 0; !stop_; ++n) {
      try {
        if (!c) {
          testsupport::NetnsScope in(via_.netns);
          c = std::make_unique<testsupport::RedisClient>(via_.host, via_.kv_port, 2s);
          auto info = c->command({"INFO", "server"});
          auto pos = info.str.find("run_id:");
          std::string id = pos == std::string::npos ? "" : info.str.substr(pos + 7, 40);
          node = -1;
          for (std::size_t i = 0; i < kv_nodes_.size(); ++i)
            if (kv_nodes_[i] == id) node = static_cast<int>(i);
        }
        auto r = c->command({"SET", "reroute:" + std::to_string(n), "1"});
        if (r.type != testsupport::RedisValue::Type::status) throw std::runtime_error(r.describe());
        if (node >= 0) record(false, node);
      } catch (const std::exception&) {
        c.reset();
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  LoadTarget via_;
  std::vector<std::string> pg_nodes_;
  std::vector<std::string> kv_nodes_;
  mutable std::mutex mu_;
  std::vector<std::pair<Clock::time_point, int>> pg_acks_, kv_acks_;
  std::atomic<bool> stop_{false};
  std::thread threads_[2];
};

std::string redis_run_id(const PairNode& n) {
  auto info = n.redis_command({"INFO", "server"});
  auto pos = info.str.find("run_id:");
  return pos == std::string::npos ? "" : info.str.substr(pos + 7, 40);
}

struct Sample {
  std::string timing, event;
  double pg_ms = -1, kv_ms = -1, writable_ms = -1;
};

void die(const std::string& why, PairWorld& pair) {
  std::cerr << "client_reroute: " << why << "\n" << pair.describe();
  std::exit(1);
}

void wait_in_sync(PairWorld& pair, int primary, const std::string& when) {
  std::string why;
  if (!wait_for([&] { return pair_in_sync(pair.node(primary), pair.node(1 - primary), why); }, 240s))
    die("the pair did not get in sync " + when + ":\n" + why, pair);
}

double run_ctl(PairWorld& pair, int i, const std::vector<std::string>& args) {
  auto r = pair.node(i).ctl(args);
  auto report = nlohmann::json::parse(r.stdout_text, nullptr, false);
  if (r.exit_code != 0 || !report.is_object() || report.value("result", "") != "succeeded")
    die(args[0] + " on " + pair.node(i).name() + " failed: " + r.stdout_text + r.stderr_text, pair);
  return report["time_to_writable_ms"].is_number() ? report["time_to_writable_ms"].get<double>() : -1;
}

// Waits for the first acknowledgements by node `to` after t0; ms from t0 each.
void measure(PairWorld& pair, IdentifyingWriter& w, int to, Clock::time_point t0, Sample& s) {
  auto ms = [&](bool pg) {
    std::optional<Clock::time_point> at;
    wait_for([&] { return (at = w.first_ack(pg, to, t0)).has_value(); }, 90s);
    return at ? std::chrono::duration<double, std::milli>(*at - t0).count() : -1.0;
  };
  s.pg_ms = ms(true);
  s.kv_ms = ms(false);
  if (s.pg_ms < 0 || s.kv_ms < 0)
    die("no write reached " + pair.node(to).name() + " through HAProxy within 90 s", pair);
}

std::string fmt(double ms) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(2) << ms / 1000 << " s";
  return o.str();
}

}  // namespace
}  // namespace tandem::e2e

int main(int argc, char** argv) {
  using namespace tandem::e2e;
  int rounds = 2;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
  const HealthCheckTiming tuned{500ms, 2, 1};
  const HealthCheckTiming defaults{2000ms, 3, 2};

  PairWorld pair;
  pair.node(0).start_daemon();
  pair.node(1).start_daemon();
  wait_in_sync(pair, 0, "after start");
  std::vector<std::string> pg_nodes;
  for (int i = 0; i < 2; ++i)
    pg_nodes.push_back(pair.node(i).host().address + ":" + std::to_string(pair.node(i).pg().port()));

  std::vector<Sample> samples;
  int primary = 0;
  for (int round = 0; round < 2 * rounds; ++round) {
    const bool use_tuned = round % 2 == 0;  // interleaved: tuned, default, tuned, default, ...
    const HealthCheckTiming& timing = use_tuned ? tuned : defaults;
    const std::string label =
        use_tuned ? "tandem docs (" + timing.describe() + ")" : "haproxy defaults (" + timing.describe() + ")";
    HaproxyFront front(pair, timing);
    const int p = primary, s = 1 - primary;
    if (!wait_for(
            [&] {
              return front.up_servers("pg") == pair.node(p).name() && front.up_servers("kv") == pair.node(p).name();
            },
            60s))
      die("HAProxy never routed to " + pair.node(p).name(), pair);
    IdentifyingWriter writer(front.target(), pg_nodes, {redis_run_id(pair.node(0)), redis_run_id(pair.node(1))});
    if (!wait_for(
            [&] {
              return writer.first_ack(true, p, Clock::now() - 1h) && writer.first_ack(false, p, Clock::now() - 1h);
            },
            60s))
      die("no write through HAProxy before the round", pair);

    // 1. Planned switchover p -> s.
    Sample sw{label, "switchover"};
    auto t0 = Clock::now();
    sw.writable_ms = run_ctl(pair, s, {"switchover"});
    measure(pair, writer, s, t0, sw);
    samples.push_back(sw);
    std::cout << "round " << round + 1 << " " << label << ": switchover " << pair.node(p).name() << "->"
              << pair.node(s).name() << ": PG " << fmt(sw.pg_ms) << ", KV " << fmt(sw.kv_ms)
              << " (orchestrator writable " << fmt(sw.writable_ms) << ")" << std::endl;
    wait_in_sync(pair, s, "after the switchover");

    // 2. kill -9 of s's host, promote p at once.
    Sample fo{label, "kill -9 + promote"};
    t0 = Clock::now();
    pair.node(s).kill_daemon();
    pair.node(s).pg().kill9();
    pair.node(s).redis().kill9();
    fo.writable_ms = run_ctl(pair, p, {"promote"});
    measure(pair, writer, p, t0, fo);
    samples.push_back(fo);
    std::cout << "round " << round + 1 << " " << label << ": kill -9 " << pair.node(s).name() << " + promote "
              << pair.node(p).name() << ": PG " << fmt(fo.pg_ms) << ", KV " << fmt(fo.kv_ms)
              << " (orchestrator writable " << fmt(fo.writable_ms) << ")" << std::endl;

    // s's host comes back and rejoins; the next round starts from p again.
    pair.node(s).redis().restart();
    pair.node(s).start_daemon();
    if (!wait_for([&] { return pair.node(s).status().value("fenced", false); }, 60s))
      die("the old primary did not fence", pair);
    run_ctl(pair, s, {"rejoin"});
    wait_in_sync(pair, p, "after the rejoin");
    primary = p;
  }

  std::cout << "\nclient_reroute: first acknowledged write on the new primary through HAProxy, from the start of the "
               "event (median of "
            << rounds << " round(s) per timing, interleaved; min-max = the noise on this shared machine)\n";
  std::cout << std::left << std::setw(48) << "haproxy checks" << std::setw(20) << "event" << std::setw(26)
            << "PostgreSQL" << std::setw(26) << "KV"
            << "\n";
  for (const std::string event : {"switchover", "kill -9 + promote"}) {
    for (const bool use_tuned : {true, false}) {
      const HealthCheckTiming& timing = use_tuned ? tuned : defaults;
      const std::string label =
          use_tuned ? "tandem docs (" + timing.describe() + ")" : "haproxy defaults (" + timing.describe() + ")";
      std::vector<double> pg, kv;
      for (const auto& s : samples)
        if (s.timing == label && s.event == event) {
          pg.push_back(s.pg_ms);
          kv.push_back(s.kv_ms);
        }
      auto cell = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        double median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
        std::string lo = fmt(v.front());
        return fmt(median) + " (" + lo.substr(0, lo.size() - 2) + "-" + fmt(v.back()) + ")";
      };
      std::cout << std::setw(48) << label << std::setw(20) << event << std::setw(26) << cell(pg) << std::setw(26)
                << cell(kv) << "\n";
    }
  }
  std::cout << "reference: HAProxy default detection alone (inter 2s x fall 3) = 6.00 s; Patroni default leader TTL = "
               "30.00 s (before it even starts a failover); manual failover here: the operator's reaction time is "
               "not included\n";
  return 0;
}
