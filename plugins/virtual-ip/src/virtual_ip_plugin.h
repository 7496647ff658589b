// The virtual-ip store: a floating IPv4 address held only by the unfenced
// primary (DESIGN.md §1 "Clients find the primary"). Promote takes it last
// (failover_order 90: after every store is writable), demote and fencing drop
// it first (the reverse order), and no node takes it while another host still
// answers ARP for it. Health says who holds it and whether anyone else also
// answers (a conflict is `failed`).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "tandem/sdk/plugin.h"
#include "vip_commands.h"

namespace tandem::virtual_ip {

class VirtualIpPlugin final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override;
  sdk::ConfigSchema schema() const override;
  sdk::Status configure(const sdk::StoreConfig& config, sdk::HostContext& host) override;
  sdk::Status start() override;
  sdk::Result<sdk::SyncReport> sync() override;
  sdk::Health health() const override;

  sdk::Result<sdk::PrepareReport> prepare(const sdk::FailoverRequest& request) override;
  sdk::Result<sdk::StepReport> promote(const sdk::FailoverRequest& request) override;
  sdk::Result<sdk::StepReport> demote(const sdk::FailoverRequest& request) override;
  sdk::Result<sdk::StepReport> rejoin(const sdk::FailoverRequest& request) override;
  void on_role_change(sdk::Role role, std::uint64_t epoch) override;

 private:
  bool should_hold() const { return host_->role() == sdk::Role::primary && !host_->fenced(); }
  // Holds or drops the address as the node's role says, then measures.
  sdk::Result<std::string> converge();
  // Looks at the interface and the network; updates the health snapshot.
  void observe(const std::string& last_action);

  VipTarget target_;
  sdk::HostContext* host_ = nullptr;
  std::string mac_;

  mutable std::mutex mu_;
  sdk::Health health_ = sdk::Health::make(sdk::HealthStatus::unknown, "not measured yet");
};

}  // namespace tandem::virtual_ip
