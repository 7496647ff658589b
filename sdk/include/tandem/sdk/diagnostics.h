// Named checks a plugin offers to `tandemctl diag STORE [CHECK]`, and the
// operations it offers to `tandemctl action` (POST .../actions/<name>): each
// a {name, description, handler} row, so the list an operator sees and the
// code that runs are one table and cannot disagree.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/sdk/result.h"

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

// One diagnostic: what `tandemctl diag` lists, and what runs for it with the
// command line's extra arguments.
struct Diagnostic {
  std::string name;
  std::string description;
  std::function<Result<DiagnosticResult>(const std::vector<std::string>& args)> run;
};

// A named operation an operator can trigger by hand, e.g. "rebuild".
struct ActionInfo {
  std::string name;
  std::string description;
};

// One action: its listing and its handler, given the request's JSON body.
struct Action {
  std::string name;
  std::string description;
  std::function<Result<nlohmann::json>(const nlohmann::json& args)> run;
};

namespace detail {
// Runs the row called `name`, or answers not_found listing the rows there are.
template <class Row, class Args>
auto run_row(const std::vector<Row>& rows, std::string_view kind, const std::string& name, const Args& args)
    -> decltype(rows.front().run(args)) {
  using R = decltype(rows.front().run(args));
  std::string names;
  for (const auto& row : rows) {
    if (row.name == name) {
      if (!row.run) return R::error(ErrorCode::internal, std::string(kind) + " '" + name + "' has no handler (bug)");
      return row.run(args);
    }
    names += (names.empty() ? "" : ", ") + row.name;
  }
  return R::error(ErrorCode::not_found, "no " + std::string(kind) + " named '" + name + "' (" +
                                            (names.empty() ? "this plugin has none" : "available: " + names) + ")");
}
}  // namespace detail

}  // namespace tandem::sdk
