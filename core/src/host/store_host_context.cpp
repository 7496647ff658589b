#include "host/store_host_context.h"

#include <stdexcept>
#include <system_error>

namespace tandem::core {

StoreHostContext::StoreHostContext(const NodeServices& services, std::string store_name)
    : services_(services),
      store_(std::move(store_name)),
      dir_(services.node.data_dir / "stores" / store_),
      logger_(store_),
      metrics_(*services.metrics, store_) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("cannot create the store directory " + dir_.string() + ": " + ec.message());
  state_store_ = std::make_unique<sdk::FileStateStore>(dir_ / "state.json");
}

std::filesystem::path StoreHostContext::store_dir() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);  // recreated if an operator removed it
  if (ec) throw std::runtime_error("cannot create the store directory " + dir_.string() + ": " + ec.message());
  return dir_;
}

void StoreHostContext::post_blocking(std::function<void()> work) {
  if (!services_.workers->post(std::move(work))) logger_.warn("post_blocking after shutdown began: work dropped");
}

void StoreHostContext::request_sync() {
  std::function<void()> requester;
  {
    std::lock_guard l(mu_);
    if (!sync_requester_) {
      sync_requested_early_ = true;
      return;
    }
    requester = sync_requester_;
  }
  requester();
}

void StoreHostContext::set_sync_requester(std::function<void()> requester) {
  bool early;
  {
    std::lock_guard l(mu_);
    sync_requester_ = requester;
    early = sync_requested_early_;
    sync_requested_early_ = false;
  }
  if (early && requester) requester();
}

void StoreHostContext::notify_peer(const nlohmann::json& message) {
  if (services_.peer_monitor) services_.peer_monitor->notify(store_, message);
}

}  // namespace tandem::core
