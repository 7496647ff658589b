// systemd readiness (Type=notify) without libsystemd: one datagram to the
// unix socket named by $NOTIFY_SOCKET. A no-op when the variable is unset.
#pragma once

#include <string_view>

namespace tandem::core {

// Sends e.g. "READY=1" or "STOPPING=1". Returns false (never throws) when
// $NOTIFY_SOCKET is set but the message could not be sent.
bool sd_notify(std::string_view state);

}  // namespace tandem::core
