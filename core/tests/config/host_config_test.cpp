#include <fstream>

#include <gtest/gtest.h>

#include "config/host_config.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::core {
namespace {

namespace fs = std::filesystem;

const char* kFullConfig = R"([node]
name = "alpha"
address = "10.0.0.1"
role = "primary"
data_dir = "state"

[peer]
name = "beta"
address = "10.0.0.2"
api_url = "https://10.0.0.2:7480"
token_file = "secrets/peer-token"
ca_file = "tls/ca.pem"
tls_cert_file = "tls/alpha.pem"
tls_key_file = "tls/alpha.key"

[api]
listen = "[::1]:7490"
token_file = "/etc/tandem/api-token"
tls_cert_file = "/etc/tandem/tls/alpha.pem"
tls_key_file = "/etc/tandem/tls/alpha.key"
tls_client_ca_file = "/etc/tandem/tls/ca.pem"

[plugins]
search_dirs = ["plugins", "/usr/lib/tandem/plugins"]

[stores.config]
plugin = "config-rsync"
enabled = false
source = "/etc/app"

[stores.custom]
plugin = "./my/tandem-custom.so"
)";

fs::path write(const fs::path& dir, const std::string& name, const std::string& text) {
  fs::create_directories(dir);
  std::ofstream(dir / name) << text;
  return dir / name;
}

HostConfig must_load(const fs::path& file) {
  auto loaded = load_host_config(file);
  if (auto* e = std::get_if<ConfigErrors>(&loaded)) ADD_FAILURE() << e->joined();
  return std::get<HostConfig>(std::move(loaded));
}

TEST(HostConfig, ReadsEveryHostKey) {
  sdk::testing::TempDir dir;
  auto file = write(dir.path() / "etc", "tandem.toml", kFullConfig);
  auto loaded = load_host_config(file);
  ASSERT_TRUE(std::holds_alternative<HostConfig>(loaded)) << std::get<ConfigErrors>(loaded).joined();
  const auto& c = std::get<HostConfig>(loaded);
  EXPECT_EQ(c.source, file);
  EXPECT_EQ(c.node.name, "alpha");
  EXPECT_EQ(c.node.address, "10.0.0.1");
  EXPECT_EQ(c.node.initial_role, sdk::Role::primary);
  EXPECT_EQ(c.peer.name, "beta");
  EXPECT_EQ(c.peer.address, "10.0.0.2");
  EXPECT_EQ(c.peer.api_url, "https://10.0.0.2:7480");
  ASSERT_TRUE(c.peer.ca_file && c.peer.tls_cert_file && c.peer.tls_key_file);
  EXPECT_EQ(c.peer.ca_file->path, file.parent_path() / "tls/ca.pem");
  EXPECT_EQ(c.peer.ca_file->where, file.string() + ":12:11");
  EXPECT_EQ(c.peer.tls_key_file->path, file.parent_path() / "tls/alpha.key");
  EXPECT_FALSE(c.peer.allow_insecure_peer);
  ASSERT_TRUE(c.api.tls_cert_file && c.api.tls_key_file && c.api.tls_client_ca_file);
  EXPECT_EQ(c.api.tls_cert_file->path, fs::path("/etc/tandem/tls/alpha.pem"));
  EXPECT_EQ(c.api.tls_client_ca_file->path, fs::path("/etc/tandem/tls/ca.pem"));
  EXPECT_EQ(c.api.bind_address, "::1");
  EXPECT_EQ(c.api.port, 7490);
  ASSERT_TRUE(c.api.token_file.has_value());
  EXPECT_EQ(*c.api.token_file, fs::path("/etc/tandem/api-token"));
  ASSERT_EQ(c.stores.size(), 2u);
  EXPECT_EQ(c.stores[0].name, "config");
  EXPECT_EQ(c.stores[0].plugin, "config-rsync");
  EXPECT_FALSE(c.stores[0].enabled);
  EXPECT_EQ(c.stores[0].location, file.string() + ":26:1");
  ASSERT_TRUE(c.stores[0].table);
  EXPECT_EQ(c.stores[0].table->get("source")->value_or(std::string()), "/etc/app");
  EXPECT_TRUE(c.stores[1].enabled);
}

