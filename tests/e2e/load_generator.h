// The application side of the end-to-end tests: one thread inserts rows into
// PostgreSQL, one SETs keys through tandem's KV endpoint, both aimed at the
// node the test names as active, and every acknowledged write is recorded.
//
// A write counts only when the server acknowledged it (COMMIT returned, +OK
// read). A write that failed or whose answer was lost is not counted and not
// retried with the same id: whether it landed is unknown, which is allowed.
// So "nothing acknowledged is lost" is checked as: every recorded id is on
// the surviving node.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::e2e {

// A node as applications reach it: from the client namespace ("": the
// test's own), at the node's address.
struct LoadTarget {
  std::string netns;
  std::string host = "127.0.0.1";
  int pg_port = 0;
  int kv_port = 0;
};

// One acknowledged write: which id, which node (address) acknowledged it, when.
struct Ack {
  std::int64_t id = 0;
  std::string host;
  std::chrono::steady_clock::time_point at;
};

class LoadGenerator {
 public:
  explicit LoadGenerator(LoadTarget target);
  ~LoadGenerator();  // stop()
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Aim the writers at another node (after a failover). Takes effect at each
  // writer's next attempt.
  void retarget(LoadTarget target);
  // Stops both writers and waits for them; idempotent.
  void stop();

  // Ids acknowledged so far (a copy).
  std::vector<std::int64_t> pg_acked() const;
  std::vector<std::int64_t> kv_acked() const;
  // The same with who acknowledged each write and when (in ack order).
  std::vector<Ack> pg_history() const;
  std::vector<Ack> kv_history() const;
  // Attempts that failed (refused, connection lost, timed out).
  std::uint64_t pg_failures() const { return pg_.failures; }
  std::uint64_t kv_failures() const { return kv_.failures; }
  // The last error each writer saw (for failure messages).
  std::string last_errors() const;

 private:
  // One writer's record; acked and error under mu_.
  struct Writer {
    std::vector<Ack> acked;
    std::string error;
    std::atomic<std::uint64_t> failures{0};
  };
  // Ids 1, 2, ... through `attempt(id)` (returns the host that acknowledged;
  // throws unless acknowledged) until stopped.
  template <class Attempt>
  void run_writer(Attempt attempt, Writer& w);
  void run_pg();
  void run_kv();
  LoadTarget target() const;

  mutable std::mutex mu_;
  LoadTarget target_;
  Writer pg_, kv_;
  std::atomic<bool> stop_{false};
  std::thread pg_thread_, kv_thread_;
};

// Writes to BOTH nodes while a failover runs, each on its own connections,
// and records when each node acknowledged a write (PostgreSQL: an INSERT
// into probe_events; KV: a SET of probe:<n>). The pair's promise includes
// that no two nodes take writes at the same time: every acknowledgement of
// the old primary must come before the new primary's first. Each store of
// each node has a thread of its own: a write one store holds (a synchronous
// commit waiting for a standby that is gone) hides no acknowledgement of the
// other.
class WritableProbe {
 public:
  using Clock = std::chrono::steady_clock;
  WritableProbe(LoadTarget old_primary, LoadTarget new_primary);
  ~WritableProbe();  // stop()
  WritableProbe(const WritableProbe&) = delete;
  WritableProbe& operator=(const WritableProbe&) = delete;
  void stop();

  struct Overlap {
    bool new_took_writes = false;  // the new primary acknowledged at least one write
    double ms = 0;                 // how long the old one went on acknowledging after that (0: never)
  };
  Overlap pg_overlap() const;
  Overlap kv_overlap() const;
  // When node 0 (the first target) or 1 acknowledged probe writes so far.
  std::vector<Clock::time_point> pg_acks(int node) const;
  std::vector<Clock::time_point> kv_acks(int node) const;

 private:
  struct Acks {
    std::vector<Clock::time_point> pg, kv;
  };
  void run_pg(int node, LoadTarget target);
  void run_kv(int node, LoadTarget target);
  static Overlap overlap(const std::vector<Clock::time_point>& old_acks,
                         const std::vector<Clock::time_point>& new_acks);

  mutable std::mutex mu_;
  Acks acks_[2];  // 0: old primary, 1: new primary
  std::atomic<bool> stop_{false};
  std::thread threads_[4];  // PostgreSQL and KV, of each node
};

// Every id of the load table on the PostgreSQL at host:port (reached from
// inside `netns`), sorted.
std::vector<std::int64_t> pg_ids(const std::string& netns, const std::string& host, int port);
// The ids among `ids` whose key (load:<id>) is missing from the Redis at host:port.
std::vector<std::int64_t> missing_kv_keys(const std::string& netns, const std::string& host, int redis_port,
                                          const std::vector<std::int64_t>& ids);
// The ids of `want` not in `have` (both sorted or not; returns sorted).
std::vector<std::int64_t> missing_from(std::vector<std::int64_t> want, std::vector<std::int64_t> have);
// "3 missing: 17, 18, 19" (at most the first 20), for failure messages.
std::string describe_missing(const std::vector<std::int64_t>& missing);

}  // namespace tandem::e2e
