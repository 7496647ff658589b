// Crash reconciliation: at the endpoint's start, before it takes a write, the
// keys of every write a previous run left in flight (intent_log.h) are made
// equal on the peer's Redis to the local (primary's) Redis.
//
// Why the local side wins: a dual write is applied by the secondary first,
// then the primary, and acknowledged only after both. So at a crash the
// secondary has applied a prefix S of the write order and the primary a
// shorter prefix P; every acknowledged write is in P. Copying the primary's
// value of each in-flight key to the secondary turns it into P's state for
// those keys (and it already equals P's state for every other key): both
// servers are then the same copy and no acknowledged write is undone. In the
// journal route the primary is ahead of the journal (a write is journaled when
// the primary applied it), so the same copy — recorded in the journal, which
// replays in order — repairs it too.
//
// The copy is DUMP + PEXPIRETIME on the local Redis and RESTORE ... REPLACE
// ABSTTL (or DEL when the key is gone) on the peer: sent directly when the
// peer is reachable and the journal is empty, else appended to the journal.
#pragma once

#include <cstdint>
#include <string>

#include "intent_log.h"
#include "journal.h"
#include "settings.h"
#include "tandem/sdk/host_context.h"

namespace tandem::kv {

struct ReconcileResult {
  std::uint64_t keys = 0;       // keys copied
  std::uint64_t journaled = 0;  // of which via the journal
  std::uint64_t errors = 0;     // copies the peer refused (logged)
};

// Kills the connections named `name` on `redis` (a crashed predecessor's
// writer links): nothing they buffered may run after the copy.
void kill_clients_named(class RedisSyncClient& redis, const std::string& name);

// Blocking. Throws std::runtime_error when the local Redis cannot be read
// (the endpoint must not start then; the next sync retries), and
// SupersededError (fence.h) when the peer's Redis carries an epoch marker
// above `epoch`: this node's in-flight writes must not be copied over the
// new primary's values.
ReconcileResult reconcile_intents(const Settings& settings, const PendingIntents& pending, Journal& journal,
                                  const std::string& writer_name, std::uint64_t epoch, sdk::HostContext& host);

}  // namespace tandem::kv
