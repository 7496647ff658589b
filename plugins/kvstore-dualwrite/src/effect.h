// Nondeterministic writes replicated by their effect: the command runs on
// one Redis (the secondary, or the local one on the journal route) and the
// other gets the deterministic command that Redis's reply determines.
//   SPOP key [count]          -> SREM key <popped members>
//   XADD key [opts] * f v ... -> XADD key [opts] <id it generated> f v ...
//   XADD key [opts] <ms>-* .. -> the same with the full id
// The same id on both servers also makes the trims of XADD's MAXLEN/MINID
// options identical: both streams hold the same entries in the same order.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::kv {

class RespParser;

struct Effect {
  enum Kind : unsigned char { none, srem_popped, xadd_id } kind = none;
  std::vector<std::string> argv;  // srem_popped: SREM key; xadd_id: the client's XADD
  std::size_t slot = 0;           // xadd_id: index of the id argument in argv
  void clear() {
    kind = none;
    argv.clear();
    slot = 0;
  }
};

// A nondeterministic command queued inside MULTI: its place in the block
// (request bytes [begin, end)) and in EXEC's reply (index).
struct QueuedEffect {
  std::size_t index = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
  Effect effect;
};

// The client's command an effect replays ("SPOP", "XADD"), for messages.
inline std::string_view effect_command(const Effect& e) { return e.kind == Effect::srem_popped ? "SPOP" : "XADD"; }

// The index of XADD's id argument in `argv` (after the key and options), or
// 0 if the options are malformed (Redis then refuses the command itself).
std::size_t xadd_id_index(const std::vector<std::string_view>& argv);

// Whether an XADD id asks Redis to generate (part of) it: "*" or "<ms>-*".
bool xadd_id_is_generated(std::string_view id);

// The deterministic command for the other Redis from the first one's reply
// `r` (a successful one). Empty: the command changed nothing (nothing popped,
// XADD NOMKSTREAM on a missing stream).
std::string effect_request(const Effect& e, const RespParser& r);

// The MULTI..EXEC `block` for the other Redis, from the first one's EXEC
// reply `exec` (an array): each queued effect that changed something is
// replaced by its deterministic command; one that changed nothing (nothing
// popped, an error such as WRONGTYPE) stays as it is, which changes nothing
// there either, and answers the same.
std::string block_with_effects(std::string_view block, const std::vector<QueuedEffect>& effects,
                               const RespParser& exec);

}  // namespace tandem::kv
