// KvStorePlugin's failover steps (prepare, promote, demote, rejoin) and the
// rejoin cut-over the new primary runs from sync(). README "Failover" states
// what each guarantees.
#include <optional>
#include <thread>

#include "fence.h"
#include "kv_plugin.h"
#include "plugin_util.h"
#include "redis_sync_client.h"

namespace tandem::kv {

void KvStorePlugin::try_rejoin_cutover(Endpoint& ep, PeerProbe& probe) {
  // The former primary's Redis replicates from ours (rejoin). Once it has
  // everything, detach it and resume dual writes: hold new writes, wait until
  // every write we sent is applied here, wait until the replica's offset
  // reaches ours, REPLICAOF NO ONE there, switch to dual, release the writes.
  auto set_error = [this](std::string e) {
    std::lock_guard l(observed_mu_);
    observed_.cutover_error = std::move(e);
  };
  if (!probe.client) return set_error("cut-over: " + probe.error);
  try {
    RedisSyncClient& peer = *probe.client;
    const auto& pinfo = probe.replication;
    if (field(pinfo, "role") == "master") {
      // The former primary's Redis, once reachable: the marker there fences a
      // former primary that has not learnt of our promotion yet (fence.h).
      try {
        raise_fence(peer, "peer Redis");
      } catch (const std::exception& e) {
        host_->log().warn(std::string("cannot raise the epoch marker on the peer Redis: ") + e.what());
      }
    }
    if (field(pinfo, "role") != "slave" || field(pinfo, "master_link_status") != "up" ||
        field(pinfo, "master_sync_in_progress") != "0" ||
        field(pinfo, "master_port") != std::to_string(settings_.local.port)) {
      set_error("");
      return;  // not (yet) rejoined: nothing to do
    }
    RedisSyncClient local(settings_.local, settings_.db, settings_.connect_timeout);
    if (!ep.pause_writes(settings_.command_timeout)) {
      ep.resume_writes();
      return set_error("cut-over: in-flight writes did not complete in time; will retry");
    }
    bool caught_up = false;
    std::uint64_t target = 0;
    auto deadline = std::chrono::steady_clock::now() + settings_.command_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      target = to_u64(local.info("replication"), "master_repl_offset");
      if (to_u64(peer.info("replication"), "slave_repl_offset") >= target) {
        caught_up = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!caught_up) {
      ep.resume_writes();
      return set_error("cut-over: the peer's Redis did not reach replication offset " + std::to_string(target) +
                       " in time; will retry");
    }
    peer.checked({"REPLICAOF", "NO", "ONE"});
    store_mode(PeerMode::dual);
    ep.set_mode(PeerMode::dual);
    ep.resume_writes();
    set_error("");
    host_->log().info("rejoin cut-over done: the peer's Redis caught up at offset " + std::to_string(target) +
                      " and was detached; dual writes resumed");
  } catch (const std::exception& e) {
    ep.resume_writes();
    set_error(std::string("cut-over: ") + e.what());
    // The peer, or this Redis, stopped answering: the round's later checks
    // must not wait for the peer again.
    probe.client.reset();
    probe.error = e.what();
  }
}

sdk::Result<sdk::PrepareReport> KvStorePlugin::prepare(const sdk::FailoverRequest& request) {
  sdk::PrepareReport r;
  try {
    RedisSyncClient local(settings_.local, settings_.db, settings_.connect_timeout);
    local.checked({"PING"});
  } catch (const std::exception& e) {
    r.ready = false;
    r.refusal = std::string("this node's Redis is unreachable (") + e.what() + "); start it before promoting";
    return r;
  }
  Observed o;
  {
    std::lock_guard l(observed_mu_);
    o = observed_;
  }
  std::uint64_t lost = request.kind == sdk::FailoverKind::switchover ? 0 : o.peer_journal_depth.value_or(0);
  r.loss["journaled_writes_not_here"] = lost;
  const std::int64_t report_age_ms = o.peer_report_ms ? unix_ms() - o.peer_report_ms : -1;
  r.loss["peer_report_age_seconds"] = o.peer_report_ms ? report_age_ms / 1000.0 : -1.0;
  // The peer reports every sync; a report several syncs old means the peer
  // has not been heard from since (dead, or cut off by a partition while its
  // clients may still reach it): what it journaled after that is unknown.
  const std::int64_t stale_after_ms = std::max<std::int64_t>(5000, 3 * settings_.sync_interval.count());
  const bool report_stale = o.peer_report_ms && report_age_ms > stale_after_ms;
  r.loss["peer_report_stale"] = report_stale;
  if (request.kind == sdk::FailoverKind::switchover) {
    r.loss_summary = "nothing (the old primary drains its journal before it demotes)";
  } else if (report_stale) {
    // Not a lower bound: after its last report the old primary may have
    // replayed part of that journal here (a partition that cut only the peer
    // channel, not this Redis), and some journaled writes may never have been
    // acknowledged to their clients. Nor an upper bound: it may have
    // journaled more since. So the count is given as what it is.
    r.loss_summary = "unknown: the old primary last reported " + std::to_string(lost) +
                     " journaled writes not on this node's Redis, " + std::to_string(report_age_ms / 1000) +
                     " s ago, and has not been heard from since; it may have journaled more after that (e.g. while "
                     "cut off from this node but not from its clients), which would be lost, or replayed some of "
                     "them here";
  } else if (lost > 0) {
    r.loss_summary = std::to_string(lost) +
                     " writes the old primary had journaled (peer unreachable then) are not on this node's Redis (as "
                     "last reported by the peer)";
  } else if (!o.peer_report_ms) {
    r.loss_summary = "unknown: the old primary never reported its journal; writes it journaled, if any, would be lost";
  } else {
    r.loss_summary = "nothing (the old primary reported an empty journal " +
                     std::to_string((unix_ms() - o.peer_report_ms) / 1000) + " s ago)";
  }
  r.plan =
      "make this node's Redis (" + settings_.local.describe() +
      ") the write target: stop any replication on it\n"
      "start the RESP endpoint on " +
      settings_.listen_address + ":" + std::to_string(settings_.listen_port) + "\n" +
      (request.kind == sdk::FailoverKind::switchover
           ? "keep dual writes: the former primary's Redis becomes the secondary at once"
           : "write to this node only until the former primary rejoins (full resync of its Redis, then dual writes)");
  return r;
}

sdk::Result<sdk::StepReport> KvStorePlugin::promote(const sdk::FailoverRequest& request) {
  if (endpoint()) return sdk::StepReport{false, "already the write target: the RESP endpoint is serving here", {}};
  nlohmann::json details = nlohmann::json::object();
  RedisSyncClient local(settings_.local, settings_.db, settings_.connect_timeout);
  if (field(local.info("replication"), "role") == "slave") {
    local.checked({"REPLICAOF", "NO", "ONE"});
    details["stopped_replication"] = true;
  }
  bool zero_loss = request.kind == sdk::FailoverKind::switchover && request.handoff.value("journal_drained", false);
  PeerMode mode = zero_loss ? PeerMode::dual : PeerMode::detached;
  // The epoch fence (fence.h), before the endpoint takes a write: a former
  // primary still cut off finds this marker when it reaches this Redis again,
  // and replays nothing into it.
  host_->state().put("fence_epoch", std::to_string(std::max(host_->epoch(), request.new_epoch)));
  raise_fence(local, "local Redis");
  details["epoch_marker"] = serving_epoch();
  if (zero_loss) {
    // Both servers stay one copy, marker included; the old primary's endpoint
    // has stopped (demote).
    try {
      RedisSyncClient peer(settings_.peer, settings_.db, settings_.connect_timeout);
      raise_fence(peer, "peer Redis");
    } catch (const std::exception& e) {
      host_->log().warn(std::string("switchover: cannot raise the epoch marker on the peer Redis (") + e.what() +
                        "); the next sync retries");
    }
  }
  // A journal left here from an earlier term as primary is superseded: in
  // detached mode the peer gets a full copy at rejoin; in a switchover both
  // servers were just verified equal.
  {
    Journal old(journal_dir(), settings_.journal_fsync, settings_.journal_max_size);
    old.open();
    details["discarded_journal_records"] = old.discard(unix_ms());
  }
  store_mode(mode);
  host_->state().erase("rejoined");
  host_->state().erase("demoted_drained");
  start_endpoint();
  details["peer_mode"] = std::string(to_string(mode));
  std::string summary = "this node's Redis " + settings_.local.describe() + " is the write target; endpoint on " +
                        settings_.listen_address + ":" + std::to_string(settings_.listen_port) +
                        (zero_loss ? "; dual writes to the former primary's Redis continue"
                                   : "; the former primary's Redis is resynchronised when it rejoins");
  return sdk::StepReport{true, summary, details};
}

sdk::Result<sdk::StepReport> KvStorePlugin::demote(const sdk::FailoverRequest&) {
  auto ep = endpoint();
  if (!ep) {
    bool drained = host_->state().get("demoted_drained").value_or("") == "1";
    return sdk::StepReport{false, "not serving writes here", {{"journal_drained", drained}}};
  }
  ep->set_demoting(true);
  auto timeout = std::max(settings_.command_timeout * 6, std::chrono::milliseconds(30000));
  if (!ep->wait_drained(timeout)) {
    auto s = ep->stats();
    ep->set_demoting(false);
    return sdk::Result<sdk::StepReport>::failure("cannot switch over without loss: " + std::to_string(s.journal_depth) +
                                                 " journaled writes are not on the peer's Redis " +
                                                 settings_.peer.describe() + (s.peer_up ? " yet" : " (unreachable)") +
                                                 "; bring it back or use a failover (--force)");
  }
  stop_endpoint();
  host_->state().put("demoted_drained", "1");
  return sdk::StepReport{
      true, "writes stopped here; every acknowledged write is on both Redis servers", {{"journal_drained", true}}};
}

sdk::Result<sdk::StepReport> KvStorePlugin::rejoin(const sdk::FailoverRequest&) {
  stop_endpoint();
  nlohmann::json details = nlohmann::json::object();
  RedisSyncClient local(settings_.local, settings_.db, settings_.connect_timeout);
  auto info = local.info("replication");
  if (field(info, "role") == "master" && host_->state().get("rejoined").value_or("") == "1")
    return sdk::StepReport{false, "already rejoined: the primary dual-writes to this node's Redis", details};
  if (host_->state().get("demoted_drained").value_or("") == "1" && field(info, "role") == "master") {
    // A switchover: this Redis already has every write and the new primary
    // dual-writes to it; no copy needed.
    host_->state().put("rejoined", "1");
    host_->state().erase("demoted_drained");
    return sdk::StepReport{true, "switchover rejoin: this node's Redis is already the new primary's secondary",
                           details};
  }
  {
    Journal old(journal_dir(), settings_.journal_fsync, settings_.journal_max_size);
    old.open();
    auto dropped = old.discard(unix_ms());
    details["discarded_journal_records"] = dropped;
    if (dropped > 0)
      host_->log().warn(
          std::to_string(dropped) +
          " journaled writes never reached the peer and are superseded by the resync (file kept beside the journal)");
    // Likewise the intents of writes in flight when this node stopped serving:
    // the resync makes this Redis a copy of the new primary's, key by key.
    IntentLog intents(journal_dir(), settings_.intent_fsync);
    intents.start_fresh();
  }
  if (!secrets_.peer_password.empty()) local.checked({"CONFIG", "SET", "masterauth", secrets_.peer_password});
  bool already = field(info, "role") == "slave" && field(info, "master_port") == std::to_string(settings_.peer.port);
  // The new primary's Redis waits repl-diskless-sync-delay (5 s by default)
  // before it starts a diskless copy, in case more replicas come: for this one
  // copy there is no one else to wait for. Shortened for the copy, restored
  // afterwards (also when the wait fails).
  std::optional<std::string> saved_delay;
  try {
    RedisSyncClient primary(settings_.peer, settings_.db, settings_.connect_timeout);
    auto r = primary.checked({"CONFIG", "GET", "repl-diskless-sync-delay"});
    if (r.elements.size() == 2 && r.elements[1].str != "0") {
      saved_delay = r.elements[1].str;
      primary.checked({"CONFIG", "SET", "repl-diskless-sync-delay", "0"});
    }
  } catch (const std::exception& e) {
    host_->log().warn(std::string("rejoin: cannot shorten the new primary's repl-diskless-sync-delay (") + e.what() +
                      "); the copy starts after its usual delay");
  }
  struct RestoreDelay {
    const Settings& settings;
    sdk::HostContext& host;
    std::optional<std::string>& value;
    ~RestoreDelay() {
      if (!value) return;
      try {
        RedisSyncClient primary(settings.peer, settings.db, settings.connect_timeout);
        primary.checked({"CONFIG", "SET", "repl-diskless-sync-delay", *value});
      } catch (const std::exception& e) {
        host.log().warn("rejoin: cannot restore repl-diskless-sync-delay " + *value + " on the new primary's Redis " +
                        settings.peer.describe() + " (" + e.what() + "); set it there by hand");
      }
    }
  } restore{settings_, *host_, saved_delay};
  if (!already) local.checked({"REPLICAOF", settings_.peer.host, std::to_string(settings_.peer.port)});
  auto deadline = std::chrono::steady_clock::now() + settings_.rejoin_timeout;
  for (;;) {
    info = local.info("replication");
    if (field(info, "master_link_status") == "up" && field(info, "master_sync_in_progress") == "0") break;
    // Once REPLICAOF above made this Redis a replica, only the new primary's
    // cut-over turns it back into a master, and it does so only after the
    // copy completed (try_rejoin_cutover): it may come between two polls.
    if (field(info, "role") == "master") {
      details["detached_by_primary"] = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline)
      return sdk::Result<sdk::StepReport>::failure("this node's Redis did not finish copying from the new primary " +
                                                   settings_.peer.describe() + " within rejoin_timeout (link " +
                                                   field(info, "master_link_status") + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  host_->state().put("rejoined", "1");
  host_->state().erase("demoted_drained");
  host_->notify_peer({{"event", "kv_rejoin_ready"}});
  details["replica_of"] = settings_.peer.describe();
  return sdk::StepReport{
      true,
      "this node's Redis copied the new primary's data (Redis replication) and follows it; the primary "
      "detaches it and resumes dual writes at its next sync",
      details};
}

}  // namespace tandem::kv
