// What the endpoint removes from backend replies before a client sees them:
// the backends' secrets (their passwords, TLS keys, ACL file).
#pragma once

#include <string>
#include <string_view>

#include "resp.h"

namespace tandem::kv {

// True for a Redis configuration parameter whose value the endpoint never
// shows (requirepass, masterauth, masteruser, TLS key files and their
// passphrases, aclfile). Any case.
bool is_secret_config(std::string_view name);

// A CONFIG GET reply (a flat array of name, value pairs) without the secret
// parameters, re-encoded into `out`. Other replies are copied unchanged.
void filter_config_get_reply(const RespParser& reply, std::string& out);

}  // namespace tandem::kv
