#include "test_schema.h"

namespace tandem::core::testing {

sdk::ConfigSchema example_schema() {
  using sdk::ValueType;
  return {
      {"host", ValueType::string, "", true, "server host name", {}},
      {"port", ValueType::integer, "5432", false, "server port", {}},
      {"interval", ValueType::duration, "60s", false, "how often to sync", {}},
      {"max_size", ValueType::size, "64MiB", false, "largest transfer", {}},
      {"data_path", ValueType::path, "", false, "local directory", {}},
      {"tags", ValueType::string_array, "", false, "labels", {}},
      {"password_file", ValueType::path, "", false, "file holding the password", {}},
      {"ratio", ValueType::number, "0.5", false, "a fraction", {}},
      {"verbose", ValueType::boolean, "false", false, "log more", {}},
      {"indices",
       ValueType::table_array,
       "",
       false,
       "indices to build",
       {{"alias", ValueType::string, "", true, "alias name", {}},
        {"query", ValueType::string, "", false, "SQL query", {}}}},
  };
}

}  // namespace tandem::core::testing
