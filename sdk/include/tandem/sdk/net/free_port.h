// A TCP port on 127.0.0.1 that nothing listens on now: the kernel's choice
// for a bind to port 0, read back, socket closed. Another process may take
// it before the caller binds; callers that start a server on it must treat
// "address in use" as a reason to pick again.
#pragma once

namespace tandem::sdk::net {

// Throws std::runtime_error when no socket can be bound.
int free_loopback_port();

}  // namespace tandem::sdk::net
