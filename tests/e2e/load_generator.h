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
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::e2e {

struct LoadTarget {
  int pg_port = 0;
  int kv_port = 0;
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
  // Attempts that failed (refused, connection lost, timed out).
  std::uint64_t pg_failures() const { return pg_failures_; }
  std::uint64_t kv_failures() const { return kv_failures_; }
  // The last error each writer saw (for failure messages).
  std::string last_errors() const;

 private:
  void run_pg();
  void run_kv();
  LoadTarget target() const;

  mutable std::mutex mu_;
  LoadTarget target_;
  std::vector<std::int64_t> pg_acked_;
  std::vector<std::int64_t> kv_acked_;
  std::string pg_error_, kv_error_;
  std::atomic<std::uint64_t> pg_failures_{0}, kv_failures_{0};
  std::atomic<bool> stop_{false};
  std::thread pg_thread_, kv_thread_;
};

// Every id of the load table on the PostgreSQL at 127.0.0.1:port, sorted.
std::vector<std::int64_t> pg_ids(int port);
// The ids among `ids` whose key (load:<id>) is missing from the Redis at port.
std::vector<std::int64_t> missing_kv_keys(int redis_port, const std::vector<std::int64_t>& ids);
// The ids of `want` not in `have` (both sorted or not; returns sorted).
std::vector<std::int64_t> missing_from(std::vector<std::int64_t> want, std::vector<std::int64_t> have);
// "3 missing: 17, 18, 19" (at most the first 20), for failure messages.
std::string describe_missing(const std::vector<std::int64_t>& missing);

}  // namespace tandem::e2e
