// What the endpoint changes in backend replies before a client sees them:
// the backends' secrets (their passwords, TLS keys, ACL file) are removed,
// INFO's blocked_clients is the endpoint's.
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

// An INFO reply whose "blocked_clients" field counts the clients blocked in
// the endpoint (its blocking pops wait there, never in Redis). Other replies
// are copied unchanged.
void info_with_blocked_clients(const RespParser& reply, std::size_t blocked, std::string& out);

}  // namespace tandem::kv
