#include "tandem/sdk/file_state_store.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "tandem/sdk/file_util.h"

namespace tandem::sdk {

FileStateStore::FileStateStore(std::filesystem::path path) : path_(std::move(path)) {
  if (!std::filesystem::exists(path_)) return;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path_));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("state file " + path_.string() + " is corrupt: " + e.what() +
                             " (move it aside to start from empty state)");
  }
  if (!j.is_object()) throw std::runtime_error("state file " + path_.string() + " is not a JSON object");
  for (auto& [k, v] : j.items()) values_[k] = v.is_string() ? v.get<std::string>() : v.dump();
}

std::optional<std::string> FileStateStore::get(std::string_view key) const {
  std::lock_guard lock(mu_);
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

void FileStateStore::put(std::string_view key, std::string_view value) {
  std::lock_guard lock(mu_);
  values_[std::string(key)] = std::string(value);
  flush_locked();
}

void FileStateStore::erase(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = values_.find(key);
  if (it == values_.end()) return;
  values_.erase(it);
  flush_locked();
}

void FileStateStore::flush_locked() {
  nlohmann::json j = nlohmann::json::object();
  for (auto& [k, v] : values_) j[k] = v;
  atomic_write_file(path_, j.dump(2) + "\n", 0600);
}

}  // namespace tandem::sdk
