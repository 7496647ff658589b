// Integration: a secondary plugin against an rsync daemon run by the test
// (tests/support/rsync_daemon.h) standing in for the primary: outages,
// recovery, daemon authentication, single-file entries, connectivity errors.
#include <gtest/gtest.h>

#include <fstream>

#include "pair_harness.h"
#include "support/rsync_daemon.h"
#include "tandem/sdk/process.h"

namespace tandem::config_rsync::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sdk::testing::eventually;
using testsupport::RsyncDaemon;
using testsupport::RsyncDaemonOptions;

struct Secondary {
  explicit Secondary(nlohmann::json values) {
    sdk::testing::TestHostOptions o;
    o.store_name = "config";
    o.role = sdk::Role::secondary;
    host = std::make_unique<sdk::testing::TestHost>(o);
    auto config = sdk::StoreConfig::from_json("config", full_schema(), values);
    interval = config.sync_interval();
    auto st = plugin.configure(config, *host);
    if (!st) throw std::runtime_error(st.message());
  }
  ~Secondary() {
    if (loop) loop->stop();
    plugin.stop();
  }
  // with_loop = false: the test calls sync() itself.
  void start(bool with_loop = true) {
    auto st = plugin.start();
    if (!st) throw std::runtime_error(st.message());
    if (with_loop) loop = std::make_unique<SyncLoop>(plugin, *host, interval);
  }
  std::unique_ptr<sdk::testing::TestHost> host;
  std::chrono::milliseconds interval{0};
  ConfigRsyncPlugin plugin;
  std::unique_ptr<SyncLoop> loop;
};

RsyncDaemonOptions serve_module(const std::string& name, const fs::path& dir) {
  RsyncDaemonOptions o;
  o.modules[name] = dir;
  return o;
}

nlohmann::json daemon_config(const sdk::testing::TempDir& root, int port, const std::string& interval) {
  return {{"remote", "rsync://{peer}:" + std::to_string(port)},
          {"allowed_root", root.path().string()},
          {"paths", nlohmann::json::array({{{"name", "etc"}, {"path", (root.path() / "copy").string()}}})},
          {"sync_interval", interval},
          {"timeout", "2s"}};
}

TEST(ConfigRsyncDaemon, UnreachablePrimaryDegradesThenFailsAndRecoversByItself) {
  sdk::testing::TempDir root("tandem-config-rsync");
  fs::create_directories(root.path() / "primary");
  write_file(root.path() / "primary" / "a.conf", "a\n");
  RsyncDaemon daemon(serve_module("etc", root.path() / "primary"));
  Secondary sec(daemon_config(root, daemon.port(), "1s"));
  sec.start();
  ASSERT_TRUE(eventually([&] { return sec.plugin.health().status == sdk::HealthStatus::ok; }, 20s))
      << sec.plugin.health().summary;
  EXPECT_EQ(read_file_or(root.path() / "copy" / "a.conf"), "a\n");
  EXPECT_GT(sec.plugin.health().details.value("files_transferred", -1), -1);

  daemon.stop();
  ASSERT_TRUE(eventually([&] { return sec.plugin.health().status == sdk::HealthStatus::degraded; }, 20s))
      << sec.plugin.health().summary;
  auto h = sec.plugin.health();
  EXPECT_NE(h.summary.find("Connection refused"), std::string::npos) << "rsync's own message: " << h.summary;
  EXPECT_EQ(h.details.value("last_exit_code", 0), 10) << h.details.dump();
  ASSERT_TRUE(eventually([&] { return sec.plugin.health().status == sdk::HealthStatus::failed; }, 20s))
      << "past 4 intervals without a good pull: " << sec.plugin.health().summary;
  EXPECT_NE(sec.plugin.health().summary.find("Connection refused"), std::string::npos);

  write_file(root.path() / "primary" / "while-down.conf", "w\n");
  daemon.restart();
  ASSERT_TRUE(eventually([&] { return sec.plugin.health().status == sdk::HealthStatus::ok; }, 20s))
      << "recovers without help: " << sec.plugin.health().summary;
  EXPECT_EQ(read_file_or(root.path() / "copy" / "while-down.conf"), "w\n");
  EXPECT_FALSE(sec.plugin.health().details.contains("last_error"));
}

