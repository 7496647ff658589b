// The non-reading client of issue 12 and the well-behaved client measured
// beside it, shared by the hostile-client test and tests/bench/slow_reader
// (through its kv_slow_reader tool), so both measure the same thing the same way.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace tandem::kv::testing {

// A raw TCP connection to 127.0.0.1:port (optionally with a small receive
// buffer); -1 on failure.
int raw_connect(int port, int rcvbuf = 0);

double percentile(std::vector<double> v, double p);

using Clock = std::chrono::steady_clock;
struct Sample {
  Clock::time_point at;  // when the GET was sent
  double ms;
};

// GETs of "small" (which must hold "v") by one well-behaved client, `n`
// requests: when each was sent, and its latency.
std::vector<Sample> get_samples(int port, int n);
// The latencies (ms) of the samples sent in [from, to).
std::vector<double> latencies(const std::vector<Sample>& samples, Clock::time_point from = Clock::time_point::min(),
                              Clock::time_point to = Clock::time_point::max());
std::vector<double> get_latencies(int port, int n);
// "p50 A ms (Rx), p99 B ms (Rx)": percentiles of `ms` and their ratios to `normal`'s.
std::string against(const std::vector<double>& ms, const std::vector<double>& normal);

// The non-reading client names itself this (CLIENT SETNAME), so a server's
// client list shows it from before its burst until the server drops it.
constexpr std::string_view kNonReaderName = "tandem-test-nonreader";

// What another client's GETs of "small" saw while a client pipelined 3,000
// GETs of the 1 MiB "big" to `port` on a socket with a 4 KiB receive buffer
// and never read: `normal` before (that client alone), `connected` until
// `cut_off()` said the server dropped the non-reader, `whole` until
// `settled()` and 500 ms after.
struct NonReaderRun {
  std::vector<double> normal, connected, whole;
  std::vector<Sample> samples;  // the other client's GETs, from the burst on
  Clock::time_point burst_at, cut_seen_at;
  long long connected_ms = 0;
  bool cut_off = false;
  ssize_t received = 0;  // bytes the non-reader got before it was closed
};
NonReaderRun run_non_reader(int port, const std::function<bool()>& cut_off, const std::function<bool()>& settled);

}  // namespace tandem::kv::testing
