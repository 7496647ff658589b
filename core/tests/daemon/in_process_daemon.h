// tandemd assembled in the test process from TestStorePlugins (no loader):
// the real runtime, scheduler and HTTP API on a free loopback port.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/tandem_daemon.h"
#include "tandem/sdk/testing/temp_dir.h"
#include "test_store_plugin.h"

namespace tandem::testplugins {

struct StoreSpec {
  std::string name;
  std::shared_ptr<TestStorePlugin> plugin;
};

struct InProcessOptions {
  sdk::Role role = sdk::Role::primary;
  std::optional<std::string> token = std::string("s3cret-token");
  std::string peer_api_url = "http://127.0.0.1:1";  // nobody listens: peer unreachable
  std::string node_address = "10.0.0.1";
  std::string peer_address = "10.0.0.2";  // connections from it are trusted by the API
  std::string peer_token;                 // sent to the peer's API (its status poll, events)
  core::DaemonTuning tuning;
};

class InProcessDaemon {
 public:
  explicit InProcessDaemon(std::vector<StoreSpec> stores, InProcessOptions options = {}) {
    options.tuning.api.bind_address = "127.0.0.1";
    options.tuning.api.port = 0;
    auto runtime =
        std::make_unique<core::NodeRuntime>(sdk::NodeIdentity{"alpha", options.node_address, dir.path() / "data"},
                                            sdk::PeerInfo{"beta", options.peer_address, options.peer_api_url},
                                            options.peer_token, options.role, options.tuning.runtime);
    for (auto& s : stores) {
      auto ctx = runtime->make_context(s.name);
      auto st = s.plugin->configure(sdk::StoreConfig(), *ctx);
      if (!st.ok()) throw std::runtime_error(st.message());
      runtime->add_store("test-store", "9.9.9", s.plugin, std::move(ctx), s.plugin->interval());
    }
    daemon = std::make_unique<core::TandemDaemon>(std::move(runtime), options.token, options.tuning.api);
    daemon->start();
    port = daemon->api_port();
  }
  ~InProcessDaemon() { daemon->stop(); }

  sdk::testing::TempDir dir{"tandem-daemon-test"};
  std::unique_ptr<core::TandemDaemon> daemon;
  int port = 0;
};

}  // namespace tandem::testplugins
