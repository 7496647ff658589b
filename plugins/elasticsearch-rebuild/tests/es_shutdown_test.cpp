// Stopping the store while Elasticsearch is silent (accepts, never answers):
// a sync waits up to request_timeout (60 s by default) per request, longer
// than the host's stop grace (30 s), so without Plugin::interrupt the host
// gave up on the store, tandemd ended uncleanly (std::_Exit) and the rebuild
// thread was never joined (ThreadSanitizer: thread leak).
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>

#include <gtest/gtest.h>

#include "es_rebuild_plugin.h"
#include "es_test_env.h"
#include "support/silent_server.h"
#include "support/test_http.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::esrebuild::testing {
namespace {

using namespace std::chrono_literals;

using testsupport::SilentServer;

json silent_values(const std::string& es_url, const std::filesystem::path& mapping) {
  return json{{"urls", {es_url}},
              // Nothing listens there: a PostgreSQL count fails at once.
              {"source", "host=127.0.0.1 port=" + std::to_string(sdkt::free_port()) + " dbname=none"},
              {"indices",
               {{{"alias", "items"},
                 {"query", "SELECT id FROM items"},
                 {"id_column", "id"},
                 {"mapping_file", mapping.string()}}}},
              {"request_timeout", "60s"},
              {"sync_interval", "1s"},
              {"rebuild_on_start_if_missing", false}};
}

TEST(EsRebuildShutdown, InterruptEndsASyncWaitingOnASilentElasticsearch) {
  sdkt::TempDir dir("es-shutdown-test");
  SilentServer es;
  auto mapping = write_mapping(dir.path());
  sdk::testing::TestHost host;
  EsRebuildPlugin plugin;
  auto st = plugin.configure(
      sdk::StoreConfig::from_json("search", sdk::store_schema(plugin), silent_values(es.url(), mapping)), host);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(plugin.start().ok());

  auto sync = std::async(std::launch::async, [&] { return plugin.sync(); });
  // The cluster-health request is on the wire, unanswered.
  ASSERT_TRUE(es.accept_one(10s));
  EXPECT_EQ(sync.wait_for(300ms), std::future_status::timeout) << "the silent server answered?";

  plugin.interrupt();
  // Far below the 60 s request timeout (and its retry): the request was ended.
  ASSERT_EQ(sync.wait_for(10s), std::future_status::ready) << "interrupt() did not end the request in flight";
  ASSERT_TRUE(sync.get().ok());
  auto h = plugin.health();
  EXPECT_NE(h.details.dump().find("cancelled"), std::string::npos) << h.details.dump();

  // No rebuild starts once the store is stopping.
  auto started = plugin.run_action("rebuild", json{{"force", true}});
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.code(), sdk::ErrorCode::refused) << started.message();
  plugin.stop();

  // A later start() serves again: the interruption was for that stop only.
  ASSERT_TRUE(plugin.start().ok());
  auto again = std::async(std::launch::async, [&] { return plugin.sync(); });
  ASSERT_TRUE(es.accept_one(10s));
  EXPECT_EQ(again.wait_for(300ms), std::future_status::timeout);
  plugin.interrupt();
  ASSERT_EQ(again.wait_for(10s), std::future_status::ready);
  plugin.stop();
}

// The real daemon: a rebuild ran (its thread finished, joined only by stop()),
// then Elasticsearch hangs (SIGSTOP) while a sync is in flight, then SIGTERM.
// tandemd must still stop the store cleanly: exit 0, no "not clean".
TEST(EsRebuildShutdown, TandemdStopsCleanlyWhileElasticsearchHangs) {
  sdkt::TempDir dir("es-shutdown-daemon");
  testsupport::PostgresServer pg;
  Standin es;
  add_items(pg, 1, 200);
  auto mapping = write_mapping(dir.path());
  auto home = dir.path();
  for (const char* token : {"api-token", "peer-token"}) {
    std::ofstream(home / token) << "token-" << token << "\n";
    std::filesystem::permissions(home / token,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  int port = sdkt::free_port();
  std::ofstream(home / "tandem.toml")
      << "[node]\nname = \"alpha\"\naddress = \"127.0.0.1\"\nrole = \"primary\"\ndata_dir = \""
      << (home / "data").string() << "\"\n\n[peer]\nname = \"beta\"\naddress = \"127.0.0.1\"\napi_url = "
      << "\"http://127.0.0.1:" << sdkt::free_port() << "\"\ntoken_file = \"peer-token\"\n\n[api]\nlisten = "
      << "\"127.0.0.1:" << port << "\"\ntoken_file = \"api-token\"\n\n[stores.search]\nplugin = \""
      << TANDEM_ES_PLUGIN_SO << "\"\nurls = [\"" << es.url() << "\"]\nsource = \"" << pg.conninfo()
      << "\"\nrequest_timeout = \"60s\"\nsync_interval = \"1s\"\nrebuild_on_start_if_missing = true\n\n"
      << "[[stores.search.indices]]\nalias = \"items\"\nquery = \"SELECT id, title, body, price FROM items\"\n"
      << "mapping_file = \"" << mapping.string() << "\"\n";
  sdk::ChildSpec spec;
  spec.argv = {TANDEMD_BINARY, "--config", (home / "tandem.toml").string()};
  spec.log_file = home / "tandemd.log";
  auto daemon = testsupport::start_background(spec);

  auto store = [&] {
    auto r = testhttp::get(port, "/v1/stores/search");
    return r.status == 200 ? r.json() : json();
  };
  // The start-up rebuild (alias missing) ran to its end.
  ASSERT_TRUE(sdkt::eventually([&] { return es.alias_targets("items").size() == 1; }, 120s)) << daemon.log_tail();
  ASSERT_TRUE(sdkt::eventually([&] { return store().dump().find("\"rebuilding\":false") != std::string::npos; }, 60s))
      << store().dump();

  ASSERT_EQ(::kill(es.pid(), SIGSTOP), 0);
  // A sync is stuck on it: in progress for over a second (a normal one takes milliseconds).
  auto stuck = [&] {
    auto in_progress = [&] {
      auto s = store();
      return s.is_object() && s.contains("sync") && s["sync"].value("in_progress", false);
    };
    if (!in_progress()) return false;
    std::this_thread::sleep_for(1500ms);
    return in_progress();
  };
  bool was_stuck = sdkt::eventually(stuck, 30s);
  daemon.stop(60s, SIGTERM);
  ::kill(es.pid(), SIGCONT);
  ASSERT_TRUE(was_stuck) << store().dump();
  auto status = daemon.exit_status();
  ASSERT_TRUE(status.has_value());
  auto log = daemon.log_tail(20000);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << log;
  EXPECT_EQ(log.find("not clean"), std::string::npos) << log;
  EXPECT_EQ(log.find("did not stop within"), std::string::npos) << log;
}

}  // namespace
}  // namespace tandem::esrebuild::testing
