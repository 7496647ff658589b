// A schema exercising every ValueType, used by the config tests in place of a
// real plugin's.
#pragma once

#include "tandem/sdk/config.h"

namespace tandem::core::testing {

sdk::ConfigSchema example_schema();

}  // namespace tandem::core::testing
