// The API's connection limits and request deadlines: [api] keys in the
// config (docs/configuration.md), defaults here and nowhere else.
#pragma once

#include <chrono>

namespace tandem::core {

struct AdmissionLimits {
  int max_connections = 256;  // all connections
  int per_address = 32;       // from one remote address
  int reserved = 32;          // of max_connections, only trusted connections may use these
};

struct ApiLimits {
  AdmissionLimits connections;
  // From waiting for a request (keep-alive idle included) to its last header line.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(5)};
  // From the headers to the end of the body.
  std::chrono::milliseconds body_timeout{std::chrono::seconds(10)};
};

}  // namespace tandem::core
