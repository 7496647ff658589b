// Config validation: good inputs give typed settings, bad ones a ConfigError
// that names the key and says what to do.
#include <gtest/gtest.h>

#include <set>

#include "postgres_wal_plugin.h"
#include "settings.h"
#include "tandem/sdk/config.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::pgwal {
namespace {

sdk::StoreConfig config(nlohmann::json values) {
  if (!values.contains("data_dir")) values["data_dir"] = "/var/lib/postgresql/15/main";
  return sdk::StoreConfig::from_json("pg", sdk::store_schema(PostgresWalPlugin()), values);
}

// The schema check's or parse_settings' message, "" when accepted.
std::string error_of(nlohmann::json values) {
  try {
    auto r = parse_settings(config(std::move(values)));
    if (r.ok()) return "";
    EXPECT_EQ(r.code(), sdk::ErrorCode::invalid_config) << r.message();
    return r.message();
  } catch (const sdk::ConfigError& e) {
    return e.what();
  }
}

TEST(PostgresWalSettings, DefaultsApply) {
  Settings s = parse_settings(config({})).value();
  EXPECT_EQ(s.data_dir, "/var/lib/postgresql/15/main");
  EXPECT_EQ(s.os_user, "postgres");
  EXPECT_EQ(s.port, 5432);
  EXPECT_EQ(s.peer_port, 5432);
  EXPECT_EQ(s.replication_user, "replicator");
  EXPECT_EQ(s.slot_name, "tandem_standby");
  EXPECT_FALSE(s.synchronous);
  EXPECT_EQ(config({}).sync_interval(), std::chrono::seconds(1));
  EXPECT_EQ(s.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(s.statement_timeout, std::chrono::seconds(10));
  EXPECT_EQ(s.lag_warn_bytes, 16u << 20);
  EXPECT_EQ(s.server_log, "/var/lib/postgresql/15/postgresql-tandem.log");
  EXPECT_EQ(s.passfile, "/var/lib/postgresql/15/.tandem.pgpass");
}

TEST(PostgresWalSettings, ExplicitValuesAreRead) {
  sdk::testing::TempDir secrets;
  const std::string repl_pw = (secrets.path() / "repl.pw").string();
  sdk::atomic_write_file(repl_pw, "pw\n", 0600);
  Settings s = parse_settings(config({{"data_dir", "/srv/pg/data/"},
                                      {"port", 6543},
                                      {"peer_host", "10.0.0.2"},
                                      {"peer_port", 6544},
                                      {"synchronous", true},
                                      {"on_standby_loss", "block"},
                                      {"standby_loss_timeout", "30s"},
                                      {"connect_timeout", "3s"},
                                      {"statement_timeout", "500ms"},
                                      {"lag_warn_bytes", "1MiB"},
                                      {"slot_name", "pair_slot"},
                                      {"replication_password_file", repl_pw}}))
                   .value();
  EXPECT_EQ(s.data_dir, "/srv/pg/data");  // trailing slash dropped
  EXPECT_EQ(s.port, 6543);
  EXPECT_EQ(s.peer_host, "10.0.0.2");
  EXPECT_EQ(s.peer_port, 6544);
  EXPECT_TRUE(s.synchronous);
  EXPECT_EQ(s.on_standby_loss, StandbyLossPolicy::block);
  EXPECT_EQ(s.standby_loss_timeout, std::chrono::seconds(30));
  EXPECT_EQ(s.statement_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(s.lag_warn_bytes, 1u << 20);
  EXPECT_EQ(s.slot_name, "pair_slot");
  EXPECT_EQ(s.replication_password_file, repl_pw);
  EXPECT_EQ(s.server_log, "/srv/pg/postgresql-tandem.log");
}

TEST(PostgresWalSettings, BadInputsNameTheKeyAndTheFix) {
  struct Case {
    nlohmann::json values;
    std::string key;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {{{"data_dir", "relative/data"}}, "data_dir", "absolute path"},
      {{{"data_dir", "/srv/my data"}}, "data_dir", "spaces"},
      {{{"port", 0}}, "port", "between 1 and 65535"},
      {{{"peer_port", 70000}}, "peer_port", "between 1 and 65535"},
      {{{"os_user", "no-such-user-xyz"}}, "os_user", "no OS user"},
      {{{"slot_name", "Bad-Slot"}}, "slot_name", "lower-case"},
      {{{"replication_user", "rep user"}}, "replication_user", "plain name"},
      {{{"synchronous", true}, {"on_standby_loss", "maybe"}}, "on_standby_loss", "\"block\" or \"degrade\""},
      {{{"on_standby_loss", "block"}}, "on_standby_loss", "synchronous = true"},
      {{{"connect_timeout", "100ms"}}, "connect_timeout", "between 1s and 1h"},
      {{{"password_file", "pw.txt"}}, "password_file", "absolute path"},
      {{{"password_file", "/nonexistent/pw"}}, "password_file", "/nonexistent/pw does not exist"},
      {{{"replication_password_file", "/etc/hostname"}}, "replication_password_file", "run: chmod 600 /etc/hostname"},
      {{{"bin_dir", "bin"}}, "bin_dir", "absolute path"},
      {{{"statement_timeout", "soon"}}, "statement_timeout", "duration"},
      {{{"peer_sslmode", "on"}}, "peer_sslmode", "verify-full"},
      {{{"peer_sslmode", "verify-full"}}, "peer_sslmode", "set peer_sslrootcert to the CA file"},
      {{{"peer_sslmode", "verify-ca"}, {"peer_sslrootcert", "/nonexistent/ca.pem"}},
       "peer_sslrootcert",
       "/nonexistent/ca.pem does not exist"},
      {{{"peer_sslmode", "require"}, {"peer_sslrootcert", "/etc/hostname"}},
       "peer_sslrootcert",
       "only used with peer_sslmode"},
      {{{"peer_sslrootcert", "ca.pem"}}, "peer_sslrootcert", "absolute path"},
  };
  for (const auto& c : cases) {
    const std::string err = error_of(c.values);
    EXPECT_NE(err.find("key '" + c.key + "'"), std::string::npos) << c.values.dump() << " -> " << err;
    EXPECT_NE(err.find(c.fragment), std::string::npos) << c.values.dump() << " -> " << err;
  }
}

TEST(PostgresWalSettings, PeerSslGoesIntoConninfo) {
  EXPECT_EQ(parse_settings(config({})).value().peer_ssl_conninfo(), "");
  EXPECT_EQ(parse_settings(config({{"peer_sslmode", "require"}})).value().peer_ssl_conninfo(), " sslmode=require");
  EXPECT_EQ(parse_settings(config({{"peer_sslmode", "verify-full"}, {"peer_sslrootcert", "/etc/hostname"}}))
                .value()
                .peer_ssl_conninfo(),
            " sslmode=verify-full sslrootcert=/etc/hostname");
}

TEST(PostgresWalSettings, SyncIntervalIsTheHostsKeyWithThePluginsBounds) {
  try {
    (void)config({{"sync_interval", "10ms"}}).sync_interval();
    FAIL() << "no error for sync_interval = 10ms";
  } catch (const sdk::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'sync_interval': must be between 100ms and 1d"), std::string::npos)
        << e.what();
  }
}

TEST(PostgresWalSettings, MissingDataDirIsAnError) {
  try {
    (void)parse_settings(sdk::StoreConfig::from_json("pg", schema(), nlohmann::json::object()));
    FAIL() << "no error for a missing data_dir";
  } catch (const sdk::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("data_dir"), std::string::npos) << e.what();
  }
}

TEST(PostgresWalSettings, SchemaKeysAreUniqueAndDescribed) {
  std::set<std::string> names;
  for (const auto& k : schema()) {
    EXPECT_TRUE(names.insert(k.name).second) << "duplicate key " << k.name;
    EXPECT_FALSE(k.description.empty()) << k.name;
  }
  for (const char* required :
       {"data_dir", "bin_dir", "os_user", "port", "replication_user", "replication_password_file", "slot_name",
        "synchronous", "connect_timeout", "statement_timeout"})
    EXPECT_TRUE(names.count(required)) << required;
}

}  // namespace
}  // namespace tandem::pgwal