TEST(HostConfig, RelativePathsResolveAgainstTheFilesDirectory) {
  sdk::testing::TempDir dir;
  fs::path etc = dir.path() / "etc";
  auto c = must_load(write(etc, "tandem.toml", kFullConfig));
  EXPECT_EQ(c.node.data_dir, etc / "state");
  ASSERT_TRUE(c.peer.token_file.has_value());
  EXPECT_EQ(*c.peer.token_file, etc / "secrets" / "peer-token");
  ASSERT_EQ(c.plugins.search_dirs.size(), 2u);
  EXPECT_EQ(c.plugins.search_dirs[0], etc / "plugins");
  EXPECT_EQ(c.plugins.search_dirs[1], fs::path("/usr/lib/tandem/plugins"));
  // A plugin given as a path is a path too; a type name stays a name.
  EXPECT_EQ(c.stores[1].plugin, (etc / "my" / "tandem-custom.so").string());
}

TEST(HostConfig, DefaultsApplyWhenOptionalSectionsAreAbsent) {
  auto loaded = parse_host_config(R"([node]
name = "a"
address = "127.0.0.1"
role = "secondary"
data_dir = "/var/lib/tandem"
[peer]
name = "b"
address = "127.0.0.2"
api_url = "http://127.0.0.2:7480"
)",
                                  "/etc/tandem/t.toml");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(loaded)) << std::get<ConfigErrors>(loaded).joined();
  const auto& c = std::get<HostConfig>(loaded);
  EXPECT_EQ(c.node.initial_role, sdk::Role::secondary);
  EXPECT_EQ(c.api.bind_address, "127.0.0.1");
  EXPECT_EQ(c.api.port, 7480);
  EXPECT_FALSE(c.api.token_file.has_value());
  EXPECT_FALSE(c.peer.token_file.has_value());
  EXPECT_TRUE(c.plugins.search_dirs.empty());
  EXPECT_TRUE(c.stores.empty());
}

TEST(HostConfig, CollectsEveryErrorInsteadOfStoppingAtTheFirst) {
  auto loaded = parse_host_config(R"([node]
name = 1
address = "127.0.0.1"
role = "leader"
data_dir = "/x"
colour = "blue"
[peer]
name = "b"
address = "127.0.0.2"
api_url = "http://127.0.0.2:7480"
[api]
listen = "nowhere"
)",
                                  "t.toml");
  ASSERT_TRUE(std::holds_alternative<ConfigErrors>(loaded));
  const auto& messages = std::get<ConfigErrors>(loaded).messages;
  ASSERT_EQ(messages.size(), 4u) << std::get<ConfigErrors>(loaded).joined();
  std::string all = std::get<ConfigErrors>(loaded).joined();
  EXPECT_NE(all.find("t.toml:2:8: [node] key 'name' must be a string, got integer"), std::string::npos) << all;
  EXPECT_NE(all.find("t.toml:4:8: [node] role 'leader' is not a role"), std::string::npos) << all;
  EXPECT_NE(all.find("t.toml:6:1: unknown key 'colour' in [node]"), std::string::npos) << all;
  EXPECT_NE(all.find("t.toml:12:10: [api] listen 'nowhere' is not a listen address"), std::string::npos) << all;
}

const char* kApiBase = R"([node]
name = "a"
address = "10.0.0.1"
role = "primary"
data_dir = "/x"
[peer]
name = "b"
address = "10.0.0.2"
api_url = "http://10.0.0.2:7480"
[api]
)";

