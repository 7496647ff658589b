// tandemctl check-config FILE: host/config_check.h (the check tandemd --check
// runs), all errors at once, as text or --json.
#include <ostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "host/config_check.h"

namespace tandem::cli {

int run_check_config(const GlobalOptions& global, const std::filesystem::path& file, std::ostream& out,
                     std::ostream& err) {
  // The same check as tandemd --check.
  auto check = core::check_config_file(file);
  const auto& errors = check.errors;
  const std::size_t store_count = check.stores;
  if (global.json) {
    out << nlohmann::json{{"file", file.string()}, {"ok", errors.empty()}, {"stores", store_count}, {"errors", errors}}
               .dump(2)
        << "\n";
  } else if (errors.empty()) {
    out << file.string() << ": OK, " << store_count << (store_count == 1 ? " store" : " stores") << "\n";
  } else {
    for (const auto& e : errors) err << e << "\n";
    err << file.string() << ": " << errors.size() << (errors.size() == 1 ? " problem" : " problems") << "\n";
  }
  return errors.empty() ? 0 : 1;
}

}  // namespace tandem::cli
