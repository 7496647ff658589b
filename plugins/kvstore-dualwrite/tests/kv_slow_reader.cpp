// One round of tests/bench/slow_reader: the non-reading client of issue 12
// (non_reader_probe.h) against a RESP server, the endpoint or a Redis
// directly, and another client's GET latencies before (normal) and while it
// is connected. Prints one JSON object per run.
//
//   kv_slow_reader PORT [--setup]
//
// --setup first writes the keys the probe reads ("big", 1 MiB; "small") through PORT.
// The non-reader counts as cut off once PORT's CLIENT LIST no longer shows
// it, for the endpoint (which lists its own clients) as for Redis.
#include <algorithm>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "non_reader_probe.h"
#include "support/redis_server.h"

int main(int argc, char** argv) {
  using namespace tandem::kv::testing;
  using tandem::testsupport::RedisClient;
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " PORT [--setup]\n";
    return 2;
  }
  const int port = std::stoi(argv[1]);
  try {
    if (argc > 2 && std::string(argv[2]) == "--setup") {
      RedisClient c("127.0.0.1", port);
      if (c.command({"SET", "big", std::string(1 << 20, 'x')}).str != "OK" ||
          c.command({"SET", "small", "v"}).str != "OK")
        throw std::runtime_error("cannot write the probe's keys");
    }
    RedisClient admin("127.0.0.1", port);
    auto gone = [&] {
      return admin.command({"CLIENT", "LIST"}).str.find("name=" + std::string(kNonReaderName)) == std::string::npos;
    };
    const NonReaderRun run = run_non_reader(port, gone, gone);
    const auto burst_end = std::min(run.cut_seen_at, run.burst_at + std::chrono::milliseconds(50));
    const auto burst = latencies(run.samples, run.burst_at, burst_end);
    const auto after = latencies(run.samples, burst_end, run.cut_seen_at);
    nlohmann::json out = {{"normal_p50", percentile(run.normal, 0.5)},
                          {"normal_p99", percentile(run.normal, 0.99)},
                          {"connected_p50", percentile(run.connected, 0.5)},
                          {"connected_p99", percentile(run.connected, 0.99)},
                          {"connected_max", percentile(run.connected, 1.0)},
                          {"connected_gets", run.connected.size()},
                          {"connected_ms", run.connected_ms},
                          {"whole_p99", percentile(run.whole, 0.99)},
                          // The burst (its first 50 ms: the server filling its buffer, longer than the whole
                          // window of a non-reader cut off at a 32 MiB hard limit) apart from the rest of the
                          // window (a paced client costs nothing then), so a long window does not hide it.
                          {"burst_p99", percentile(burst, 0.99)},
                          {"burst_gets", burst.size()},
                          {"after_burst_p99", percentile(after, 0.99)},
                          {"cut_off", run.cut_off},
                          {"received", run.received},
                          // CLOCK_MONOTONIC, to match profiles (perf record -k CLOCK_MONOTONIC) to the window
                          {"burst_at_ns", run.burst_at.time_since_epoch().count()},
                          {"cut_seen_at_ns", run.cut_seen_at.time_since_epoch().count()}};
    // The slowest GETs while it was connected, and when (ms after its burst):
    // which part of its life costs the others.
    std::vector<Sample> slow;
    for (auto& s : run.samples)
      if (s.at >= run.burst_at && s.at < run.cut_seen_at) slow.push_back(s);
    std::sort(slow.begin(), slow.end(), [](const Sample& a, const Sample& b) { return a.ms > b.ms; });
    for (std::size_t i = 0; i < slow.size() && i < 5; ++i)
      out["slowest"].push_back(
          {std::chrono::duration<double, std::milli>(slow[i].at - run.burst_at).count(), slow[i].ms});
    std::cout << out.dump() << std::endl;
    return run.cut_off ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "kv_slow_reader: " << e.what() << "\n";
    return 1;
  }
}