TEST(ConfigRsyncDaemon, PasswordFileAuthenticatesAndAWrongPasswordIsReported) {
  sdk::testing::TempDir root("tandem-config-rsync");
  fs::create_directories(root.path() / "primary");
  write_file(root.path() / "primary" / "secret-protected.conf", "s\n");
  RsyncDaemonOptions o = serve_module("etc", root.path() / "primary");
  o.auth_user = "tandem";
  o.auth_password = "s3cret";
  RsyncDaemon daemon(o);
  const fs::path pw = root.path() / "rsync.password";
  write_file(pw, "s3cret\n");
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);

  auto values = daemon_config(root, daemon.port(), "60s");
  values["remote"] = "rsync://tandem@{peer}:" + std::to_string(daemon.port());
  values["password_file"] = pw.string();
  {
    Secondary sec(values);
    sec.start(false);
    auto r = sec.plugin.sync();
    ASSERT_TRUE(r) << r.message();
    EXPECT_EQ(read_file_or(root.path() / "copy" / "secret-protected.conf"), "s\n");
    for (auto& line : sec.host->logger().lines()) EXPECT_EQ(line.find("s3cret"), std::string::npos) << line;
  }
  write_file(pw, "wrong\n");
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
  Secondary bad(values);
  bad.start(false);
  auto r = bad.plugin.sync();
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("auth failed"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("the daemon refused the password in password_file " + pw.string()), std::string::npos)
      << r.message();
  EXPECT_EQ(r.message().find("wrong"), std::string::npos) << "never echo the secret";
}

TEST(ConfigRsyncDaemon, SingleFileEntryAndExcludes) {
  sdk::testing::TempDir root("tandem-config-rsync");
  fs::create_directories(root.path() / "primary" / "cache");
  write_file(root.path() / "primary" / "hosts", "127.0.0.1 localhost\n");
  write_file(root.path() / "primary" / "keep.conf", "k\n");
  write_file(root.path() / "primary" / "skip.swp", "tmp\n");
  write_file(root.path() / "primary" / "cache" / "blob", "c\n");
  RsyncDaemon daemon(serve_module("etc", root.path() / "primary"));
  nlohmann::json values{
      {"remote", "rsync://{peer}:" + std::to_string(daemon.port())},
      {"allowed_root", root.path().string()},
      {"excludes", {"*.swp", "cache/"}},
      {"paths",
       nlohmann::json::array({{{"name", "tree"}, {"path", (root.path() / "copy").string()}, {"remote_path", "etc"}},
                              {{"name", "hosts"},
                               {"path", (root.path() / "single" / "hosts").string()},
                               {"remote_path", "etc/hosts"},
                               {"kind", "file"}}})}};
  Secondary sec(values);
  sec.start(false);
  auto r = sec.plugin.sync();
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(read_file_or(root.path() / "single" / "hosts"), "127.0.0.1 localhost\n");
  EXPECT_EQ(read_file_or(root.path() / "copy" / "keep.conf"), "k\n");
  EXPECT_FALSE(fs::exists(root.path() / "copy" / "skip.swp"));
  EXPECT_FALSE(fs::exists(root.path() / "copy" / "cache"));
  EXPECT_GE(r->details.value("files_transferred", 0), 3) << r->summary;
}

