// The `clone-test` action: how a store copies its data into a test instance.
//
// `tandemctl clone-test` makes a third node, independent of the pair, from
// the node it runs on (the secondary, so the primary carries no extra load).
// It calls the action named kCloneTestAction on every store that offers one,
// in failover order, and writes the test node's tandemd.toml from the store
// tables the actions return. A store without the action is left out of the
// clone (and said so); nothing else in the SDK changes, so a plugin that
// predates this contract still loads.
//
// Contract of the action, for a plugin that offers it:
//  - args (parse with CloneTestArgs::parse): `dir`, an absolute directory
//    the store owns for this clone (created if missing; the plugin writes
//    only below it); `port`, a free TCP port for the clone's server, if it
//    runs one; `refresh`, replace a clone made earlier in `dir` with a newer
//    copy (a `dir` that holds anything but an earlier clone is refused);
//    optional `mask_sql` / `mask_command`, run on the clone before it serves
//    anyone (a store that cannot run them refuses, so no unmasked copy is
//    ever served).
//  - It copies without writing to the pair (no slot, replica link or lock
//    left behind) and leaves the clone's server, if any, running and
//    reachable on `port`, never connected to the pair.
//  - It answers a JSON object: "summary" (one line for the operator),
//    "store" (the clone's store table: the keys tandemd.toml needs under
//    [stores.<name>] for the test node, scalars or arrays of strings;
//    tandemctl adds "plugin"; null when the test node runs no store for the
//    copy, e.g. a store whose work needs a peer), "stop" (the command that
//    stops the clone's server, "" if none) and "details".
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tandem/sdk/diagnostics.h"
#include "tandem/sdk/result.h"

namespace tandem::sdk {

inline constexpr const char* kCloneTestAction = "clone-test";

struct CloneTestArgs {
  std::filesystem::path dir;
  int port = 0;  // 0: the caller gave none (a store that runs a server refuses)
  bool refresh = false;
  std::optional<std::filesystem::path> mask_sql;
  std::optional<std::string> mask_command;

  // invalid_argument naming the argument when one is missing or mistyped.
  static Result<CloneTestArgs> parse(const nlohmann::json& args);
  nlohmann::json to_json() const;
  // True when `mask_sql` or `mask_command` is given.
  bool masks() const { return mask_sql.has_value() || mask_command.has_value(); }
};

// The row for a plugin's actions(): parses the arguments (an
// invalid_argument answer when they are wrong), then runs `clone`.
Action clone_test_action(std::string description, std::function<Result<nlohmann::json>(const CloneTestArgs&)> clone);

// The marker a clone's directory carries, so that `refresh` removes only
// what an earlier clone wrote: dir/kCloneMarkerFile.
inline constexpr const char* kCloneMarkerFile = "tandem-clone.json";

// Prepares `dir` for a clone: creates it, or, when refresh is set and it
// holds a marker, leaves it for the caller to empty; refuses a non-empty
// directory without a marker (never deletes what tandem did not write).
// Returns true when an earlier clone is there.
Result<bool> prepare_clone_dir(const CloneTestArgs& args);
// Writes the marker (what, when) into dir.
Status write_clone_marker(const std::filesystem::path& dir, const nlohmann::json& what);

}  // namespace tandem::sdk
