// Benchmark driver (tests/bench/config_sync_latency.sh): a primary and a
// secondary config-rsync plugin in one process, on loopback, each with the
// built-in rsync daemon, connected as tandemd would connect them. For each of
// N changes on the primary it measures the time until the secondary holds
// the same content; the periodic interval is 60 s, so only the inotify ->
// notify -> pull path can deliver within seconds. As the floor, it also times
// bare `rsync` pulls of the same tree (no change pending).
//
// Usage: config_rsync_latency_driver [--changes N] [--files N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "pair_harness.h"
#include "tandem/sdk/process.h"

using namespace tandem::config_rsync;
using namespace tandem::config_rsync::testing;
using Clock = std::chrono::steady_clock;

namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  double idx = p * (v.size() - 1);
  size_t lo = static_cast<size_t>(idx);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - lo);
}

}  // namespace

int main(int argc, char** argv) {
  int changes = 20, files = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--changes"))
      changes = std::max(1, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--files"))
      files = std::max(0, std::atoi(argv[i + 1]));
    else {
      std::cerr << "usage: " << argv[0] << " [--changes N] [--files N]\n";
      return 2;
    }
  }
  try {
    PluginPair pair;  // interval 60 s, as the seed's schedule
    // A realistic config tree: `files` small files in a few directories.
    for (int i = 0; i < files; ++i)
      write_file(pair.alpha_tree / ("d" + std::to_string(i % 10)) / ("f" + std::to_string(i) + ".conf"),
                 "setting_" + std::to_string(i) + " = " + std::string(200, 'x') + "\n");
    pair.start();
    if (!pair.wait_in_sync(std::chrono::seconds(60))) {
      std::cerr << "initial sync did not complete: " << pair.beta->health().summary << "\n";
      return 1;
    }
    std::vector<double> latencies;
    const auto target_rel = std::filesystem::path("d3") / "app.conf";
    for (int i = 0; i < changes; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the previous round settle
      std::string content = "revision = " + std::to_string(i) + "\n" + std::string(500, 'y') + "\n";
      auto t0 = Clock::now();
      write_file(pair.alpha_tree / target_rel, content);
      bool arrived = tandem::sdk::testing::eventually(
          [&] { return read_file_or(pair.beta_tree / target_rel) == content; }, std::chrono::seconds(90));
      double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (!arrived) {
        std::cerr << "change " << i << " did not arrive within 90 s: " << pair.beta->health().summary << "\n";
        return 1;
      }
      latencies.push_back(s);
      std::printf("change %2d: %.3f s\n", i + 1, s);
    }
    // The floor: one bare rsync pull of the same tree, nothing to transfer.
    std::vector<double> bare;
    for (int i = 0; i < 5; ++i) {
      tandem::sdk::ProcessSpec spec;
      spec.argv = {"rsync",
                   "-a",
                   "--delay-updates",
                   "--delete",
                   "rsync://127.0.0.1:" + std::to_string(pair.alpha_port) + "/app/",
                   pair.beta_tree.string() + "/"};
      auto t0 = Clock::now();
      auto r = tandem::sdk::run_process(spec);
      if (!r || !r->succeeded()) {
        std::cerr << "bare rsync failed: " << (r ? r->describe() : r.message()) << "\n";
        return 1;
      }
      bare.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    double median = percentile(latencies, 0.5);
    double p90 = percentile(latencies, 0.9);
    double worst = *std::max_element(latencies.begin(), latencies.end());
    double bare_median = percentile(bare, 0.5);
    std::printf("\nconfig_sync_latency: %d changes, tree of %d files, loopback rsync daemon\n", changes, files);
    std::printf("  tandem (inotify + notify + pull): median %.3f s   p90 %.3f s   max %.3f s   pulls %llu\n", median,
                p90, worst, static_cast<unsigned long long>(pulls_of(*pair.beta)));
    std::printf(
        "  seed schedule (pull every 60 s):  median 30.000 s   max 60.000 s (a change waits for the next run)\n");
    std::printf("  bare rsync pull, nothing to do:   median %.3f s (the floor)\n", bare_median);
    std::printf("  ratio seed/tandem: median %.0fx, worst case %.0fx; target median <= 2 s: %s\n", 30.0 / median,
                60.0 / worst, median <= 2.0 ? "MET" : "MISSED");
    std::printf("RESULT median_s=%.3f p90_s=%.3f max_s=%.3f bare_rsync_s=%.3f\n", median, p90, worst, bare_median);
    return median <= 2.0 ? 0 : 3;
  } catch (const std::exception& e) {
    std::cerr << "benchmark failed: " << e.what() << "\n";
    return 1;
  }
}