TEST(HostConfig, ApiLimitsHaveDefaultsAndAreRead) {
  auto defaults = parse_host_config(kApiBase, "t.toml");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(defaults)) << std::get<ConfigErrors>(defaults).joined();
  const ApiLimits& d = std::get<HostConfig>(defaults).api.limits;
  EXPECT_EQ(d.connections.max_connections, 256);
  EXPECT_EQ(d.connections.per_address, 32);
  EXPECT_EQ(d.connections.reserved, 32);
  EXPECT_EQ(d.header_timeout, std::chrono::seconds(5));
  EXPECT_EQ(d.body_timeout, std::chrono::seconds(10));

  auto set = parse_host_config(std::string(kApiBase) + R"(max_connections = 1000
max_connections_per_address = 50
reserved_connections = 100
header_timeout = "1500ms"
body_timeout = 60
)",
                               "t.toml");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(set)) << std::get<ConfigErrors>(set).joined();
  const ApiLimits& l = std::get<HostConfig>(set).api.limits;
  EXPECT_EQ(l.connections.max_connections, 1000);
  EXPECT_EQ(l.connections.per_address, 50);
  EXPECT_EQ(l.connections.reserved, 100);
  EXPECT_EQ(l.header_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(l.body_timeout, std::chrono::seconds(60));
}

TEST(HostConfig, HistoryIntervalHasADefaultIsReadAndIsBounded) {
  auto defaults = parse_host_config(kApiBase, "t.toml");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(defaults)) << std::get<ConfigErrors>(defaults).joined();
  EXPECT_EQ(std::get<HostConfig>(defaults).api.dashboard.history_interval, std::chrono::seconds(10));
  for (auto [text, want] :
       {std::pair{"\"30s\"", std::chrono::milliseconds(30000)}, std::pair{"2", std::chrono::milliseconds(2000)}}) {
    auto set = parse_host_config(std::string(kApiBase) + "history_interval = " + text + "\n", "t.toml");
    ASSERT_TRUE(std::holds_alternative<HostConfig>(set)) << std::get<ConfigErrors>(set).joined();
    EXPECT_EQ(std::get<HostConfig>(set).api.dashboard.history_interval, want) << text;
  }
  for (const char* text : {"\"500ms\"", "\"11m\"", "\"soon\"", "-1", "false"}) {
    auto bad = parse_host_config(std::string(kApiBase) + "history_interval = " + text + "\n", "t.toml");
    ASSERT_TRUE(std::holds_alternative<ConfigErrors>(bad)) << text;
    std::string all = std::get<ConfigErrors>(bad).joined();
    EXPECT_NE(all.find("t.toml:11:20: [api] key 'history_interval': "), std::string::npos) << text << ": " << all;
  }
  auto typo = parse_host_config(std::string(kApiBase) + "history_intervall = \"5s\"\n", "t.toml");
  ASSERT_TRUE(std::holds_alternative<ConfigErrors>(typo));
  EXPECT_NE(std::get<ConfigErrors>(typo).joined().find("did you mean 'history_interval'"), std::string::npos)
      << std::get<ConfigErrors>(typo).joined();
}

TEST(HostConfig, DashboardActionsAreOffByDefaultAndMustBeABoolean) {
  auto defaults = parse_host_config(kApiBase, "t.toml");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(defaults)) << std::get<ConfigErrors>(defaults).joined();
  EXPECT_FALSE(std::get<HostConfig>(defaults).api.dashboard.actions);
  auto on = parse_host_config(std::string(kApiBase) + "dashboard_actions = true\n", "t.toml");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(on)) << std::get<ConfigErrors>(on).joined();
  EXPECT_TRUE(std::get<HostConfig>(on).api.dashboard.actions);
  for (const char* text : {"\"yes\"", "1", "\"true\""}) {
    auto bad = parse_host_config(std::string(kApiBase) + "dashboard_actions = " + text + "\n", "t.toml");
    ASSERT_TRUE(std::holds_alternative<ConfigErrors>(bad)) << text;
    std::string all = std::get<ConfigErrors>(bad).joined();
    EXPECT_NE(all.find("t.toml:11:21: [api] key 'dashboard_actions': expected true or false"), std::string::npos)
        << text << ": " << all;
  }
}

