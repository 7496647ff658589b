// How the endpoint treats every Redis command it knows (README "Command
// support" lists the same table). Commands not in the table are refused.
#pragma once

#include <string_view>
#include <vector>

namespace tandem::kv {

enum class CommandClass {
  read,          // sent to the primary's Redis only
  write,         // deterministic: secondary's Redis first, then the primary's
  expiry,        // write with a relative time: rewritten to an absolute one, then as `write`
  effect,        // SPOP, XADD: run on the secondary, its effect (SREM of the popped members, the id) on the primary
  blocking,      // blocking pops: the non-blocking form as a write, retried by the endpoint until it pops
  local,         // answered by the endpoint itself (PING, ECHO, AUTH, SELECT, QUIT, HELLO, CLIENT ...)
  multi,         // MULTI / EXEC / DISCARD / WATCH / UNWATCH: queued and watched by the endpoint
  script,        // EVAL/EVALSHA/FCALL: run on the secondary, its effects (its replication stream) on the primary
  script_admin,  // SCRIPT, FUNCTION: by subcommand a write to both (LOAD, FLUSH, ...), a read, or refused (KILL)
  pubsub,        // (P|S)(UN)SUBSCRIBE: on the client's own connection to the primary's Redis (pubsub_connection.h)
  unsupported,   // refused with a RESP error naming the command and the reason
};

struct CommandInfo {
  std::string_view name;  // upper case
  CommandClass cls;
  std::string_view reason;  // for unsupported: why (shown to the client); else a note for the README
};

// Looks a command up by name (any case). nullptr: unknown (refused).
const CommandInfo* find_command(std::string_view name);

// The whole table, in README order.
const std::vector<CommandInfo>& command_table();

std::string_view to_string(CommandClass c);

}  // namespace tandem::kv
