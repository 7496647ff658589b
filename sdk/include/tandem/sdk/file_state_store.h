// A StateStore kept as one JSON file, written atomically on every put.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "tandem/sdk/host_context.h"

namespace tandem::sdk {

class FileStateStore final : public StateStore {
 public:
  // Loads `path` if it exists; throws std::runtime_error if it is corrupt.
  explicit FileStateStore(std::filesystem::path path);

  std::optional<std::string> get(std::string_view key) const override;
  void put(std::string_view key, std::string_view value) override;
  void erase(std::string_view key) override;

 private:
  void flush_locked();

  std::filesystem::path path_;
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> values_;
};

}  // namespace tandem::sdk
