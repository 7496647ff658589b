#include "bulk_loader.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace tandem::esrebuild {
namespace {

// Elasticsearch writes "errors" right after "took"; when it is false the
// items need not be parsed at all (the common case, and the costly part).
bool answer_says_no_errors(const std::string& body) {
  auto head = std::string_view(body).substr(0, 512);
  auto pos = head.find("\"errors\"");
  if (pos == std::string_view::npos) return false;
  pos += 8;
  while (pos < head.size() && (head[pos] == ' ' || head[pos] == ':')) ++pos;
  return head.substr(pos, 5) == "false";
}

}  // namespace

std::string json_quote(std::string_view s) {
  for (char c : s)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return nlohmann::json(std::string(s)).dump();
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

BulkLoader::BulkLoader(std::shared_ptr<const EsTarget> target, BulkSettings settings,
                       const std::atomic<bool>& cancelled, std::function<void(const std::string&)> on_retry)
    : target_(std::move(target)),
      settings_(std::move(settings)),
      cancelled_(cancelled),
      on_retry_(std::move(on_retry)) {
  path_ = "/" + settings_.index + "/_bulk";
  current_.body.reserve(settings_.batch_bytes + 1024);
  for (int i = 0; i < settings_.in_flight; ++i)
    workers_.emplace_back([this, i] { worker(static_cast<std::size_t>(i)); });
}

BulkLoader::~BulkLoader() {
  if (!workers_.empty()) {
    fail("aborted");
    stop_workers();
  }
}

void BulkLoader::stop_workers() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  queue_changed_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void BulkLoader::fail(const std::string& why) {
  std::lock_guard lock(mu_);
  if (!failed_.exchange(true)) error_ = why;
  queue_.clear();
  queue_changed_.notify_all();
}

bool BulkLoader::add(std::string_view id, std::string_view json) {
  if (failed_.load() || cancelled_.load()) return false;
  std::size_t need = id.size() + json.size() + 32;
  if (current_.docs > 0 && current_.body.size() + need > settings_.batch_bytes) flush();
  current_.body += "{\"index\":{\"_id\":";
  if (id.find_first_of("\"\\") == std::string_view::npos &&
      std::none_of(id.begin(), id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    current_.body += '"';  // the usual id needs no escaping: no temporary string
    current_.body += id;
    current_.body += '"';
  } else {
    current_.body += json_quote(id);
  }
  current_.body += "}}\n";
  current_.body += json;
  current_.body += '\n';
  if (++current_.docs >= settings_.batch_docs) flush();
  return !failed_.load();
}

void BulkLoader::flush() {
  if (current_.docs == 0) return;
  std::unique_lock lock(mu_);
  // Back-pressure: at most in_flight bodies wait while in_flight are sent.
  queue_changed_.wait(lock, [&] {
    return queue_.size() < static_cast<std::size_t>(settings_.in_flight) || failed_.load() || cancelled_.load();
  });
  if (!failed_.load() && !cancelled_.load()) queue_.push_back(std::move(current_));
  current_ = Batch{};
  if (!spare_bodies_.empty()) {
    current_.body = std::move(spare_bodies_.back());
    spare_bodies_.pop_back();
  }
  lock.unlock();
  queue_changed_.notify_all();
  current_.body.clear();
  current_.body.reserve(settings_.batch_bytes + 1024);
}

void BulkLoader::worker(std::size_t number) {
  EsConnection conn(target_, number);
  for (;;) {
    Batch batch;
    {
      std::unique_lock lock(mu_);
      queue_changed_.wait(lock, [&] { return !queue_.empty() || closing_ || failed_.load(); });
      if (queue_.empty() || failed_.load()) return;
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    queue_changed_.notify_all();
    // The body moves into the request (no copy of megabytes per batch) and
    // back to the spares once sent.
    auto req = conn.make_request(Verb::post, path_, std::move(batch.body), "application/x-ndjson");
    auto answer = with_retries(
        settings_.retry, cancelled_,
        [&] {
          requests_.fetch_add(1);
          return conn.send(req);
        },
        [&](const std::string& reason) {
          retries_.fetch_add(1);
          if (on_retry_) on_retry_(reason);
        });
    if (cancelled_.load()) {
      fail("cancelled");
      return;
    }
    if (!answer.ok()) {
      fail("a _bulk request failed: " + answer.message());
      return;
    }
    if (answer->status < 200 || answer->status > 299) {
      fail("a _bulk request was refused with HTTP " + std::to_string(answer->status) + " (" + es_error_reason(*answer) +
           ")" +
           (retryable_status(answer->status) ? " after " + std::to_string(settings_.retry.max_attempts) + " attempts"
                                             : ""));
      return;
    }
    handle_answer(*answer, batch.docs);
    std::lock_guard lock(mu_);
    spare_bodies_.push_back(std::move(req.body));
  }
}

void BulkLoader::handle_answer(const HttpResponse& response, std::size_t docs) {
  if (answer_says_no_errors(response.body)) {
    docs_ok_.fetch_add(docs);
    return;
  }
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_discarded() || !doc.contains("items") || !doc["items"].is_array()) {
    fail("a _bulk answer could not be read: " + response.body.substr(0, 200));
    return;
  }
  std::uint64_t ok = 0, bad = 0;
  std::vector<std::string> described;
  for (auto& item : doc["items"]) {
    if (!item.is_object() || item.empty()) continue;
    auto& result = item.begin().value();
    int status = result.value("status", 0);
    if (status >= 200 && status < 300) {
      ++ok;
      continue;
    }
    ++bad;
    if (described.size() < 5) {
      std::string id = result.contains("_id") && result["_id"].is_string() ? result["_id"].get<std::string>() : "?";
      std::string why;
      if (result.contains("error") && result["error"].is_object())
        why = result["error"].value("type", "") + ": " + result["error"].value("reason", "");
      described.push_back(id + " (" + why + ")");
    }
  }
  docs_ok_.fetch_add(ok);
  auto total_bad = item_errors_.fetch_add(bad) + bad;
  std::string first;
  {
    std::lock_guard lock(mu_);
    for (auto& d : described)
      if (first_errors_.size() < 5) first_errors_.push_back(d);
    for (std::size_t i = 0; i < first_errors_.size(); ++i) first += (i ? ", " : "") + first_errors_[i];
  }
  if (total_bad > settings_.error_threshold)
    fail(std::to_string(total_bad) + " documents failed to index, more than error_threshold = " +
         std::to_string(settings_.error_threshold) + "; first failing documents: " + first);
}

sdk::Status BulkLoader::finish() {
  if (!failed_.load() && !cancelled_.load()) flush();
  stop_workers();
  if (cancelled_.load() && !failed_.load()) return sdk::Status::failure("cancelled");
  std::lock_guard lock(mu_);
  if (failed_.load()) return sdk::Status::failure(error_);
  return {};
}

}  // namespace tandem::esrebuild
