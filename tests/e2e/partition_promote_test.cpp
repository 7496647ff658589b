// A partition between two live nodes while clients still reach both, then
// `tandemctl promote --force` on the secondary: what the promote report
// states as possibly lost must cover what the old primary acknowledged
// while it was cut off from its peer (docs/operations.md, Fencing).
#include <gtest/gtest.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "pair_world.h"
#include "support/netns_scope.h"
#include "support/redis_server.h"

namespace tandem::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(PartitionPromote, ReportStatesTheKvWritesTheCutOffPrimaryAcknowledged) {
  PairWorld pair;
  if (!pair.net()) GTEST_SKIP() << "NETWORK NAMESPACES UNAVAILABLE (" << pair.loopback_reason() << "): no partition";
  PairNode& alpha = pair.node(0);
  PairNode& beta = pair.node(1);
  alpha.start_daemon();
  beta.start_daemon();
  ASSERT_TRUE(wait_for(
      [&] {
        json a = alpha.status(), b = beta.status();
        json kv = details(alpha.store(a, kKvStore));
        return kv.value("peer_up", false) && kv.value("journal_depth", 1) == 0 &&
               health_status(beta.store(b, kPgStore)) == "ok" && health_status(beta.store(b, kKvStore)) == "ok";
      },
      180s))
      << pair.describe();

  pair.net()->partition("alpha", "beta");
  // The application keeps writing to alpha, which it still reaches.
  const LoadTarget a = pair.target_of(0);
  std::vector<std::string> acked;
  const auto until = std::chrono::steady_clock::now() + 15s;
  for (int n = 0; std::chrono::steady_clock::now() < until; ++n) {
    try {
      testsupport::NetnsScope in(a.netns);
      testsupport::RedisClient c(a.host, a.kv_port, 3s);
      for (int i = 0; i < 20; ++i, ++n) {
        const std::string key = "partitioned:" + std::to_string(n);
        auto r = c.command({"SET", key, "1"});
        if (r.type == testsupport::RedisValue::Type::status && r.str == "OK") acked.push_back(key);
      }
    } catch (const std::exception&) {
      std::this_thread::sleep_for(200ms);
    }
  }
  std::cout << "alpha acknowledged " << acked.size() << " KV writes while cut off from beta" << std::endl;
  ASSERT_FALSE(acked.empty()) << "peer_down = journal: alpha should keep taking writes; " << pair.describe();

  auto r = beta.ctl({"promote", "--force"});
  json report = json::parse(r.stdout_text, nullptr, false);
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  const json kv_loss = report.value("loss", json::object()).value(kKvStore, json::object());
  std::cout << "promote report, kv: " << kv_loss.dump() << std::endl;
  std::size_t missing_on_beta = 0;
  for (const auto& k : acked)
    if (beta.redis_command({"EXISTS", k}).integer == 0) ++missing_on_beta;
  std::cout << missing_on_beta << " of them are not on beta's Redis" << std::endl;
  if (missing_on_beta > 0) {
    EXPECT_NE(kv_loss.value("summary", "").rfind("nothing", 0), 0u)
        << missing_on_beta
        << " acknowledged KV writes are not on the promoted node, yet its report says: " << kv_loss.dump();
  }
  pair.net()->heal();
  EXPECT_TRUE(wait_for([&] { return alpha.status().value("fenced", false); }, 30s)) << pair.describe();
}

}  // namespace
}  // namespace tandem::e2e
