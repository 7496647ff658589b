#include "tandem/sdk/testing/test_host.h"

#include <iostream>

namespace tandem::sdk::testing {
namespace {
const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "?";
}
}  // namespace

void RecordingLogger::log(LogLevel level, std::string_view message) {
  std::string line = std::string(level_name(level)) + " [" + prefix_ + "] " + std::string(message);
  std::cerr << line << "\n";
  std::lock_guard l(mu_);
  lines_.push_back(std::move(line));
}

std::vector<std::string> RecordingLogger::lines() const {
  std::lock_guard l(mu_);
  return lines_;
}

bool RecordingLogger::contains(std::string_view fragment) const {
  std::lock_guard l(mu_);
  for (auto& line : lines_)
    if (line.find(fragment) != std::string::npos) return true;
  return false;
}

void RecordingMetrics::set_gauge(std::string_view name, double value, const MetricLabels& labels) {
  std::lock_guard l(mu_);
  values_[{std::string(name), labels}] = value;
}

void RecordingMetrics::add_counter(std::string_view name, double delta, const MetricLabels& labels) {
  std::lock_guard l(mu_);
  values_[{std::string(name), labels}] += delta;
}

std::optional<double> RecordingMetrics::value(std::string_view name, const MetricLabels& labels) const {
  std::lock_guard l(mu_);
  auto it = values_.find({std::string(name), labels});
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

TestHost::TestHost(TestHostOptions options)
    : options_(std::move(options)),
      role_(options_.role),
      epoch_(options_.epoch),
      logger_(options_.store_name),
      work_(boost::asio::make_work_guard(io_)) {
  if (options_.data_dir.empty()) {
    owned_dir_ = std::make_unique<TempDir>("tandem-testhost");
    options_.data_dir = owned_dir_->path();
  }
  node_ = NodeIdentity{options_.node_name, options_.node_address, options_.data_dir};
  io_thread_ = std::thread([this] { io_.run(); });
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

TestHost::~TestHost() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  work_.reset();
  io_.stop();
  io_thread_.join();
}

StateStore& TestHost::state() {
  std::lock_guard l(mu_);
  if (!state_) state_ = std::make_unique<FileStateStore>(store_dir() / "state.json");
  return *state_;
}

std::filesystem::path TestHost::store_dir() {
  auto dir = options_.data_dir / "stores" / options_.store_name;
  std::filesystem::create_directories(dir);
  return dir;
}

void TestHost::post_blocking(std::function<void()> work) {
  {
    std::lock_guard l(mu_);
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
}

void TestHost::worker_loop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      logger_.error(std::string("blocking job threw: ") + e.what());
    }
  }
}

void TestHost::notify_peer(const nlohmann::json& message) {
  Plugin* peer = nullptr;
  {
    std::lock_guard l(mu_);
    peer_messages_.push_back(message);
    peer = peer_plugin_;
  }
  if (peer) peer->on_peer_event(message);
}

std::vector<nlohmann::json> TestHost::peer_messages() const {
  std::lock_guard l(mu_);
  return peer_messages_;
}

}  // namespace tandem::sdk::testing
