// What one client can do to the endpoint, tried as a hostile client would:
// read the backends' secrets, exhaust memory, stall other clients, hold
// connections, guess the password. Each limit is a test against real
// redis-servers.
#include <gtest/gtest.h>

#include <fstream>

#include "kv_pair_fixture.h"

namespace tandem::kv::testing {
namespace {

// CONFIG GET through the endpoint answers from the local Redis, minus its
// secrets: the backend passwords (requirepass, masterauth) and the TLS key
// files never reach a client, whatever the pattern.
TEST(KvHostileClient, ConfigGetNeverReturnsABackendSecret) {
  sdk::testing::TempDir dir;
  std::ofstream(dir.path() / "local.pw") << "local-secret-pw\n";
  std::ofstream(dir.path() / "peer.pw") << "peer-secret-pw\n";
  RedisServerOptions lo, po;
  lo.password = "local-secret-pw";
  lo.extra_args = {"--masterauth", "master-secret-pw", "--masteruser", "replicator"};
  po.password = "peer-secret-pw";
  RedisServer local(lo), peer(po);
  auto node = make_node(sdk::Role::primary, local.port(), peer.port(),
                        {{"local_password_file", (dir.path() / "local.pw").string()},
                         {"peer_password_file", (dir.path() / "peer.pw").string()}});
  node.configure_and_start();
  ASSERT_TRUE(endpoint_ready(node)) << node.plugin->health().summary;
  auto c = connect(node.endpoint_port);
  for (std::string pattern :
       {"requirepass", "masterauth", "masteruser", "REQUIREPASS", "*pass*", "master*", "tls-*", "aclfile", "*"}) {
    auto r = c->command({"CONFIG", "GET", pattern});
    ASSERT_EQ(r.type, RedisValue::Type::array) << pattern << ": " << r.describe();
    auto text = r.describe();
    for (std::string secret : {"local-secret-pw", "peer-secret-pw", "master-secret-pw", "replicator"})
      EXPECT_EQ(text.find(secret), std::string::npos) << "CONFIG GET " << pattern << " returned " << secret;
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
      for (std::string name : {"requirepass", "masterauth", "masteruser", "tls-key-file", "tls-key-file-pass",
                               "tls-client-key-file", "tls-client-key-file-pass", "aclfile"})
        EXPECT_NE(r.elements[i].str, name) << "CONFIG GET " << pattern;
  }
  // What is not secret still comes back (the filter drops names, not the reply).
  auto r = c->command({"CONFIG", "GET", "maxmemory-policy"});
  ASSERT_EQ(r.elements.size(), 2u) << r.describe();
  EXPECT_EQ(r.elements[0].str, "maxmemory-policy");
  EXPECT_GT(c->command({"CONFIG", "GET", "*"}).elements.size(), 100u);
  node.plugin->stop();
}

}  // namespace
}  // namespace tandem::kv::testing
