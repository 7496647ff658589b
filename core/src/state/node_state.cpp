#include "state/node_state.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "tandem/sdk/file_util.h"

namespace tandem::core {
namespace {

nlohmann::json to_json(const NodeStateValues& v) {
  return {{"role", std::string(sdk::to_string(v.role))},
          {"epoch", v.epoch},
          {"fenced", v.fenced},
          {"fenced_reason", v.fenced_reason}};
}

}  // namespace

NodeState::NodeState(std::filesystem::path data_dir, sdk::Role initial_role)
    : file_(std::move(data_dir) / "node-state.json") {
  if (!std::filesystem::exists(file_)) {
    values_.role = initial_role;
    values_.epoch = 1;
    sdk::atomic_write_file(file_, to_json(values_).dump(2) + "\n");
    return;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(sdk::read_file(file_));
    std::string role = j.at("role").get<std::string>();
    if (role != "primary" && role != "secondary") throw std::runtime_error("role must be primary or secondary");
    values_.role = role == "primary" ? sdk::Role::primary : sdk::Role::secondary;
    // get<uint64_t>() would silently wrap a negative number.
    if (!j.at("epoch").is_number_unsigned()) throw std::runtime_error("epoch must be a non-negative integer");
    values_.epoch = j.at("epoch").get<std::uint64_t>();
    values_.fenced = j.value("fenced", false);
    values_.fenced_reason = j.value("fenced_reason", std::string());
  } catch (const std::exception& e) {
    throw std::runtime_error("node state file " + file_.string() + " is unreadable: " + e.what() +
                             ". Refusing to guess this node's role and epoch; restore it or, if this node "
                             "is to start over as a secondary, remove it and run `tandemctl rejoin`.");
  }
}

NodeStateValues NodeState::get() const {
  std::lock_guard l(mu_);
  return values_;
}

void NodeState::set(const NodeStateValues& values) {
  std::lock_guard l(mu_);
  sdk::atomic_write_file(file_, to_json(values).dump(2) + "\n");
  values_ = values;
}

}  // namespace tandem::core
