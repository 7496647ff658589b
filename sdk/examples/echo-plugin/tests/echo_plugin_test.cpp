// The echo plugin driven by the SDK's test kit, exactly as tandemd drives it.
#include <gtest/gtest.h>

#include "echo_plugin.h"
#include "tandem/sdk/testing/test_host.h"

namespace {

using namespace tandem::sdk;
using tandem::sdk::testing::TestHost;  // "testing" alone would clash with GoogleTest's

StoreConfig config_of(nlohmann::json values) {
  echo::EchoPlugin schema_source;
  return StoreConfig::from_json("echo", store_schema(schema_source), std::move(values));
}

TEST(EchoPlugin, ConfigureValidatesItsKeys) {
  TestHost host;
  echo::EchoPlugin plugin;
  EXPECT_TRUE(plugin.configure(config_of({{"message", "hi"}}), host).ok());
  // sync_interval is the host's key: its default and lower bound come from info().
  EXPECT_EQ(config_of({{"message", "hi"}}).sync_interval(), std::chrono::seconds(30));
  EXPECT_THROW((void)config_of({{"message", "hi"}, {"sync_interval", "1ms"}}).sync_interval(), ConfigError);
  // A missing required key is the schema's to refuse: the daemon does it
  // before configure(); on from_json values the accessor throws it. A
  // multi-line message is configure()'s own refusal, an invalid_config Status.
  echo::EchoPlugin missing;
  EXPECT_THROW((void)missing.configure(config_of(nlohmann::json::object()), host), ConfigError);
  echo::EchoPlugin two_lines;
  auto refused = two_lines.configure(config_of({{"message", "a\nb"}}), host);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), ErrorCode::invalid_config);
}

TEST(EchoPlugin, SyncCountsRunsInHealthStateAndMetrics) {
  TestHost host;
  echo::EchoPlugin plugin;
  ASSERT_TRUE(plugin.configure(config_of({{"message", "hello"}, {"reported_lag", "1KiB"}}), host).ok());
  EXPECT_EQ(plugin.health().status, HealthStatus::unknown);
  ASSERT_TRUE(plugin.sync().ok());
  ASSERT_TRUE(plugin.sync().ok());
  Health h = plugin.health();
  EXPECT_EQ(h.status, HealthStatus::ok);
  EXPECT_EQ(h.summary, "echoed 2 times: hello");
  EXPECT_EQ(h.lag_bytes, 1024u);
  EXPECT_EQ(host.state().get("runs"), "2");
  EXPECT_EQ(host.recorded_metrics().value("echo_syncs_total"), 2.0);
  EXPECT_TRUE(host.logger().contains("echo: hello"));
}

TEST(EchoPlugin, FailoverStepsAreIdempotentAndReport) {
  TestHost host;
  echo::EchoPlugin plugin;
  ASSERT_TRUE(plugin.configure(config_of({{"message", "x"}}), host).ok());
  FailoverRequest request;
  request.new_epoch = 2;
  auto prepared = plugin.prepare(request);
  ASSERT_TRUE(prepared.ok());
  EXPECT_TRUE(prepared->ready);
  auto first = plugin.promote(request);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->changed);
  auto again = plugin.promote(request);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
  EXPECT_TRUE(plugin.demote(request)->changed);
  EXPECT_FALSE(plugin.rejoin(request)->changed);
}

TEST(EchoPlugin, DiagnosticEchoesArguments) {
  TestHost host;
  echo::EchoPlugin plugin;
  ASSERT_TRUE(plugin.configure(config_of({{"message", "ping"}}), host).ok());
  auto r = plugin.diagnose("echo", {"a", "b"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->passed);
  EXPECT_EQ(r->output, "ping a b");
  EXPECT_FALSE(plugin.diagnose("nope", {}).ok());
}

}  // namespace
