// Streams documents into one index through the _bulk API: NDJSON bodies
// bounded in bytes and documents, `in_flight` requests at once on keep-alive
// connections (one worker thread each), 429/5xx retried with backoff, per-item
// errors counted against a threshold. Memory stays bounded: the producer
// blocks while `in_flight` bodies wait to be sent.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "es_http.h"

namespace tandem::esrebuild {

struct BulkSettings {
  std::string index;
  std::uint64_t batch_bytes = 5u << 20;
  std::size_t batch_docs = 5000;
  int in_flight = 4;
  RetryPolicy retry;
  std::uint64_t error_threshold = 0;
};

class BulkLoader {
 public:
  BulkLoader(std::shared_ptr<const EsTarget> target, BulkSettings settings, const std::atomic<bool>& cancelled,
             std::function<void(const std::string&)> on_retry = {});
  ~BulkLoader();  // aborts and joins the workers if finish() was not called
  BulkLoader(const BulkLoader&) = delete;
  BulkLoader& operator=(const BulkLoader&) = delete;

  // Adds one document; returns false once the load has failed (stop producing).
  bool add(std::string_view id, std::string_view json);
  // Sends what is left, waits for every request, joins the workers.
  // Fails on a rejected request, on item errors past the threshold, or when cancelled.
  sdk::Status finish();

  std::uint64_t documents_done() const { return docs_ok_.load() + item_errors_.load(); }
  std::uint64_t documents_ok() const { return docs_ok_.load(); }
  std::uint64_t item_errors() const { return item_errors_.load(); }
  std::uint64_t retries() const { return retries_.load(); }
  std::uint64_t requests() const { return requests_.load(); }

 private:
  struct Batch {
    std::string body;
    std::size_t docs = 0;
  };
  void flush();
  void worker(std::size_t number);
  void handle_answer(const HttpResponse& response, std::size_t docs);
  void fail(const std::string& why);
  void stop_workers();

  std::shared_ptr<const EsTarget> target_;
  BulkSettings settings_;
  const std::atomic<bool>& cancelled_;
  std::function<void(const std::string&)> on_retry_;
  std::string path_;

  Batch current_;
  std::mutex mu_;
  std::condition_variable queue_changed_;
  std::deque<Batch> queue_;
  // Sent bodies keep their capacity and are reused: no fresh multi-megabyte
  // allocation (and page faults) per request. At most in_flight * 2 + 1 exist.
  std::vector<std::string> spare_bodies_;
  bool closing_ = false;
  std::vector<std::thread> workers_;

  std::atomic<bool> failed_{false};
  std::string error_;                      // guarded by mu_
  std::vector<std::string> first_errors_;  // "id (type: reason)", guarded by mu_
  std::atomic<std::uint64_t> docs_ok_{0}, item_errors_{0}, retries_{0}, requests_{0};
};

// `"<id>"` as a JSON string.
std::string json_quote(std::string_view s);

}  // namespace tandem::esrebuild
