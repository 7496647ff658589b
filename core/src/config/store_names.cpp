#include "config/store_names.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace tandem::core {
namespace {

// "pg-Main" and "pg_main" are the same store to a person reading the status.
std::string normalized(const std::string& name) {
  std::string out;
  for (char c : name)
    if (c != '-' && c != '_') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool valid_store_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

}  // namespace

std::vector<std::string> check_store_set(const HostConfig& config) {
  std::vector<std::string> errors;
  std::map<std::string, const StoreEntry*> by_normalized_name;
  for (const auto& store : config.stores) {
    if (!valid_store_name(store.name)) {
      errors.push_back(
          store.location + ": store name '" + store.name +
          "' may only hold letters, digits, '-' and '_' (it appears in URLs and metrics); rename the table");
      continue;
    }
    auto [it, inserted] = by_normalized_name.emplace(normalized(store.name), &store);
    if (!inserted)
      errors.push_back(store.location + ": store '" + store.name + "' has the same name as store '" + it->second->name +
                       "' at " + it->second->location +
                       " (names are compared ignoring case, '-' and '_'); give each store a distinct name");
  }
  return errors;
}

}  // namespace tandem::core
