#include "pair_harness.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tandem::config_rsync::testing {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

SyncLoop::SyncLoop(sdk::Plugin& plugin, sdk::testing::TestHost& host, std::chrono::milliseconds interval)
    : plugin_(plugin), host_(host), interval_(interval), thread_([this] { run(); }) {}

SyncLoop::~SyncLoop() { stop(); }

void SyncLoop::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string SyncLoop::last_summary() const {
  std::lock_guard l(summary_mu_);
  return last_summary_;
}

void SyncLoop::run() {
  int seen = 0;  // requests made before the loop started (e.g. by start()) are pending
  auto next = std::chrono::steady_clock::now() + interval_;
  while (!stopping_) {
    std::this_thread::sleep_for(5ms);
    int requested = host_.sync_requests();
    if (requested == seen && std::chrono::steady_clock::now() < next) continue;
    seen = requested;  // requests arriving during the run cause one more run
    std::string summary;
    {
      std::lock_guard l(run_mu_);
      auto r = plugin_.sync();
      summary = r ? r->summary : "error: " + r.message();
    }
    ++runs_;
    next = std::chrono::steady_clock::now() + interval_;
    std::lock_guard l(summary_mu_);
    last_summary_ = summary;
  }
}

PluginPair::PluginPair(PairOptions opts) : options(std::move(opts)) {
  alpha_tree = root.path() / "alpha" / "app";
  beta_tree = root.path() / "beta" / "app";
  staging = root.path() / "staging";
  fs::create_directories(alpha_tree);
  fs::create_directories(staging);
  alpha_port = sdk::testing::free_port();
  do beta_port = sdk::testing::free_port();
  while (beta_port == alpha_port);

  sdk::testing::TestHostOptions a;
  a.store_name = "config";
  a.node_name = "alpha";
  a.role = sdk::Role::primary;
  a.peer = {"beta", "127.0.0.1", "http://127.0.0.1:1"};
  sdk::testing::TestHostOptions b = a;
  b.node_name = "beta";
  b.role = sdk::Role::secondary;
  b.peer = {"alpha", "127.0.0.1", "http://127.0.0.1:1"};
  alpha_host = std::make_unique<sdk::testing::TestHost>(a);
  beta_host = std::make_unique<sdk::testing::TestHost>(b);
  alpha = std::make_unique<ConfigRsyncPlugin>();
  beta = std::make_unique<ConfigRsyncPlugin>();
  auto st = alpha->configure(config_for(alpha_tree, alpha_port, beta_port), *alpha_host);
  if (!st) throw std::runtime_error("alpha configure: " + st.message());
  st = beta->configure(config_for(beta_tree, beta_port, alpha_port), *beta_host);
  if (!st) throw std::runtime_error("beta configure: " + st.message());
  alpha_host->connect_peer(beta.get());
  beta_host->connect_peer(alpha.get());
}

PluginPair::~PluginPair() {
  if (alpha_loop) alpha_loop->stop();
  if (beta_loop) beta_loop->stop();
  alpha_host->connect_peer(nullptr);
  beta_host->connect_peer(nullptr);
  alpha->stop();
  beta->stop();
}

sdk::StoreConfig PluginPair::config_for(const fs::path& tree, int serve_port, int peer_port) const {
  nlohmann::json v{{"remote", "rsync://{peer}:" + std::to_string(peer_port)},
                   {"allowed_root", root.path().string()},
                   {"paths", nlohmann::json::array({{{"name", "app"}, {"path", tree.string()}}})},
                   {"delete", options.mirror_deletes},
                   {"sync_interval", options.interval},
                   {"timeout", "5s"},
                   {"serve_port", serve_port},
                   {"serve_address", "127.0.0.1"}};
  for (auto& [k, val] : options.extra.items()) v[k] = val;
  return sdk::StoreConfig::from_json("config", full_schema(), v);
}

void PluginPair::start() {
  auto st = alpha->start();
  if (!st) throw std::runtime_error("alpha start: " + st.message());
  st = beta->start();
  if (!st) throw std::runtime_error("beta start: " + st.message());
  auto interval = config_for(fs::path("/"), 0, 0).sync_interval();
  alpha_loop = std::make_unique<SyncLoop>(*alpha, *alpha_host, interval);
  beta_loop = std::make_unique<SyncLoop>(*beta, *beta_host, interval);
}

bool PluginPair::wait_in_sync(std::chrono::milliseconds timeout) {
  return sdk::testing::eventually(
      [&] {
        auto a = alpha->health().details;
        auto b = beta->health();
        return b.status == sdk::HealthStatus::ok &&
               a.value("local_checksum", "x") == b.details.value("local_checksum", "y");
      },
      timeout);
}

void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::string read_file_or(const fs::path& p, const std::string& fallback) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return fallback;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void replace_file_atomically(const fs::path& staging_dir, const fs::path& target, const std::string& content) {
  fs::path tmp = staging_dir / (target.filename().string() + ".new");
  write_file(tmp, content);
  fs::rename(tmp, target);
}

std::uint64_t pulls_of(const ConfigRsyncPlugin& plugin) {
  return plugin.health().details.value("pulls", std::uint64_t{0});
}

}  // namespace tandem::config_rsync::testing
