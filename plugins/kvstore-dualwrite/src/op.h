// One client request travelling through the endpoint.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "intent_log.h"

namespace tandem::kv {

class Session;

enum class OpKind { local, read, write, spop, exec_read, exec_write };

struct Op {
  OpKind kind = OpKind::local;
  std::shared_ptr<Session> session;  // keeps the session (and its ordering) alive while in flight
  std::string request;               // RESP sent to the backends (a MULTI..EXEC block for exec_*)
  std::uint32_t replies = 1;         // replies `request` produces
  std::string primary_request;       // SPOP: the SREM of the popped members the primary gets
  std::string spop_key;
  std::string reply;              // to the client; valid when done
  bool ready = false;             // may be sent to the primary
  bool done = false;              // reply known
  bool journal_on_reply = false;  // journal the effect once the primary applied it
  bool filter_config = false;     // CONFIG GET: drop the backends' secrets from the reply
  IntentKeys keys;                // writes: the keys it touches (for the intent log)
  std::uint64_t intent_seq = 0;   // its intent's sequence number once noted (0: none)
  // Back to a fresh state, keeping string capacity (ops are recycled per session).
  void reset() {
    kind = OpKind::local;
    session.reset();
    request.clear();
    replies = 1;
    primary_request.clear();
    spop_key.clear();
    reply.clear();
    ready = done = journal_on_reply = filter_config = false;
    keys.clear();
    intent_seq = 0;
  }
  bool is_write() const { return kind == OpKind::write || kind == OpKind::spop || kind == OpKind::exec_write; }
};

}  // namespace tandem::kv
