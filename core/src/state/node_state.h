// The node's persisted role and epoch (DESIGN.md §1): <data_dir>/node-state.json,
// written atomically (temp file, fsync, rename, fsync dir) on every change.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "tandem/sdk/host_context.h"
#include "tandem/sdk/result.h"

namespace tandem::core {

struct NodeStateValues {
  sdk::Role role = sdk::Role::secondary;
  std::uint64_t epoch = 0;
  bool fenced = false;  // saw the peer at a higher epoch; needs rejoin
  std::string fenced_reason;
};

class NodeState {
 public:
  // Loads the file if present; otherwise starts from initial_role, epoch 1,
  // and writes it. Throws std::runtime_error on a corrupt file (never guesses).
  NodeState(std::filesystem::path data_dir, sdk::Role initial_role);

  NodeStateValues get() const;
  // Each setter persists before returning; throws std::runtime_error on I/O failure.
  void set(const NodeStateValues& values);

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  mutable std::mutex mu_;
  NodeStateValues values_;
};

}  // namespace tandem::core
