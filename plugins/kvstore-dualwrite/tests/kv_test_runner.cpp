// A minimal stand-in for tandemd, for tests and the benchmark: hosts the
// plugin as primary with sdk::testing::TestHost, runs sync() every
// sync_interval, and exits cleanly on SIGTERM/SIGINT. Tests kill -9 it to
// simulate a crash of the hosting daemon.
//
//   kv_test_runner CONFIG.json DATA_DIR
//
// CONFIG.json holds the store table as JSON (the same keys as TOML).
#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

#include "kv_plugin.h"
#include "tandem/sdk/testing/test_host.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " CONFIG.json DATA_DIR\n";
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  nlohmann::json config;
  try {
    std::ifstream in(argv[1]);
    config = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    std::cerr << argv[1] << ": not valid JSON: " << e.what() << "\n";
    return 2;
  }
  tandem::sdk::testing::TestHostOptions options;
  options.role = tandem::sdk::Role::primary;
  options.store_name = "kv";
  options.node_name = "runner";
  options.data_dir = argv[2];
  tandem::sdk::testing::TestHost host(options);
  tandem::kv::KvStorePlugin plugin;
  auto store_config = tandem::sdk::StoreConfig::from_json("kv", tandem::sdk::store_schema(plugin), config);
  auto st = plugin.configure(store_config, host);
  if (!st.ok()) {
    std::cerr << "configure: " << st.message() << "\n";
    return 1;
  }
  st = plugin.start();
  if (!st.ok()) {
    std::cerr << "start: " << st.message() << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;
  while (!g_stop) {
    std::this_thread::sleep_for(store_config.sync_interval());
    auto r = plugin.sync();
    if (!r.ok()) std::cerr << "sync: " << r.message() << "\n";
  }
  plugin.stop();
  return 0;
}
