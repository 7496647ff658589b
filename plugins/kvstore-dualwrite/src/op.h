// One client request travelling through the endpoint.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "effect.h"
#include "intent_log.h"

namespace tandem::kv {

class Session;

// effect: a nondeterministic write (SPOP, XADD with an auto id) that runs on
// the secondary first; the primary (and the journal) get the deterministic
// command its reply determines (effect.h).
// script: EVAL/EVALSHA/FCALL, or a MULTI block holding one; runs on the
// secondary, the primary gets its effects from the secondary's replication
// stream (README "Scripts and functions", dispatcher.h).
enum class OpKind { local, read, write, effect, exec_read, exec_write, script };

// A blocking pop emulated by the endpoint (session.cpp): the non-blocking
// form is sent; when it pops nothing the op is parked until a write touches
// one of its keys or the timeout passes. How its reply maps back:
enum class BlockKind : std::uint8_t {
  none,
  list_pop,  // BLPOP/BRPOP sent as LMPOP: [key, [elem]] -> [key, elem]
  zset_pop,  // BZPOPMIN/BZPOPMAX sent as ZMPOP: [key, [[member, score]]] -> [key, member, score]
  mpop,      // BLMPOP/BZMPOP sent as LMPOP/ZMPOP: the same reply
  move,      // BLMOVE/BRPOPLPUSH sent as LMOVE/RPOPLPUSH: the same reply (a bulk string)
  xread,     // XREAD BLOCK sent without BLOCK (read-only on both): the same reply
};

// Which local Redis link a session's operations are outstanding on, and how
// many: one link at a time (dispatcher.h "Local links"). Kept by the session,
// used by the dispatcher.
struct LocalLane {
  int link = 0;                   // 0: the shared link; i > 0: bulk read link i
  std::uint32_t outstanding = 0;  // operations sent on `link`, not answered yet
  std::uint64_t last_write = 0;   // seq of the session's last routed write
};

struct Op {
  OpKind kind = OpKind::local;
  std::uint64_t seq = 0;                     // its position in its session's requests (1, 2, ...)
  int local_link = -1;                       // the local link it is outstanding on (LocalLane::link); -1: none
  std::shared_ptr<Session> session;          // keeps the session (and its ordering) alive while in flight
  std::string request;                       // RESP sent to the backends (a MULTI..EXEC block for exec_*)
  std::uint32_t replies = 1;                 // replies `request` produces
  std::string primary_request;               // effect: the deterministic command the primary gets
  Effect effect;                             // effect: how primary_request follows from the first reply
  std::vector<QueuedEffect> queued_effects;  // exec_write: SPOP/XADD '*' inside the block
  std::string reply;                         // to the client; valid when done
  bool ready = false;                        // may be sent to the primary
  bool done = false;                         // reply known
  bool journal_on_reply = false;             // journal the effect once the primary applied it
  bool filter_config = false;                // CONFIG GET: drop the backends' secrets from the reply
  bool info = false;                         // INFO: blocked_clients is the endpoint's
  bool barrier = false;                      // WATCH: a PING through both links (ordered like a write), replied +OK
  bool own_connection = false;               // answered on its session's own connection (pubsub_connection.h)
  bool silent = false;                       // CLIENT REPLY OFF / SKIP: its reply is not sent (keep_pushes)
  BlockKind block = BlockKind::none;
  bool block_expired = false;             // its timeout passed while a retry was in flight
  bool parked = false;                    // a blocking op waiting in the dispatcher's list
  bool block_retry = false;               // a blocking op re-sent after a write to its keys
  bool wake_pending = false;              // a write to its keys was routed while a try was in flight
  std::vector<std::string> xread_argv;    // XREAD BLOCK: its non-blocking form; '$' ids resolved by the first try
  std::vector<std::size_t> xread_dollar;  // indexes in xread_argv of '$' ids still to resolve
  std::uint8_t proto = 2;                 // RESP version of the client's replies (HELLO)
  // script: `request` holds the client's command(s) unframed until routed.
  bool fx_block = false;                // a client's MULTI block (request: the queued commands)
  bool fx_framed = false;               // request framed for its route (MULTI; PUBLISH marker; ...; EXEC)
  bool fx_dual = false;                 // sent framed to the secondary: the reply comes from its EXEC
  bool fx_have_block = false;           // the replication tap delivered its effects (primary_request)
  bool fx_local = false;                // journal route: framed on the local Redis, its effects journaled
  std::uint64_t fx_seq = 0;             // its marker's number
  std::vector<std::string> fx_scripts;  // EVAL bodies: loaded on the primary too (the same script cache)
  // XREADGROUP: Redis 7.0 propagates a delivery without the group's
  // entries-read (its lag); the secondary's, read in the same transaction
  // (XINFO GROUPS of each stream), is set on the primary too (fx_extra).
  std::string fx_group;
  std::vector<std::string> fx_group_keys;
  std::string fx_extra;
  std::uint32_t fx_extra_replies = 0;
  IntentKeys keys;               // writes: the keys it touches (for the intent log)
  std::uint64_t intent_seq = 0;  // its intent's sequence number once noted (0: none)
  // Back to a fresh state, keeping string capacity (ops are recycled per session).
  void reset() {
    kind = OpKind::local;
    seq = 0;
    local_link = -1;
    session.reset();
    request.clear();
    replies = 1;
    primary_request.clear();
    effect.clear();
    xread_argv.clear();
    xread_dollar.clear();
    queued_effects.clear();
    reply.clear();
    ready = done = journal_on_reply = filter_config = info = barrier = own_connection = silent = block_expired =
        parked = block_retry = wake_pending = false;
    block = BlockKind::none;
    fx_block = fx_framed = fx_dual = fx_have_block = fx_local = false;
    fx_seq = 0;
    fx_scripts.clear();
    fx_group.clear();
    fx_group_keys.clear();
    fx_extra.clear();
    fx_extra_replies = 0;
    proto = 2;
    keys.clear();
    intent_seq = 0;
  }
  bool is_write() const {
    return kind == OpKind::write || kind == OpKind::effect || kind == OpKind::exec_write || kind == OpKind::script;
  }
};

// What a blocking pop answers when its timeout passes (Redis's null).
inline std::string blocking_timeout_reply(const Op& op) {
  if (op.proto == 3) return "_\r\n";
  return op.block == BlockKind::move ? "$-1\r\n" : "*-1\r\n";
}

}  // namespace tandem::kv
