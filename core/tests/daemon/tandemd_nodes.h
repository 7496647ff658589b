// Real tandemd processes for binary-level tests: a node's config (with its
// token files) loading the daemon-test plugin, and starting the binary on it.
// Needs TANDEMD_BINARY and DAEMON_TEST_PLUGIN (CMakeLists.txt defines them).
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "support/background_process.h"
#include "tandem/sdk/process.h"

namespace tandem::testplugins {

struct NodeFiles {
  std::filesystem::path config;
  int port = 0;
};

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
}

// Writes a node's config (and its token files) under dir/<name>/: alpha's
// peer is beta and the other way round, both on 127.0.0.1, one store "app".
// extra_store_keys go into [stores.app], extra_api_keys into [api].
inline NodeFiles write_node(const std::filesystem::path& dir, const std::string& name, const std::string& role,
                            int port, int peer_port, const std::string& extra_store_keys = "",
                            const std::string& extra_api_keys = "") {
  auto home = dir / name;
  std::filesystem::create_directories(home);
  write_file(home / "api-token", "token-" + name + "\n");
  // The peer's token: what the peer's API expects.
  std::string peer = name == "alpha" ? "beta" : "alpha";
  write_file(home / "peer-token", "token-" + peer + "\n");
  // Secret files are owner-only, or the daemon refuses them.
  for (const char* token : {"api-token", "peer-token"})
    std::filesystem::permissions(home / token,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string config = "[node]\nname = \"" + name + "\"\naddress = \"127.0.0.1\"\nrole = \"" + role +
                       "\"\ndata_dir = \"" + (home / "data").string() + "\"\n\n[peer]\nname = \"" + peer +
                       "\"\naddress = \"127.0.0.1\"\napi_url = \"http://127.0.0.1:" + std::to_string(peer_port) +
                       "\"\ntoken_file = \"peer-token\"\n\n[api]\nlisten = \"127.0.0.1:" + std::to_string(port) +
                       "\"\ntoken_file = \"api-token\"\n" + extra_api_keys + "\n[stores.app]\nplugin = \"" +
                       DAEMON_TEST_PLUGIN + "\"\nsync_interval = \"100ms\"\n" + extra_store_keys;
  write_file(home / "tandem.toml", config);
  return {home / "tandem.toml", port};
}

inline sdk::ChildProcess start_tandemd(const NodeFiles& node, std::map<std::string, std::string> env = {}) {
  sdk::ChildSpec spec;
  spec.argv = {TANDEMD_BINARY, "--config", node.config.string()};
  spec.env = std::move(env);
  spec.log_file = node.config.parent_path() / "tandemd.log";
  return testsupport::start_background(spec);
}

}  // namespace tandem::testplugins
