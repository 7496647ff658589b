#include "non_reader_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/redis_server.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::kv::testing {

using testsupport::RedisClient;

int raw_connect(int port, int rcvbuf) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::vector<Sample> get_samples(int port, int n) {
  RedisClient c("127.0.0.1", port);
  std::vector<Sample> out;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    auto r = c.command({"GET", "small"});
    if (r.str != "v") throw std::runtime_error("GET small: " + r.describe());
    out.push_back({t0, std::chrono::duration<double, std::milli>(Clock::now() - t0).count()});
  }
  return out;
}

std::vector<double> latencies(const std::vector<Sample>& samples, Clock::time_point from, Clock::time_point to) {
  std::vector<double> ms;
  for (auto& s : samples)
    if (s.at >= from && s.at < to) ms.push_back(s.ms);
  return ms;
}

std::vector<double> get_latencies(int port, int n) { return latencies(get_samples(port, n)); }

std::string against(const std::vector<double>& ms, const std::vector<double>& normal) {
  std::ostringstream os;
  os << "p50 " << percentile(ms, 0.5) << " ms (" << percentile(ms, 0.5) / percentile(normal, 0.5) << "x), p99 "
     << percentile(ms, 0.99) << " ms (" << percentile(ms, 0.99) / percentile(normal, 0.99) << "x) over " << ms.size()
     << " GETs";
  return os.str();
}

NonReaderRun run_non_reader(int port, const std::function<bool()>& cut_off, const std::function<bool()>& settled) {
  NonReaderRun run;
  run.normal = get_latencies(port, 2000);
  int fd = raw_connect(port, 4096);
  if (fd < 0) throw std::runtime_error("cannot connect the non-reading client");
  // Named first (and the answer read), so a server's client list shows it
  // from before the burst until the server drops it.
  const std::string setname = "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$" + std::to_string(kNonReaderName.size()) +
                              "\r\n" + std::string(kNonReaderName) + "\r\n";
  char ok[5];
  if (::send(fd, setname.data(), setname.size(), 0) != static_cast<ssize_t>(setname.size()) ||
      ::recv(fd, ok, sizeof ok, MSG_WAITALL) != 5 || std::string(ok, 5) != "+OK\r\n")
    throw std::runtime_error("the non-reading client could not be named");
  std::string burst;
  for (int i = 0; i < 3000; ++i) burst += "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
  if (::send(fd, burst.data(), burst.size(), 0) != static_cast<ssize_t>(burst.size()))
    throw std::runtime_error("cannot send the non-reading client's burst");
  const auto burst_at = run.burst_at = Clock::now();
  std::vector<Sample>& samples = run.samples;
  std::atomic<bool> stop{false};
  std::thread other([&] {
    while (!stop) {
      auto more = get_samples(port, 200);
      samples.insert(samples.end(), more.begin(), more.end());
    }
  });
  run.cut_off = sdk::testing::eventually(cut_off, std::chrono::seconds(30));
  const auto cut_seen_at = run.cut_seen_at = Clock::now();
  run.cut_off = run.cut_off && sdk::testing::eventually(settled, std::chrono::seconds(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // and a while after
  stop = true;
  other.join();
  run.connected = latencies(samples, burst_at, cut_seen_at);
  run.connected_ms = std::chrono::duration_cast<std::chrono::milliseconds>(cut_seen_at - burst_at).count();
  run.whole = latencies(samples);
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) run.received += n;  // what it got before the close
  ::close(fd);
  return run;
}

}  // namespace tandem::kv::testing
