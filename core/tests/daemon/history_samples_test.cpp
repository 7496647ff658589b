// GET /v1/history/samples from the real tandemd binary: the samples of its
// health refresh at [api] history_interval, open without a token, ?since=
// filtering, and --check refusing a bad interval with its file:line.
#include <gtest/gtest.h>

#include "support/test_http.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "tandemd_nodes.h"

namespace tandem::testplugins {
namespace {

using namespace std::chrono_literals;
using sdk::testing::eventually;

TEST(HistorySamples, ARunningTandemdServesItsSamplesOpenlyAndFiltersBySince) {
  sdk::testing::TempDir dir;
  int port = sdk::testing::free_port();
  auto node = start_tandemd(
      write_node(dir.path(), "alpha", "primary", port, sdk::testing::free_port(), "", "history_interval = \"1s\"\n"));
  nlohmann::json j;
  ASSERT_TRUE(eventually(
      [&] {
        try {
          j = testhttp::get(port, "/v1/history/samples").json();
          return j["stores"]["app"].size() >= 3;
        } catch (const std::exception&) {
          return false;
        }
      },
      60s))
      << j.dump() << node.log_tail();
  EXPECT_EQ(j["node"], "alpha");
  EXPECT_EQ(j["interval_seconds"], 1.0);
  EXPECT_EQ(j["capacity"], 360);
  ASSERT_GE(j["samples"].size(), 3u);
  EXPECT_EQ(j["samples"][0]["role"], "primary");
  EXPECT_EQ(j["samples"][0]["epoch"], 1);
  EXPECT_EQ(j["samples"][0]["fenced"], false);
  // Oldest first, at least the interval apart, none from the future.
  const auto& app = j["stores"]["app"];
  for (std::size_t i = 1; i < app.size(); ++i)
    EXPECT_GE(app[i]["t"].get<std::int64_t>(), app[i - 1]["t"].get<std::int64_t>() + 1) << app.dump();
  EXPECT_LE(app.back()["t"].get<std::int64_t>(), j["now"].get<std::int64_t>());
  // The daemon-test store's health, as sampled: status and both lags.
  EXPECT_TRUE(eventually(
      [&] {
        auto last = testhttp::get(port, "/v1/history/samples").json()["stores"]["app"].back();
        return last["status"] == "ok" && last["lag_bytes"].is_number_unsigned() && last["lag_seconds"].is_number();
      },
      30s))
      << testhttp::get(port, "/v1/history/samples").body;

  std::int64_t cut = app[1]["t"].get<std::int64_t>();
  auto since = testhttp::get(port, "/v1/history/samples?since=" + std::to_string(cut)).json();
  ASSERT_FALSE(since["stores"]["app"].empty());
  EXPECT_EQ(since["stores"]["app"][0]["t"], cut);
  EXPECT_LT(since["stores"]["app"].size(), testhttp::get(port, "/v1/history/samples").json()["stores"]["app"].size());
  EXPECT_TRUE(testhttp::get(port, "/v1/history/samples?since=99999999999").json()["stores"]["app"].empty());

  auto bad = testhttp::get(port, "/v1/history/samples?since=yesterday");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.json()["error"].get<std::string>().find("?since=<unix seconds>"), std::string::npos) << bad.body;
  EXPECT_EQ(testhttp::get(port, "/v1/history/samples?since=-5").status, 400);
  EXPECT_EQ(testhttp::request(port, "POST", "/v1/history/samples", "{}").status, 405);
}

TEST(HistorySamples, CheckRefusesABadIntervalWithItsLine) {
  sdk::testing::TempDir dir;
  for (const char* value : {"\"0s\"", "\"2h\"", "\"often\"", "true"}) {
    auto node = write_node(dir.path(), "alpha", "primary", sdk::testing::free_port(), sdk::testing::free_port(), "",
                           std::string("history_interval = ") + value + "\n");
    sdk::ProcessSpec spec;
    spec.argv = {TANDEMD_BINARY, "--config", node.config.string(), "--check"};
    spec.timeout = 60s;
    auto r = sdk::run_process(spec);
    ASSERT_TRUE(r) << r.message();
    EXPECT_EQ(r->exit_code, 1) << value;
    // [api] is line 13 (listen, token_file), the interval line 16.
    EXPECT_NE(r->stderr_text.find("tandem.toml:16:20: [api] key 'history_interval': "), std::string::npos)
        << value << ": " << r->stderr_text;
  }
}

}  // namespace
}  // namespace tandem::testplugins