TEST(ConfigRsyncDaemon, BuiltInDaemonOrphanedByACrashIsReplacedOnStart) {
  sdk::testing::TempDir root("tandem-config-rsync");
  fs::create_directories(root.path() / "etc");
  write_file(root.path() / "etc" / "a.conf", "a\n");
  const int port = sdk::testing::free_port();
  sdk::testing::TestHostOptions o;
  o.store_name = "config";
  o.role = sdk::Role::primary;
  sdk::testing::TestHost host(o);
  nlohmann::json values{
      {"remote", "rsync://{peer}:1"},
      {"allowed_root", root.path().string()},
      {"serve_port", port},
      {"serve_address", "127.0.0.1"},
      {"paths", nlohmann::json::array({{{"name", "etc"}, {"path", (root.path() / "etc").string()}}})}};
  const auto cfg = sdk::StoreConfig::from_json("config", full_schema(), values);
  const fs::path conf = host.store_dir() / "rsyncd" / "rsyncd.conf";
  {
    ConfigRsyncPlugin first;
    ASSERT_TRUE(first.configure(cfg, host));
    ASSERT_TRUE(first.start());
    first.stop();
  }
  ASSERT_TRUE(fs::exists(conf));
  // What a tandemd killed with -9 leaves behind: its daemon, holding the port.
  sdk::ChildSpec orphan_spec;
  orphan_spec.argv = {"rsync",
                      "--daemon",
                      "--no-detach",
                      "--config=" + conf.string(),
                      "--port=" + std::to_string(port),
                      "--address=127.0.0.1"};
  orphan_spec.log_file = root.path() / "orphan.log";
  sdk::ChildProcess orphan = testsupport::start_background(orphan_spec);
  ASSERT_TRUE(sdk::testing::wait_for_port("127.0.0.1", port, 10s));
  ASSERT_TRUE(eventually([&] { return fs::exists(conf.parent_path() / "rsyncd.pid"); }, 10s));

  ConfigRsyncPlugin second;
  ASSERT_TRUE(second.configure(cfg, host));
  auto st = second.start();
  ASSERT_TRUE(st) << st.message();
  EXPECT_TRUE(eventually([&] { return !orphan.running(); }, 10s)) << "the orphan was stopped";
  EXPECT_EQ(second.health().status, sdk::HealthStatus::ok) << second.health().summary;
  sdk::ProcessSpec list;
  list.argv = {"rsync", "--list-only", "rsync://127.0.0.1:" + std::to_string(port) + "/etc/"};
  auto r = sdk::run_process(list);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->succeeded()) << r->describe();
  EXPECT_NE(r->stdout_text.find("a.conf"), std::string::npos);
  second.stop();
}

TEST(ConfigRsyncDaemon, BusyServePortFailsStartWithTheDaemonsReason) {
  sdk::testing::TempDir root("tandem-config-rsync");
  fs::create_directories(root.path() / "etc");
  RsyncDaemon squatter(serve_module("other", root.path() / "etc"));  // holds the port
  sdk::testing::TestHostOptions o;
  o.store_name = "config";
  o.role = sdk::Role::primary;
  sdk::testing::TestHost host(o);
  nlohmann::json values{
      {"remote", "rsync://{peer}:1"},
      {"allowed_root", root.path().string()},
      {"serve_port", squatter.port()},
      {"serve_address", "127.0.0.1"},
      {"paths", nlohmann::json::array({{{"name", "etc"}, {"path", (root.path() / "etc").string()}}})}};
  ConfigRsyncPlugin plugin;
  ASSERT_TRUE(plugin.configure(sdk::StoreConfig::from_json("config", full_schema(), values), host));
  auto st = plugin.start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find(std::to_string(squatter.port())), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("did not come up"), std::string::npos) << st.message();
  EXPECT_EQ(plugin.health().status, sdk::HealthStatus::stopped) << "a failed start leaves nothing half-acquired";
  EXPECT_TRUE(squatter.running());
}

TEST(ConfigRsyncDaemon, ConnectivityNamesWhatFailed) {
  sdk::testing::TempDir root("tandem-config-rsync");
  fs::create_directories(root.path() / "primary");
  RsyncDaemon daemon(serve_module("etc", root.path() / "primary"));
  {
    Secondary good(daemon_config(root, daemon.port(), "60s"));
    auto ok = good.plugin.diagnose("connectivity", {});
    ASSERT_TRUE(ok) << ok.message();
    EXPECT_TRUE(ok->passed) << ok->output;
    EXPECT_NE(ok->output.find("etc: ok"), std::string::npos) << ok->output;
  }
  auto wrong_module = daemon_config(root, daemon.port(), "60s");
  wrong_module["paths"][0]["remote_path"] = "nosuchmodule";
  Secondary bad_module(wrong_module);
  auto r = bad_module.plugin.diagnose("connectivity", {});
  ASSERT_TRUE(r) << r.message();
  EXPECT_FALSE(r->passed);
  EXPECT_NE(r->output.find("Unknown module"), std::string::npos) << r->output;

  daemon.stop();
  Secondary down(daemon_config(root, daemon.port(), "60s"));
  auto d = down.plugin.diagnose("connectivity", {});
  ASSERT_TRUE(d) << d.message();
  EXPECT_FALSE(d->passed);
  EXPECT_NE(d->output.find("Connection refused"), std::string::npos) << d->output;
  EXPECT_FALSE(down.plugin.diagnose("no-such-check", {}));
}

}  // namespace
}  // namespace tandem::config_rsync::testing
