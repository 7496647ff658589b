// Test-only process hosting the elasticsearch-rebuild plugin with the SDK's
// test kit, so tests can measure a rebuilding process's memory or kill -9 it
// mid-rebuild, as a crash of tandemd would.
//
//   es_rebuild_runner CONFIG_JSON DATA_DIR EPOCH
// Runs the "rebuild" action, prints progress, exits 0 when it succeeded.
//   es_rebuild_runner CONFIG_JSON DATA_DIR EPOCH --warm SECONDS
// Runs as a secondary (the config sets warm_standby): the warm loop builds
// and refreshes the index; each finished round is printed as "ROUND <json>";
// exits after SECONDS (the benchmark times the rounds from these lines).
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "es_rebuild_plugin.h"
#include "tandem/sdk/testing/test_host.h"

int main(int argc, char** argv) {
  const bool warm = argc == 6 && std::string(argv[4]) == "--warm";
  if (argc != 4 && !warm) {
    std::cerr << "usage: es_rebuild_runner CONFIG_JSON DATA_DIR EPOCH [--warm SECONDS]\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  auto values = nlohmann::json::parse(in);
  tandem::sdk::testing::TestHostOptions options;
  options.store_name = "search";
  options.role = warm ? tandem::sdk::Role::secondary : tandem::sdk::Role::primary;
  options.epoch = std::stoull(argv[3]);
  options.data_dir = argv[2];
  tandem::sdk::testing::TestHost host(options);
  tandem::esrebuild::EsRebuildPlugin plugin;
  auto config = tandem::sdk::StoreConfig::from_json("search", tandem::sdk::store_schema(plugin), values);
  if (auto st = plugin.configure(config, host); !st) {
    std::cerr << "configure: " << st.message() << "\n";
    return 2;
  }
  if (auto st = plugin.start(); !st) {
    std::cerr << "start: " << st.message() << "\n";
    return 2;
  }
  if (warm) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(std::stoi(argv[5]));
    std::int64_t last_at = 0;
    while (std::chrono::steady_clock::now() < until) {
      auto w = plugin.health().details.value("warm", nlohmann::json::object());
      for (auto& index : w.value("indices", nlohmann::json::array())) {
        auto round = index.value("last_round", nlohmann::json());
        if (round.is_object() && round.value("at_ms", std::int64_t{0}) > last_at) {
          last_at = round.value("at_ms", std::int64_t{0});
          std::cout << "ROUND " << round.dump() << std::endl;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    plugin.stop();
    return 0;
  }
  auto started = plugin.run_action("rebuild", nlohmann::json::object());
  if (!started.ok()) {
    std::cerr << "rebuild: " << started.message() << "\n";
    return 1;
  }
  std::cout << "STARTED " << started->dump() << std::endl;
  for (unsigned polls = 0;;) {
    auto h = plugin.health();
    if (!h.details.value("rebuilding", false)) break;
    if (h.details.contains("progress") && ++polls % 10 == 0)
      std::cout << "PROGRESS " << h.details["progress"].dump() << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // exit promptly: the benchmark times this process
  }
  auto last = plugin.health().details.value("last_rebuild", nlohmann::json());
  std::cout << "RESULT " << last.dump() << std::endl;
  plugin.stop();
  return last.is_object() && last.value("result", "") == "success" ? 0 : 1;
}