TEST(HostConfig, BadApiLimitsNameTheKeyAndTheLine) {
  auto loaded = parse_host_config(std::string(kApiBase) + R"(max_connections = 4
max_connections_per_address = "many"
header_timeout = "soon"
body_timeout = "2h"
)",
                                  "t.toml");
  ASSERT_TRUE(std::holds_alternative<ConfigErrors>(loaded));
  std::string all = std::get<ConfigErrors>(loaded).joined();
  EXPECT_EQ(std::get<ConfigErrors>(loaded).messages.size(), 4u) << all;
  EXPECT_NE(all.find("t.toml:11:19: [api] key 'max_connections': "), std::string::npos) << all;
  EXPECT_NE(all.find("t.toml:12:31: [api] key 'max_connections_per_address': "), std::string::npos) << all;
  EXPECT_NE(all.find("t.toml:13:18: [api] key 'header_timeout': "), std::string::npos) << all;
  EXPECT_NE(all.find("t.toml:14:16: [api] key 'body_timeout': "), std::string::npos) << all;

  // Each in range, but the reserve leaves nothing for clients without the token.
  auto pair = parse_host_config(std::string(kApiBase) + "max_connections = 64\nreserved_connections = 64\n", "t.toml");
  ASSERT_TRUE(std::holds_alternative<ConfigErrors>(pair));
  all = std::get<ConfigErrors>(pair).joined();
  EXPECT_NE(all.find("t.toml:12:24: [api] reserved_connections (64) must be less than max_connections (64)"),
            std::string::npos)
      << all;
  auto per =
      parse_host_config(std::string(kApiBase) + "max_connections = 64\nmax_connections_per_address = 65\n", "t.toml");
  ASSERT_TRUE(std::holds_alternative<ConfigErrors>(per));
  EXPECT_NE(
      std::get<ConfigErrors>(per).joined().find("max_connections_per_address (65) cannot exceed max_connections (64)"),
      std::string::npos)
      << std::get<ConfigErrors>(per).joined();
}

// Every [api] limit key is in docs/configuration.md's [api] table with its
// default and bounds as the schema has them.
TEST(HostConfig, EveryApiLimitKeyIsDocumentedWithItsDefault) {
  std::ifstream in(std::string(TANDEM_DOCS_DIR) + "/configuration.md");
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(doc.empty());
  for (const auto& key : api_limit_keys()) {
    auto row = doc.find("| `" + key.name + "` |");
    ASSERT_NE(row, std::string::npos) << key.name << " is not in docs/configuration.md";
    std::string line = doc.substr(row, doc.find('\n', row) - row);
    std::string def =
        key.type == sdk::ValueType::duration ? "`\"" + key.default_value + "\"`" : "`" + key.default_value + "`";
    EXPECT_NE(line.find(def), std::string::npos) << line << " lacks the default " << def;
    EXPECT_NE(line.find(key.min + "–" + key.max), std::string::npos) << line << " lacks the bounds";
  }
}

// [failover] and [dcs] keys are documented with their defaults, as [api]'s are.
TEST(HostConfig, EveryFailoverAndDcsKeyIsDocumented) {
  std::ifstream in(std::string(TANDEM_DOCS_DIR) + "/configuration.md");
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto* schema : {&failover_keys(), &dcs_keys()})
    for (const auto& key : *schema) {
      auto row = doc.find("`" + key.name + "`");
      ASSERT_NE(row, std::string::npos) << key.name << " is not in docs/configuration.md";
      if (key.default_value.empty()) continue;
      std::string line = doc.substr(row, doc.find('\n', row) - row);
      EXPECT_NE(line.find("`\"" + key.default_value + "\"`"), std::string::npos)
          << line << " lacks " << key.default_value;
    }
}

