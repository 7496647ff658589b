#include "test_schema.h"

namespace tandem::core::testing {

sdk::ConfigSchema example_schema() {
  using sdk::ValueType;
  return {
      {.name = "host", .type = ValueType::string, .required = true, .description = "server host name"},
      {.name = "port", .type = ValueType::integer, .default_value = "5432", .description = "server port"},
      {.name = "interval", .type = ValueType::duration, .default_value = "60s", .description = "how often to sync"},
      {.name = "max_size", .type = ValueType::size, .default_value = "64MiB", .description = "largest transfer"},
      {.name = "data_path", .type = ValueType::path, .description = "local directory"},
      {.name = "tags", .type = ValueType::string_array, .description = "labels"},
      {.name = "password_file", .type = ValueType::path, .description = "file holding the password"},
      {.name = "ratio", .type = ValueType::number, .default_value = "0.5", .description = "a fraction"},
      {.name = "verbose", .type = ValueType::boolean, .default_value = "false", .description = "log more"},
      {.name = "indices",
       .type = ValueType::table_array,
       .description = "indices to build",
       .children = {{.name = "alias", .type = ValueType::string, .required = true, .description = "alias name"},
                    {.name = "query", .type = ValueType::string, .description = "SQL query"}}},
  };
}

}  // namespace tandem::core::testing
