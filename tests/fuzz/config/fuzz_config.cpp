// Fuzz target: tandemd's TOML config (core/src/config): the host part
// ([node], [peer], [api], [plugins], each store table's host keys), then each
// [stores.NAME] table against a store schema that has a key of every value
// type (core/tests/config/test_schema.cpp), as `tandemd --check` does.
//
// Invariants: neither step throws or crashes on any text; a refusal has at
// least one message and every message is non-empty and names the file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "config/host_config.h"
#include "fuzz_check.h"
#include "test_schema.h"

namespace {

constexpr const char* kSource = "fuzz.toml";

void check_errors(const tandem::core::ConfigErrors& errors) {
  FUZZ_CHECK(!errors.messages.empty(), "a refusal says why");
  for (const std::string& m : errors.messages) {
    FUZZ_CHECK(!m.empty(), "no empty error message");
    FUZZ_CHECK(m.find(kSource) != std::string::npos, "every error names the file");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const tandem::sdk::ConfigSchema schema = tandem::core::testing::example_schema();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = tandem::core::parse_host_config(text, kSource);
  if (auto* errors = std::get_if<tandem::core::ConfigErrors>(&parsed)) {
    check_errors(*errors);
    return 0;
  }
  const auto& config = std::get<tandem::core::HostConfig>(parsed);
  for (const auto& store : config.stores) {
    auto validated = tandem::core::validate_store_table(store, schema);
    if (auto* errors = std::get_if<tandem::core::ConfigErrors>(&validated)) check_errors(*errors);
  }
  return 0;
}