TEST(HostConfig, AutomaticFailoverOnEtcd) {
  auto loaded = parse_host_config(R"([node]
name = "a"
address = "127.0.0.1"
role = "primary"
data_dir = "/tmp/x"
[peer]
name = "b"
address = "127.0.0.2"
api_url = "http://127.0.0.2:7480"
[failover]
mode = "automatic"
maximum_lag_on_failover = "16MiB"
[dcs]
endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379/", "http://10.0.0.3:2379"]
ttl = "5s"
prefix = "/tandem/pair1/"
)",
                                  "t.toml");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(loaded)) << std::get<ConfigErrors>(loaded).joined();
  const auto& c = std::get<HostConfig>(loaded);
  EXPECT_EQ(c.failover.mode, FailoverMode::automatic);
  EXPECT_EQ(c.failover.maximum_lag_on_failover, 16u << 20);
  EXPECT_EQ(c.failover.fence_margin, std::chrono::seconds(2));
  ASSERT_TRUE(c.dcs);
  EXPECT_EQ(c.dcs->endpoints.size(), 3u);
  EXPECT_EQ(c.dcs->ttl, std::chrono::seconds(5));
  EXPECT_EQ(c.dcs->effective_retry_timeout(), std::chrono::milliseconds(1666));
  EXPECT_EQ(c.dcs->leader_key(), "/tandem/pair1/leader");
  EXPECT_EQ(c.dcs->epoch_key(), "/tandem/pair1/epoch");

  auto manual = parse_host_config(R"([node]
name = "a"
address = "127.0.0.1"
role = "primary"
data_dir = "/tmp/x"
[peer]
name = "b"
address = "127.0.0.2"
api_url = "http://127.0.0.2:7480"
)",
                                  "t.toml");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(manual));
  EXPECT_EQ(std::get<HostConfig>(manual).failover.mode, FailoverMode::manual);
  EXPECT_FALSE(std::get<HostConfig>(manual).dcs);
}

TEST(HostConfig, MissingFileIsAClearError) {
  auto loaded = load_host_config("/nonexistent/tandem.toml");
  ASSERT_TRUE(std::holds_alternative<ConfigErrors>(loaded));
  EXPECT_EQ(std::get<ConfigErrors>(loaded).messages.at(0),
            "/nonexistent/tandem.toml: cannot read the config file (no such file); pass an existing file with "
            "--config or set TANDEM_CONFIG");
}

TEST(HostConfig, SecretsFromFilesAreAccepted) {
  auto loaded = parse_host_config(R"([node]
name = "a"
address = "127.0.0.1"
role = "primary"
data_dir = "/x"
[peer]
name = "b"
address = "127.0.0.2"
api_url = "http://127.0.0.2:7480"
token_file = "/etc/peer-token"
[api]
token_file = "/etc/api-token"
)",
                                  "t.toml");
  EXPECT_TRUE(std::holds_alternative<HostConfig>(loaded)) << std::get<ConfigErrors>(loaded).joined();
}

TEST(HostConfig, PeerApiUrlIsReadWithTheClientsParser) {
  auto with_url = [](const std::string& url) {
    return parse_host_config(
        "[node]\nname = \"a\"\naddress = \"127.0.0.1\"\nrole = \"primary\"\ndata_dir = \"/x\"\n"
        "[peer]\nname = \"b\"\naddress = \"127.0.0.2\"\napi_url = \"" +
            url + "\"\n",
        "t.toml");
  };
  auto ok = with_url("http://127.0.0.2/");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(ok)) << std::get<ConfigErrors>(ok).joined();
  EXPECT_EQ(std::get<HostConfig>(ok).peer.api_url, "http://127.0.0.2:80");
  auto https = with_url("https://127.0.0.2:7480");
  ASSERT_TRUE(std::holds_alternative<HostConfig>(https)) << std::get<ConfigErrors>(https).joined();
  EXPECT_EQ(std::get<HostConfig>(https).peer.api_url, "https://127.0.0.2:7480");
}

