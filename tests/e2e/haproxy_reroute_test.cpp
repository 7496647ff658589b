// Clients that know only HAProxy's address follow the primary (issue 14):
// a real HAProxy in the client namespace, TCP frontends for PostgreSQL and
// the KV endpoint with `option httpchk` against tandemd's /primary and
// /v1/stores/kv/primary (tests/e2e/haproxy_front.h). The load generator
// writes through HAProxy only, across a planned switchover and a kill -9 of
// the primary's host followed by `tandemctl promote`; every acknowledged
// write must be on the surviving primary, and writes must go on after each.
//
// Also: a libpq multi-host string (host=a,b target_session_attrs=read-write,
// as docs/operations.md shows it) reaches whichever node is primary, before
// and after the switchover.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "haproxy_front.h"
#include "load_generator.h"
#include "pair_world.h"
#include "support/netns_scope.h"

namespace tandem::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// The conninfo an application would use: every node, read-write wanted.
std::string multi_host_conninfo(PairWorld& pair) {
  const PairNode& a = pair.node(0);
  const PairNode& b = pair.node(1);
  return "host=" + a.host().address + "," + b.host().address + " port=" + std::to_string(a.pg().port()) + "," +
         std::to_string(b.pg().port()) +
         " user=postgres dbname=postgres connect_timeout=3 target_session_attrs=read-write";
}

// Connects with `conninfo` from the client namespace and inserts a row; the
// node it reached, as "address:port" of the server side, or the error.
std::string write_via_multi_host(const std::string& netns, const std::string& conninfo, bool& ok) {
  testsupport::NetnsScope in(netns);
  PGconn* c = PQconnectdb(conninfo.c_str());
  ok = false;
  std::string out;
  if (PQstatus(c) != CONNECTION_OK) {
    out = PQerrorMessage(c);
  } else {
    out = std::string(PQhost(c)) + ":" + PQport(c);
    PGresult* r = PQexec(c,
                         "CREATE TABLE IF NOT EXISTS multi_host_probe (at timestamptz DEFAULT now());"
                         "INSERT INTO multi_host_probe DEFAULT VALUES");
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) out += ": " + std::string(PQresultErrorMessage(r));
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

std::string node_endpoint(const PairNode& n) { return n.host().address + ":" + std::to_string(n.pg().port()); }

class HaproxyReroute : public ::testing::Test {
 protected:
  void SetUp() override {
    pair_ = std::make_unique<PairWorld>();
    pair_->node(0).start_daemon();
    pair_->node(1).start_daemon();
    expect_in_sync(0, 1, "after the pair started");
  }
  void TearDown() override {
    if (load_) load_->stop();
    if (HasFailure() && pair_) {
      std::cerr << pair_->describe();
      if (front_) std::cerr << "haproxy log:\n" << front_->log_tail() << "\n";
    }
  }
  PairNode& node(int i) { return pair_->node(i); }
  void expect_in_sync(int primary, int standby, const std::string& when) {
    std::string why;
    ASSERT_TRUE(wait_for([&] { return pair_in_sync(node(primary), node(standby), why); }, 180s))
        << "the pair did not get in sync " << when << ":\n"
        << why;
  }
  // HAProxy sends both services to `name` only.
  void expect_routed_to(const std::string& name, const std::string& when) {
    EXPECT_TRUE(wait_for([&] { return front_->up_servers("pg") == name && front_->up_servers("kv") == name; }, 30s))
        << when << ": HAProxy's up servers: pg '" << front_->up_servers("pg") << "', kv '" << front_->up_servers("kv")
        << "', expected '" << name << "' only";
  }
  // More writes acknowledged through HAProxy, in both stores.
  void expect_writes_go_on(std::size_t n, const std::string& when) {
    const auto pg0 = load_->pg_acked().size(), kv0 = load_->kv_acked().size();
    EXPECT_TRUE(
        wait_for([&] { return load_->pg_acked().size() >= pg0 + n && load_->kv_acked().size() >= kv0 + n; }, 60s))
        << when << ": no writes acknowledged through HAProxy: " << load_->last_errors();
  }
  void expect_nothing_lost(int i, const std::string& when) {
    const std::string missing = missing_acknowledged(*load_, node(i));
    EXPECT_TRUE(missing.empty()) << when << ": " << missing;
    std::cout << when << ": " << load_->pg_acked().size() << " PostgreSQL rows and " << load_->kv_acked().size()
              << " KV writes acknowledged through HAProxy" << (missing.empty() ? ", all on " + node(i).name() : "")
              << " (" << load_->pg_failures() << " + " << load_->kv_failures() << " attempts failed meanwhile)"
              << std::endl;
  }
  json run_failover(int i, const std::vector<std::string>& args) {
    auto r = node(i).ctl(args);
    json report = json::parse(r.stdout_text, nullptr, false);
    EXPECT_EQ(r.exit_code, 0) << args[0] << " on " << node(i).name() << ":\n" << r.stdout_text << r.stderr_text;
    EXPECT_EQ(report.is_object() ? report.value("result", "") : "", "succeeded") << r.stdout_text;
    return report;
  }

  std::unique_ptr<PairWorld> pair_;
  std::unique_ptr<HaproxyFront> front_;
  std::unique_ptr<LoadGenerator> load_;
};

TEST_F(HaproxyReroute, AClientThatKnowsOnlyHaproxyKeepsWritingAcrossSwitchoverAndKillNineLosingNothing) {
  front_ = std::make_unique<HaproxyFront>(*pair_, HealthCheckTiming{});
  expect_routed_to("alpha", "before any failover");
  const std::string conninfo = multi_host_conninfo(*pair_);
  const std::string client_ns = node(0).host().client_netns;
  bool ok = false;
  std::string reached = write_via_multi_host(client_ns, conninfo, ok);
  EXPECT_TRUE(ok) << reached;
  EXPECT_EQ(reached, node_endpoint(node(0))) << "the multi-host string did not pick the primary";

  load_ = std::make_unique<LoadGenerator>(front_->target());  // never retargeted: HAProxy is all it knows
  expect_writes_go_on(100, "before the switchover");

  // 1. Planned switchover alpha -> beta.
  run_failover(1, {"switchover"});
  expect_routed_to("beta", "after the switchover");
  expect_writes_go_on(100, "after the switchover");
  expect_nothing_lost(1, "switchover");
  reached = write_via_multi_host(client_ns, conninfo, ok);
  EXPECT_TRUE(ok) << reached;
  EXPECT_EQ(reached, node_endpoint(node(1))) << "the multi-host string did not follow the switchover";
  expect_in_sync(1, 0, "after the switchover");
  ASSERT_FALSE(HasFailure());

  // 2. beta's host dies (tandemd, PostgreSQL, Redis: kill -9); alpha is promoted.
  node(1).kill_daemon();
  node(1).pg().kill9();
  node(1).redis().kill9();
  run_failover(0, {"promote"});
  expect_routed_to("alpha", "after kill -9 and promote");
  expect_writes_go_on(100, "after kill -9 and promote");
  load_->stop();
  expect_nothing_lost(0, "kill -9 + promote");
  std::cout << "haproxy checks (" << front_->timing().describe() << ") followed both failovers" << std::endl;
}

}  // namespace
}  // namespace tandem::e2e
