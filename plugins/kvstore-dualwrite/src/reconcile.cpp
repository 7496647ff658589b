#include "reconcile.h"

#include <chrono>
#include <memory>
#include <set>
#include <vector>

#include "fence.h"
#include "plugin_util.h"
#include "redis_sync_client.h"
#include "resp.h"

namespace tandem::kv {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The commands that give the peer the local Redis's state of `keys`.
std::vector<std::vector<std::string>> copies_of(RedisSyncClient& local, const std::vector<std::string>& keys) {
  std::vector<std::vector<std::string>> reads;
  for (auto& k : keys) {
    reads.push_back({"DUMP", k});
    reads.push_back({"PEXPIRETIME", k});
  }
  auto replies = local.pipeline(reads);
  std::vector<std::vector<std::string>> out;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const Reply& dump = replies[2 * i];
    const Reply& at = replies[2 * i + 1];
    if (dump.is_error()) throw std::runtime_error("DUMP of a key on the local Redis failed: " + dump.str);
    if (dump.type == Reply::Type::nil) {
      out.push_back({"DEL", keys[i]});
    } else {
      long long abs = at.type == Reply::Type::integer && at.integer > 0 ? at.integer : 0;
      out.push_back({"RESTORE", keys[i], std::to_string(abs), dump.str, "REPLACE", "ABSTTL"});
    }
  }
  return out;
}

}  // namespace

void kill_clients_named(RedisSyncClient& redis, const std::string& name) {
  auto list = redis.command({"CLIENT", "LIST", "TYPE", "normal"});
  if (list.type != Reply::Type::string) return;
  std::vector<std::vector<std::string>> kills;
  for (auto& id : client_ids_named(list.str, name)) kills.push_back({"CLIENT", "KILL", "ID", id});
  if (!kills.empty()) redis.pipeline(kills);
}

ReconcileResult reconcile_intents(const Settings& settings, const PendingIntents& pending, Journal& journal,
                                  const std::string& writer_name, std::uint64_t epoch, sdk::HostContext& host) {
  ReconcileResult result;
  if (pending.empty()) return result;
  RedisSyncClient local(settings.local, settings.db, settings.command_timeout);
  kill_clients_named(local, writer_name);

  // Direct to the peer only when nothing journaled must reach it first.
  std::unique_ptr<RedisSyncClient> peer;
  if (journal.empty()) {
    try {
      peer = std::make_unique<RedisSyncClient>(settings.peer, settings.db, settings.connect_timeout);
      check_not_superseded(*peer, epoch, "peer Redis " + settings.peer.describe());
      kill_clients_named(*peer, writer_name);
    } catch (const SupersededError&) {
      throw;
    } catch (const std::exception& e) {
      host.log().warn(std::string("reconciling after a crash: peer Redis unreachable (") + e.what() +
                      "); the copies go to the journal");
      peer.reset();
    }
  }

  std::vector<std::string> keys(pending.keys.begin(), pending.keys.end());
  auto to_journal = [&](const std::vector<std::vector<std::string>>& cmds) {
    for (auto& c : cmds) {
      std::vector<std::string_view> argv(c.begin(), c.end());
      std::string resp;
      append_command(resp, argv);
      journal.append(resp, 1, now_ms());
      ++result.journaled;
    }
  };
  if (pending.all) {
    // A write that may have touched any key (FLUSHDB) was in flight: every key
    // on either side is copied; keys only the peer has are deleted there.
    std::set<std::string> all(keys.begin(), keys.end());
    all.merge(scan_all_keys(local));
    if (peer) {
      all.merge(scan_all_keys(*peer));
    } else {
      to_journal({{"FLUSHDB"}});  // the peer's keys are unknown: start it empty, then copy
    }
    keys.assign(all.begin(), all.end());
  }

  constexpr std::size_t kBatch = 256;
  for (std::size_t off = 0; off < keys.size(); off += kBatch) {
    std::vector<std::string> batch(keys.begin() + static_cast<long>(off),
                                   keys.begin() + static_cast<long>(std::min(keys.size(), off + kBatch)));
    auto cmds = copies_of(local, batch);
    result.keys += cmds.size();
    if (peer) {
      try {
        auto replies = peer->pipeline(cmds);
        for (std::size_t i = 0; i < replies.size(); ++i) {
          if (!replies[i].is_error()) continue;
          if (++result.errors <= 10)
            host.log().error("reconciling after a crash: the peer refused the copy of key '" + batch[i] +
                             "': " + replies[i].str + " (see diag compare)");
        }
        continue;
      } catch (const std::exception& e) {
        host.log().warn(std::string("reconciling after a crash: peer Redis lost (") + e.what() +
                        "); the remaining copies go to the journal");
        peer.reset();
      }
    }
    to_journal(cmds);  // RESTORE ... REPLACE is idempotent: a batch half-sent before the loss is safe to repeat
  }
  if (result.journaled) journal.sync_now();
  return result;
}

}  // namespace tandem::kv