// The peer section with `extra` lines; a token file unless told otherwise.
std::variant<HostConfig, ConfigErrors> with_peer(const std::string& url, const std::string& extra, bool token = true) {
  return parse_host_config(
      "[node]\nname = \"a\"\naddress = \"10.0.0.1\"\nrole = \"primary\"\ndata_dir = \"/x\"\n"
      "[peer]\nname = \"b\"\naddress = \"10.0.0.2\"\napi_url = \"" +
          url + "\"\n" + (token ? "token_file = \"/etc/tandem/peer-token\"\n" : "") + extra,
      "t.toml");
}

std::string errors_of(const std::variant<HostConfig, ConfigErrors>& loaded) {
  auto* e = std::get_if<ConfigErrors>(&loaded);
  return e ? e->joined() : "";
}

TEST(HostConfig, RefusesATokenInClearToANonLoopbackPeer) {
  auto refused = errors_of(with_peer("http://10.0.0.2:7480", ""));
  EXPECT_EQ(refused,
            "t.toml:9:11: [peer] api_url 'http://10.0.0.2:7480' would send the peer token (token_file) in clear to a "
            "non-loopback address; enable TLS: on the peer set [api] tls_cert_file and tls_key_file, here write "
            "api_url = \"https://10.0.0.2:7480\" and [peer] ca_file = the CA that signed the peer's certificate "
            "(or, on a network only the pair can see, set [peer] allow_insecure_peer = true)\n");
  // A DNS name may resolve anywhere: refused too.
  EXPECT_NE(errors_of(with_peer("http://beta.example:7480", "")).find("in clear"), std::string::npos);
  // Accepted: the explicit opt-out, TLS, loopback, or no token to leak.
  EXPECT_EQ(errors_of(with_peer("http://10.0.0.2:7480", "allow_insecure_peer = true\n")), "");
  EXPECT_EQ(errors_of(with_peer("https://10.0.0.2:7480", "ca_file = \"/etc/tandem/tls/ca.pem\"\n")), "");
  for (const char* loopback : {"http://127.0.0.2:7480", "http://[::1]:7480", "http://localhost:7480"})
    EXPECT_EQ(errors_of(with_peer(loopback, "")), "") << loopback;
  EXPECT_EQ(errors_of(with_peer("http://10.0.0.2:7480", "", /*token=*/false)), "");
  EXPECT_NE(
      errors_of(with_peer("http://10.0.0.2:7480", "allow_insecure_peer = \"yes\"\n")).find("must be true or false"),
      std::string::npos);
}

TEST(HostConfig, TlsKeysComeInPairsAndNeedHttps) {
  EXPECT_EQ(errors_of(with_peer("https://10.0.0.2:7480", "tls_cert_file = \"c.pem\"\n")),
            "t.toml:11:17: [peer] tls_cert_file and tls_key_file go together (this node's client certificate and its "
            "key); set both or neither\n");
  EXPECT_EQ(errors_of(with_peer("http://127.0.0.2:7480", "ca_file = \"ca.pem\"\n")),
            "t.toml:11:11: [peer] ca_file is set but api_url 'http://127.0.0.2:7480' is http://, so no TLS is "
            "spoken; write api_url = \"https://...\"\n");
  EXPECT_EQ(errors_of(with_peer("https://10.0.0.2:7480", "[api]\ntls_key_file = \"k.pem\"\n")),
            "t.toml:12:16: [api] tls_cert_file and tls_key_file go together (the API's certificate and its key); set "
            "both or neither\n");
  EXPECT_EQ(errors_of(with_peer("https://10.0.0.2:7480", "[api]\ntls_client_ca_file = \"ca.pem\"\n")),
            "t.toml:12:22: [api] tls_client_ca_file requires HTTPS: set tls_cert_file and tls_key_file too\n");
  EXPECT_EQ(errors_of(with_peer("https://10.0.0.2:7480", "ca_file = \"\"\n")),
            "t.toml:11:11: [peer] key 'ca_file' is empty; write ca_file = \"/etc/tandem/tls/ca.pem\" or remove the "
            "key\n");
}

}  // namespace
}  // namespace tandem::core
