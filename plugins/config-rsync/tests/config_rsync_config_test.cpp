// Unit tests: configuration (good and bad), rsync command lines and output
// parsing, the tree checksum, the built-in daemon's generated config.
#include <gtest/gtest.h>

#include <algorithm>

#include "pair_harness.h"
#include "rsync_invocation.h"
#include "served_daemon.h"
#include "tandem/sdk/file_util.h"
#include "tree_checksum.h"

namespace tandem::config_rsync {
namespace {
namespace fs = std::filesystem;
using testing::full_schema;
using testing::write_file;

nlohmann::json good_values() {
  return {{"remote", "rsync://{peer}:8730"},
          {"allowed_root", "/etc"},
          {"paths", nlohmann::json::array({{{"name", "myapp"}, {"path", "/etc/tandem-test-myapp"}}})}};
}

sdk::Result<Settings> parse_result(const nlohmann::json& v) {
  return parse_settings(sdk::StoreConfig::from_json("cfg", full_schema(), v));
}
Settings parse(const nlohmann::json& v) { return parse_result(v).value(); }

// The error's message (the schema check's or parse_settings'), or "" when the config was accepted.
std::string error_of(const nlohmann::json& v) {
  try {
    auto r = parse_result(v);
    if (!r.ok()) {
      EXPECT_EQ(r.code(), sdk::ErrorCode::invalid_config) << r.message();
      return r.message();
    }
  } catch (const sdk::ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ConfigRsyncConfig, DefaultsAndDerivedLocations) {
  Settings s = parse(good_values());
  EXPECT_EQ(s.transport, Transport::daemon);
  EXPECT_EQ(s.interval, std::chrono::seconds(60));
  EXPECT_EQ(s.debounce, std::chrono::milliseconds(200));
  EXPECT_FALSE(s.mirror_deletes);
  EXPECT_EQ(s.serve_port, 0);
  ASSERT_EQ(s.paths.size(), 1u);
  EXPECT_EQ(s.source_for(s.paths[0], "10.0.0.2"), "rsync://10.0.0.2:8730/myapp/");
  EXPECT_EQ(s.destination_for(s.paths[0]), "/etc/tandem-test-myapp/");

  auto v = good_values();
  v["remote"] = "root@{peer}:";
  v["rsh"] = "ssh -i /etc/tandem/id_ed25519 -o BatchMode=yes";
  Settings ssh = parse(v);
  EXPECT_EQ(ssh.transport, Transport::ssh);
  EXPECT_EQ(ssh.source_for(ssh.paths[0], "10.0.0.2"), "root@10.0.0.2:/etc/tandem-test-myapp/");
}

TEST(ConfigRsyncConfig, RejectsBadPathsWithTheKeyAndAHint) {
  auto with_path = [](const std::string& p) {
    auto v = good_values();
    v["paths"][0]["path"] = p;
    return v;
  };
  std::string e = error_of(with_path("etc/myapp"));
  EXPECT_NE(e.find("paths[0].path"), std::string::npos) << e;
  EXPECT_NE(e.find("relative"), std::string::npos) << e;
  e = error_of(with_path(""));
  EXPECT_NE(e.find("empty"), std::string::npos) << e;
  auto root_everything = with_path("/");
  root_everything["allowed_root"] = "/";
  e = error_of(root_everything);
  EXPECT_NE(e.find("is '/'"), std::string::npos) << e;
  e = error_of(with_path("/var/lib/myapp"));
  EXPECT_NE(e.find("outside allowed_root"), std::string::npos) << e;
  e = error_of(with_path("/etc/../var/x"));
  EXPECT_NE(e.find("outside allowed_root"), std::string::npos) << e;

  auto v = good_values();
  v["paths"].push_back({{"name", "nested"}, {"path", "/etc/tandem-test-myapp/sub"}});
  e = error_of(v);
  EXPECT_NE(e.find("overlaps"), std::string::npos) << e;
  v = good_values();
  v["paths"].push_back({{"name", "myapp"}, {"path", "/etc/other"}});
  EXPECT_NE(error_of(v).find("unique"), std::string::npos);
  v = good_values();
  v["paths"][0]["name"] = "my app";
  EXPECT_NE(error_of(v).find("paths[0].name"), std::string::npos);
  v = good_values();
  v["paths"] = nlohmann::json::array();
  EXPECT_NE(error_of(v).find("add at least one"), std::string::npos);
  v = good_values();
  v["allowed_root"] = "relative/root";
  EXPECT_NE(error_of(v).find("allowed_root"), std::string::npos);
}

TEST(ConfigRsyncConfig, DeleteNeedsADirectory) {
  sdk::testing::TempDir dir;
  write_file(dir.path() / "hosts", "x");
  nlohmann::json v{{"remote", "rsync://{peer}:8730"},
                   {"allowed_root", dir.path().string()},
                   {"delete", true},
                   {"paths", nlohmann::json::array({{{"name", "hosts"}, {"path", (dir.path() / "hosts").string()}}})}};
  std::string e = error_of(v);
  EXPECT_NE(e.find("not a directory"), std::string::npos) << e;
  v["paths"][0]["kind"] = "file";
  e = error_of(v);
  EXPECT_NE(e.find("delete = true"), std::string::npos) << e;
  v["delete"] = false;
  EXPECT_EQ(error_of(v), "");
  Settings s = parse(v);
  EXPECT_TRUE(s.paths[0].is_file);
  EXPECT_EQ(s.source_for(s.paths[0], "h"), "rsync://h:8730/hosts") << "a file has no trailing slash";
  v["paths"][0]["kind"] = "socket";
  EXPECT_NE(error_of(v).find("kind"), std::string::npos);
}

TEST(ConfigRsyncConfig, RejectsBadTimingTransportAndAuth) {
  auto with = [](const std::string& key, nlohmann::json value) {
    auto v = good_values();
    v[key] = std::move(value);
    return v;
  };
  EXPECT_NE(error_of(with("sync_interval", "0s")).find("'sync_interval': must be between 100ms and 1d"),
            std::string::npos);
  EXPECT_NE(error_of(with("sync_interval", 0)).find("sync_interval"), std::string::npos);
  EXPECT_NE(error_of(with("sync_interval", "soon")).find("sync_interval"), std::string::npos);
  EXPECT_NE(error_of(with("debounce", "0ms")).find("debounce"), std::string::npos);
  EXPECT_NE(error_of(with("debounce_max", "100ms")).find("debounce_max"), std::string::npos);
  EXPECT_NE(error_of(with("timeout", "10ms")).find("timeout"), std::string::npos);
  EXPECT_NE(error_of(with("serve_port", 70000)).find("serve_port"), std::string::npos);
  EXPECT_NE(error_of(with("remote", "")).find("remote"), std::string::npos);
  EXPECT_NE(error_of(with("remote", "ftp://host")).find("neither"), std::string::npos);
  EXPECT_NE(error_of(with("remote", "rsync://host:8730/module")).find("not an rsync daemon address"),
            std::string::npos);
  EXPECT_NE(error_of(with("rsh", "ssh")).find("rsh"), std::string::npos) << "rsh with a daemon remote";
  EXPECT_NE(error_of(with("password_file", "/nonexistent/tandem.pw")).find("does not exist"), std::string::npos);
  // /etc/hostname is readable by everyone: no place for a password.
  EXPECT_NE(error_of(with("password_file", "/etc/hostname")).find("run: chmod 600 /etc/hostname"), std::string::npos);
  auto ssh = with("remote", "{peer}:");
  ssh["password_file"] = "/etc/hostname";
  EXPECT_NE(error_of(ssh).find("only applies"), std::string::npos);
  EXPECT_NE(error_of(with("excludes", nlohmann::json::array({""}))).find("empty pattern"), std::string::npos);
}

TEST(ConfigRsyncConfig, PluginConfigureFailsFastOnBadInput) {
  sdk::testing::TestHost host;
  ConfigRsyncPlugin plugin;
  auto v = good_values();
  v["sync_interval"] = "0s";
  EXPECT_THROW((void)plugin.configure(sdk::StoreConfig::from_json("cfg", full_schema(), v), host), sdk::ConfigError);
  EXPECT_TRUE(plugin.configure(sdk::StoreConfig::from_json("cfg", full_schema(), good_values()), host));
  EXPECT_EQ(plugin.health().status, sdk::HealthStatus::stopped);
}

TEST(ConfigRsyncEvents, SecondaryPullsOnChangeNewsButIgnoresAnOlderEpoch) {
  sdk::testing::TestHostOptions o;
  o.role = sdk::Role::secondary;
  o.epoch = 3;
  sdk::testing::TestHost host(o);
  ConfigRsyncPlugin plugin;
  ASSERT_TRUE(plugin.configure(sdk::StoreConfig::from_json("cfg", full_schema(), good_values()), host));
  plugin.on_peer_event({{"event", "config-changed"}, {"checksum", "abc"}, {"epoch", 3}});
  EXPECT_EQ(host.sync_requests(), 0) << "not started: not pulling, nothing to do";
  ASSERT_TRUE(plugin.start());  // requests the first pull itself
  const int after_start = host.sync_requests();
  plugin.on_peer_event({{"event", "config-changed"}, {"checksum", "abc"}, {"epoch", 2}});
  EXPECT_EQ(host.sync_requests(), after_start) << "a stale primary's news is ignored";
  plugin.on_peer_event({{"event", "config-changed"}, {"checksum", "abc"}, {"epoch", 3}});
  EXPECT_EQ(host.sync_requests(), after_start + 1);
  EXPECT_EQ(plugin.health().details.value("primary_checksum", ""), "abc");
  plugin.on_peer_event({{"nonsense", true}});
  plugin.on_peer_event(nlohmann::json::array());
  EXPECT_EQ(host.sync_requests(), after_start + 1);
  plugin.stop();
}

TEST(ConfigRsyncEvents, FencedPrimaryNeitherServesNorWatches) {
  sdk::testing::TempDir dir;
  fs::create_directories(dir.path() / "etc");
  sdk::testing::TestHostOptions o;
  o.role = sdk::Role::primary;
  sdk::testing::TestHost host(o);
  host.set_fenced(true);
  nlohmann::json v{{"remote", "rsync://{peer}:8730"},
                   {"allowed_root", dir.path().string()},
                   {"paths", nlohmann::json::array({{{"name", "etc"}, {"path", (dir.path() / "etc").string()}}})}};
  ConfigRsyncPlugin plugin;
  ASSERT_TRUE(plugin.configure(sdk::StoreConfig::from_json("cfg", full_schema(), v), host));
  ASSERT_TRUE(plugin.start());
  auto h = plugin.health();
  EXPECT_EQ(h.details.value("mode", ""), "idle");
  EXPECT_EQ(h.status, sdk::HealthStatus::degraded);
  EXPECT_NE(h.summary.find("fenced"), std::string::npos) << h.summary;
  write_file(dir.path() / "etc" / "x.conf", "x");
  auto r = plugin.sync();
  ASSERT_TRUE(r);
  EXPECT_TRUE(host.peer_messages().empty()) << "a fenced node reports nothing as primary";
  plugin.stop();
}

TEST(ConfigRsyncCommand, PullIsArchiveAtomicAndNeverInplace) {
  auto v = good_values();
  v["delete"] = true;
  v["excludes"] = {"*.swp"};
  v["bwlimit"] = "1MiB";
  v["remote"] = "rsync://tandem@{peer}:8730";
  sdk::testing::TempDir dir;
  const fs::path pw = dir.path() / "rsync.password";
  write_file(pw, "pw\n");
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
  v["password_file"] = pw.string();
  Settings s = parse(v);
  auto argv = pull_argv(s, s.paths[0], "10.0.0.2", false);
  EXPECT_EQ(argv.front(), "rsync");
  for (auto flag : {"-a", "--delay-updates", "--itemize-changes", "--stats", "--delete", "--exclude=*.swp",
                    "--bwlimit=1024K", "--timeout=30", "--contimeout=30", "--modify-window=-1"})
    EXPECT_TRUE(contains(argv, flag)) << flag;
  EXPECT_TRUE(contains(argv, "--password-file=" + pw.string()));
  EXPECT_FALSE(contains(argv, "--inplace"));
  EXPECT_FALSE(contains(argv, "--dry-run"));
  EXPECT_EQ(argv[argv.size() - 2], "rsync://tandem@10.0.0.2:8730/myapp/");
  EXPECT_EQ(argv.back(), "/etc/tandem-test-myapp/");
  EXPECT_FALSE(contains(argv, "--checksum"));
  EXPECT_TRUE(contains(pull_argv(s, s.paths[0], "h", true), "--dry-run"));
  EXPECT_TRUE(contains(pull_argv(s, s.paths[0], "h", false, true), "--checksum"));

  v = good_values();
  v["remote"] = "{peer}:";
  v["rsh"] = "ssh -o BatchMode=yes";
  Settings ssh = parse(v);
  auto sargv = pull_argv(ssh, ssh.paths[0], "h", false);
  EXPECT_TRUE(contains(sargv, "--rsh=ssh -o BatchMode=yes"));
  EXPECT_FALSE(contains(sargv, "--delete"));
  EXPECT_FALSE(contains(sargv, "--contimeout=30")) << "--contimeout is for daemons only";
}

TEST(ConfigRsyncCommand, ParsesItemizedChangesAndStats) {
  const std::string out =
      ">f+++++++++ new file.conf\n"
      ".d..t...... ./\n"
      ".f...p..... mode.conf\n"
      "*deleting   gone.conf\n"
      "cd+++++++++ sub/\n"
      ".f          unchanged.conf\n"
      "\n"
      "Number of files: 5 (reg: 3, dir: 2)\n"
      "Number of created files: 2 (reg: 1, dir: 1)\n"
      "Number of deleted files: 1 (reg: 1)\n"
      "Number of regular files transferred: 1\n"
      "Total file size: 1,234 bytes\n"
      "Total transferred file size: 1,024 bytes\n"
      "Total bytes sent: 43\n"
      "Total bytes received: 1,186\n";
  TransferStats st = parse_rsync_output(out);
  EXPECT_TRUE(st.stats_seen);
  EXPECT_EQ(st.files_transferred, 1);
  EXPECT_EQ(st.files_created, 2);
  EXPECT_EQ(st.files_deleted, 1);
  EXPECT_EQ(st.bytes_transferred, 1024);
  EXPECT_EQ(st.bytes_received, 1186);
  EXPECT_EQ(st.changes_total, 5u) << "the unchanged line does not count";
  EXPECT_TRUE(contains(st.changes, ">f+++++++++ new file.conf"));
  EXPECT_TRUE(contains(st.changes, "*deleting   gone.conf"));
  EXPECT_FALSE(contains(st.changes, ".f          unchanged.conf"));
  EXPECT_EQ(parse_rsync_output("").changes_total, 0u);
}

TEST(ConfigRsyncCommand, FailureTextKeepsRsyncsOwnWords) {
  std::string text =
      describe_rsync_failure(10, false,
                             "rsync: [Receiver] failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)\n"
                             "rsync error: error in socket IO (code 10) at clientserver.c(139) [Receiver=3.2.7]\n",
                             "");
  EXPECT_NE(text.find("exit 10"), std::string::npos) << text;
  EXPECT_NE(text.find("Connection refused"), std::string::npos) << text;
  EXPECT_EQ(text.find("clientserver.c"), std::string::npos) << text;
}

TEST(ConfigRsyncChecksum, ChangesWithContentModeAndNamesButNotExcludedFiles) {
  sdk::testing::TempDir dir;
  fs::create_directories(dir.path() / "t" / "sub");
  write_file(dir.path() / "t" / "a.conf", "a");
  write_file(dir.path() / "t" / "sub" / "b.conf", "b");
  nlohmann::json v{{"remote", "rsync://{peer}:8730"},
                   {"allowed_root", dir.path().string()},
                   {"excludes", {"*.swp", "/cache/"}},
                   {"paths", nlohmann::json::array({{{"name", "t"}, {"path", (dir.path() / "t").string()}}})}};
  Settings s = parse(v);
  auto base = compute_tree_checksum(s);
  EXPECT_EQ(base.sha256.size(), 64u);
  EXPECT_EQ(compute_tree_checksum(s).sha256, base.sha256) << "deterministic";

  write_file(dir.path() / "t" / "x.swp", "ignored");
  write_file(dir.path() / "t" / "cache" / "blob", "ignored");
  EXPECT_EQ(compute_tree_checksum(s).sha256, base.sha256) << "excluded entries do not count";

  write_file(dir.path() / "t" / "a.conf", "A");
  auto changed = compute_tree_checksum(s).sha256;
  EXPECT_NE(changed, base.sha256);
  write_file(dir.path() / "t" / "a.conf", "a");
  EXPECT_EQ(compute_tree_checksum(s).sha256, base.sha256);

  fs::permissions(dir.path() / "t" / "a.conf", fs::perms::owner_read);
  EXPECT_NE(compute_tree_checksum(s).sha256, base.sha256) << "mode counts";
  fs::permissions(dir.path() / "t" / "a.conf",
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  auto restored = compute_tree_checksum(s).sha256;
  fs::rename(dir.path() / "t" / "a.conf", dir.path() / "t" / "c.conf");
  EXPECT_NE(compute_tree_checksum(s).sha256, restored) << "names count";

  // The same content at another place hashes the same (how both nodes compare).
  fs::create_directories(dir.path() / "copy");
  fs::copy(dir.path() / "t", dir.path() / "copy", fs::copy_options::recursive);
  fs::permissions(dir.path() / "copy", fs::status(dir.path() / "t").permissions());
  auto v2 = v;
  v2["paths"][0]["path"] = (dir.path() / "copy").string();
  EXPECT_EQ(compute_tree_checksum(parse(v2)).sha256, compute_tree_checksum(s).sha256);
}

TEST(ConfigRsyncChecksum, ExcludePatternsFollowRsyncRules) {
  std::vector<std::string> p{"*.swp", "/top-only", "logs/", "a/b/*.tmp"};
  EXPECT_TRUE(is_excluded(p, "x.swp", false));
  EXPECT_TRUE(is_excluded(p, "deep/dir/x.swp", false));
  EXPECT_TRUE(is_excluded(p, "top-only", false));
  EXPECT_FALSE(is_excluded(p, "sub/top-only", false));
  EXPECT_TRUE(is_excluded(p, "sub/logs", true));
  EXPECT_FALSE(is_excluded(p, "sub/logs", false)) << "trailing slash: directories only";
  EXPECT_TRUE(is_excluded(p, "a/b/c.tmp", false));
  EXPECT_TRUE(is_excluded(p, "x/a/b/c.tmp", false));
  EXPECT_FALSE(is_excluded(p, "keep.conf", false));
}

TEST(ConfigRsyncServe, GeneratedDaemonConfigIsReadOnlyAndRestricted) {
  auto v = good_values();
  v["serve_port"] = 8730;
  Settings s = parse(v);
  ServedDaemon d(s, "/tmp/unused", "10.0.0.1", {"10.0.0.2", "127.0.0.1"});
  std::string conf = d.render_config();
  EXPECT_NE(conf.find("read only = yes"), std::string::npos) << conf;
  EXPECT_NE(conf.find("hosts allow = 10.0.0.2 127.0.0.1"), std::string::npos) << conf;
  EXPECT_NE(conf.find("hosts deny = *"), std::string::npos) << conf;
  EXPECT_NE(conf.find("[myapp]\n  comment = tandem config-rsync myapp\n  path = /etc/tandem-test-myapp"),
            std::string::npos)
      << conf;
}

}  // namespace
}  // namespace tandem::config_rsync
