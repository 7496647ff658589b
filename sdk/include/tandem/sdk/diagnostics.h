// Named checks a plugin offers to `tandemctl diag STORE [CHECK]`.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::sdk {

struct DiagnosticInfo {
  std::string name;         // e.g. "connectivity", "dry-run"
  std::string description;  // one line
};

struct DiagnosticResult {
  bool passed = true;
  std::string output;  // human-readable, may be several lines
  nlohmann::json details = nlohmann::json::object();
};

}  // namespace tandem::sdk
