// A small driver for the benchmarks in tests/bench/pg_*.sh: loads the built
// tandem-postgres-wal.so with Boost.DLL into a TestHost (as tandemd would) and
//   monitor SECONDS  -- runs sync() every sync_interval for SECONDS, prints the count;
//   promote          -- calls promote() on a standby, then INSERTs until one
//                       succeeds; prints the milliseconds from promote to that INSERT.
// Usage: postgres_wal_bench_driver SO_PATH CONFIG_JSON_FILE ROLE MODE [SECONDS]
#include <libpq-fe.h>

#include <boost/dll/shared_library.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "tandem/sdk/abi.h"
#include "tandem/sdk/plugin.h"
#include "tandem/sdk/testing/test_host.h"

namespace {

using Clock = std::chrono::steady_clock;

bool insert_once(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  bool ok = false;
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* r = PQexec(conn, "INSERT INTO bench_promote(at) VALUES (now())");
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
  }
  PQfinish(conn);
  return ok;
}

int run(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: " << argv[0] << " SO_PATH CONFIG_JSON_FILE primary|secondary monitor|promote [SECONDS]\n";
    return 2;
  }
  boost::dll::shared_library lib(argv[1], boost::dll::load_mode::rtld_now);
  auto factory = lib.get_alias<tandem::sdk::FactoryFunction>(tandem::sdk::kFactorySymbol);
  std::string error;
  std::unique_ptr<tandem::sdk::Plugin> plugin(factory(&error));
  if (!plugin) throw std::runtime_error("factory failed: " + error);
  std::ifstream in(argv[2]);
  nlohmann::json values = nlohmann::json::parse(in);
  tandem::sdk::testing::TestHostOptions options;
  options.store_name = "bench";
  options.node_name = std::string(argv[3]) == "primary" ? "alpha" : "beta";
  options.role = std::string(argv[3]) == "primary" ? tandem::sdk::Role::primary : tandem::sdk::Role::secondary;
  options.peer = {options.node_name == "alpha" ? "beta" : "alpha", "127.0.0.1", "http://127.0.0.1:1"};
  {
    tandem::sdk::testing::TestHost host(options);
    auto config = tandem::sdk::StoreConfig::from_json("bench", tandem::sdk::store_schema(*plugin), values);
    auto st = plugin->configure(config, host);
    if (!st.ok()) throw std::runtime_error(st.message());
    if (auto s = plugin->start(); !s.ok()) throw std::runtime_error(s.message());
    const std::string mode = argv[4];
    if (mode == "monitor") {
      const auto seconds = std::chrono::seconds(argc > 5 ? std::stoi(argv[5]) : 10);
      const auto end = Clock::now() + seconds;
      int syncs = 0, failures = 0;
      while (Clock::now() < end) {
        const auto next = Clock::now() + config.sync_interval();
        if (!plugin->sync().ok()) ++failures;
        ++syncs;
        std::this_thread::sleep_until(next);
      }
      std::cout << "syncs=" << syncs << " failures=" << failures << " health=\"" << plugin->health().summary << "\"\n";
    } else if (mode == "promote") {
      const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(values.value("port", 5432)) +
                                   " user=postgres dbname=postgres connect_timeout=2";
      tandem::sdk::FailoverRequest request;
      request.kind = tandem::sdk::FailoverKind::failover;
      const auto t0 = Clock::now();
      auto step = plugin->promote(request);
      if (!step.ok()) throw std::runtime_error("promote failed: " + step.message());
      const auto promoted = Clock::now();
      while (!insert_once(conninfo)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      const auto written = Clock::now();
      auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
      std::cout << "promote_ms=" << ms(promoted - t0) << " first_insert_ms=" << ms(written - t0) << "\n";
    } else {
      throw std::runtime_error("unknown mode " + mode);
    }
    plugin->stop();
  }
  plugin.reset();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "postgres_wal_bench_driver: " << e.what() << "\n";
    return 1;
  }
}
