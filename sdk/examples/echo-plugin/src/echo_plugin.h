// The echo plugin: the smallest useful example of a tandem store plugin. It
// keeps nothing in sync; each sync() "echoes" its message, counts the runs
// in the store's persistent state, and reports that as health. Failover
// steps record the role they leave the store in and say what they did.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "tandem/sdk/plugin.h"

namespace echo {

class EchoPlugin final : public tandem::sdk::Plugin {
 public:
  tandem::sdk::PluginInfo info() const override;
  tandem::sdk::ConfigSchema schema() const override;
  tandem::sdk::Status configure(const tandem::sdk::StoreConfig& config, tandem::sdk::HostContext& host) override;
  tandem::sdk::Result<tandem::sdk::SyncReport> sync() override;
  tandem::sdk::Health health() const override;

  tandem::sdk::Result<tandem::sdk::PrepareReport> prepare(const tandem::sdk::FailoverRequest& request) override;
  tandem::sdk::Result<tandem::sdk::StepReport> promote(const tandem::sdk::FailoverRequest& request) override;
  tandem::sdk::Result<tandem::sdk::StepReport> demote(const tandem::sdk::FailoverRequest& request) override;
  tandem::sdk::Result<tandem::sdk::StepReport> rejoin(const tandem::sdk::FailoverRequest& request) override;

  std::vector<tandem::sdk::Diagnostic> diagnostics() override;

 private:
  // Moves the store to `role`, persisting it; returns false if it was there already.
  bool become(tandem::sdk::Role role);

  tandem::sdk::HostContext* host_ = nullptr;
  std::string message_;
  std::uint64_t reported_lag_ = 0;

  mutable std::mutex mu_;  // guards what health() reads
  std::uint64_t runs_ = 0;
  std::string last_echo_;
};

}  // namespace echo
