// Scripts while writes are journaled (the peer's Redis down or catching up;
// README "Scripts and functions"). The journal must hold what the local
// Redis applied, in its order, so that the replay applies exactly that on
// the peer; for a script, only Redis knows (random picks, TIME, undeclared
// keys). So the script runs on the local Redis framed as on the secondary in
// dual mode (MULTI; PUBLISH <marker>; script; EXEC), a second replication
// tap on the local Redis reads its effects block, and the journal records
// MULTI <effects> EXEC at the script's place: while a script's local reply
// is in and its block is not, the later journaled replies of the local link
// are held (fx_local_deferred_) and journaled, in order, after it. The
// client is answered once its record is in the journal, as any journaled
// write. The local tap runs only while writes are journaled.
#include "dispatcher.h"
#include "fence.h"
#include "plugin_util.h"
#include "session.h"

namespace tandem::kv {

void Dispatcher::fx_local_tap_update() {
  const bool wanted = mode_ == PeerMode::dual && journal_route_ && !superseded_by_;
  if (!wanted) {
    // Nothing of it is in flight: the journal route ends only once every
    // journaled write is (journal_ops_in_flight_), detached mode aborts first.
    if (local_tap_) local_tap_->stop();
    fx_local_tap_on_ = false;
    return;
  }
  if (!local_tap_) {
    auto o = fx_tap_options(settings_.local, secrets_.local_password);
    ReplicationTap::Callbacks cb;
    cb.on_synced = [this](bool full) {
      fx_local_stream_.in_multi = false;
      fx_local_stall_note_.clear();
      publish_stats();
      host_.log().info(std::string("script tap: reading the local Redis's replication stream (") +
                       (full ? "after a full sync" : "from its current end") + ")");
      fx_tap_snapshot_ = false;
      fx_release_tap_waiters();
    };
    cb.on_snapshot = [this] { fx_tap_snapshot_ = true; };
    cb.on_command = [this](const RespParser& c, std::uint64_t) { fx_on_stream(fx_local_stream_, c, true); };
    cb.on_down = [this](const std::string& why) {
      fx_local_stream_.in_multi = false;
      fx_local_lose_all("the replication tap on the local Redis stopped: " + why);
      fx_tap_snapshot_ = false;
      fx_release_tap_waiters();  // their scripts are refused with why
    };
    local_tap_ = std::make_shared<ReplicationTap>(io_, std::move(o), std::move(cb));
  }
  // Started by the first script while journaling, as the peer's by the
  // first script (fx_start_tap): a replica makes the local Redis feed a
  // backlog for every write, for repl-backlog-ttl after it left.
  if (settings_.script_tap_idle.count() == 0) {
    fx_local_tap_on_ = true;
    local_tap_->start();  // nothing when it runs already
  }
}

void Dispatcher::route_script_local(const std::shared_ptr<Op>& op) {
  fx_local_tap_update();
  if (!fx_local_tap_on_ || fx_tap_resuming_) return fx_wait_for_tap(op, true);
  fx_local_last_script_ = std::chrono::steady_clock::now();
  if (!local_tap_->streaming())
    return fail_op(op,
                   "TANDEMSCRIPT writes are journaled (the peer's Redis is down or catching up) and the endpoint is "
                   "not reading the local Redis's replication stream yet (" +
                       (!fx_local_stall_note_.empty()      ? fx_local_stall_note_
                        : local_tap_->last_error().empty() ? std::string("connecting")
                                                           : local_tap_->last_error()) +
                       "); scripts (and XREADGROUP/XCLAIM/XAUTOCLAIM) are refused until it is");
  const std::uint64_t seq = fx_frame(*op);
  op->fx_local = true;
  take_journal_route(op);  // fenced, journal full or failed: answered with why; else sent (ready)
  if (!op->done) fx_local_inflight_.emplace(seq, op);
}

void Dispatcher::fx_local_on_reply(const std::shared_ptr<Op>& op, const RespParser& r) {
  if (!fx_take_reply(*op, r)) {
    // It may have run: its keys are journaled by value (the repair).
    fx_local_inflight_.erase(op->fx_seq);
    fx_local_waiting_ = op;
    return fx_local_begin_repair("unexpected reply",
                                 "TANDEMSCRIPT unexpected reply from the local Redis to a script; "
                                 "its declared keys were journaled for the peer, outcome unknown");
  }
  if (r.type() != RespType::array) {  // EXEC refused: nothing ran, nothing to journal
    fx_local_inflight_.erase(op->fx_seq);
    op->journal_on_reply = false;
    --journal_ops_in_flight_;
    op->done = true;
    op->session->pump();
    return;
  }
  if (op->fx_have_block) return fx_local_finish(op);
  fx_local_waiting_ = op;  // later journaled replies wait for its block (fx_deliver)
  if (!fx_local_inflight_.count(op->fx_seq)) return fx_local_begin_repair(fx_local_lost_why_, {});
  fx_local_hold_since_ = std::chrono::steady_clock::now();
  if (!fx_hold_armed_) fx_arm_hold_timer(settings_.command_timeout);
}

void Dispatcher::fx_local_finish(const std::shared_ptr<Op>& op) {
  fx_effects_block(*op);  // what the primary would get in dual mode is what the peer gets by the replay
  op->journal_on_reply = false;
  --journal_ops_in_flight_;
  if (!op->primary_request.empty()) journal_record(*op, op->primary_request, op->replies);
  op->done = true;  // the script's reply, or journal_record's error
  op->session->pump();
  if (op == fx_local_waiting_) {
    fx_local_waiting_.reset();
    fx_local_release();
  }
  after_primary_batch();  // the records reach the journal before any reply leaves (replies are posted)
  if (journal_ops_in_flight_ == 0 && journal_route_) pump_replay();
}

void Dispatcher::fx_local_release() {
  while (!fx_local_waiting_ && !fx_local_deferred_.empty()) {
    FxDeferred d = std::move(fx_local_deferred_.front());
    fx_local_deferred_.pop_front();
    RespParser p;
    p.feed(d.reply.data(), d.reply.size());
    if (p.next() == RespParser::Next::message) on_primary_reply(d.token, p);
  }
}

void Dispatcher::fx_local_lose_all(const std::string& why) {
  fx_local_lost_why_ = why;
  fx_local_inflight_.clear();  // their replies are repaired when they come (fx_local_on_reply)
  if (!fx_local_waiting_ || fx_local_repairing_) return;
  if (fx_local_waiting_->fx_have_block) {
    auto op = fx_local_waiting_;
    return fx_local_finish(op);
  }
  fx_local_begin_repair(why, {});
}

void Dispatcher::fx_local_stalled() {
  const std::string why =
      "no effects of a script arrived on the local Redis's replication stream within command_timeout (" +
      std::to_string(settings_.command_timeout.count()) + " ms)";
  host_.log().error("script tap: " + why + "; the tap reconnects, scripts are refused until it streams again");
  fx_local_stall_note_ = "its stream stalled: " + why + "; reconnecting";
  fx_local_stream_.in_multi = false;
  if (local_tap_) {
    local_tap_->stop();
    local_tap_->start();
  }
  publish_stats();
  fx_local_lost_why_ = why;
  fx_local_inflight_.clear();
  fx_local_begin_repair(why,
                        "TANDEMDOWN the script ran on this node's Redis, but its effects did not arrive on its "
                        "replication stream within command_timeout; outcome unknown on the peer: its declared keys "
                        "were journaled for it by value, keys it wrote without declaring them may differ once the "
                        "peer is back (tandemctl diag compare); scripts are refused until the stream is read again");
}

void Dispatcher::fx_local_begin_repair(const std::string& why, std::string error) {
  // As fx_begin_repair, with the journal in the primary's place: the keys
  // of the lost scripts (and of the held journaled writes that touch them)
  // are journaled by value from the local Redis, then the held replies are
  // released (the covered ones answered, not journaled: the copy has their
  // effect), so the journal still holds the local Redis's order.
  if (!primary_->up()) return fx_local_abort(why);
  fx_local_repairing_ = true;
  fx_local_repair_error_ = std::move(error);
  close_gate(kGateLocalRepair);
  const std::uint64_t gen = ++fx_local_repair_gen_;
  host_.log().warn("script effects lost (" + why +
                   "): journaling the keys of the lost scripts by value before the writes held behind them");
  primary_->send_internal(kPingCommand, [this, gen](const RespParser&) {
    if (gen == fx_local_repair_gen_) fx_local_repair_copy(gen);
  });
}

void Dispatcher::fx_local_repair_copy(std::uint64_t gen) {
  bool all = false;
  std::set<std::string> keys = fx_cover(*fx_local_waiting_, fx_local_deferred_, all);
  if (!all) return fx_local_repair_keys(gen, std::move(keys), false);
  // A held FLUSHDB: the record empties the peer's database and restores
  // every key of the local one (as crash reconciliation does).
  std::string list;
  append_command(list, {"KEYS", "*"});
  primary_->send_internal(list, [this, gen](const RespParser& r) {
    if (gen != fx_local_repair_gen_) return;
    std::set<std::string> every;
    if (r.type() == RespType::array)
      for (std::size_t i = 0; i < r.size(); ++i)
        if (r.element(i).substr(0, kReservedPrefix.size()) != kReservedPrefix) every.emplace(r.element(i));
    fx_local_repair_keys(gen, std::move(every), true);
  });
}

void Dispatcher::fx_local_repair_keys(std::uint64_t gen, std::set<std::string> keys, bool flush) {
  if (keys.empty() && !flush) return fx_local_repair_release();
  struct Copy {
    std::vector<std::string> commands;
    std::size_t left;
  };
  auto copy = std::make_shared<Copy>();
  copy->commands.resize(keys.size());
  copy->left = keys.size();
  auto done = [this, copy, flush] {
    // One record: the copies are applied on the peer together or not at all.
    std::string record(kMultiCommand);
    if (flush) append_command(record, {"FLUSHDB"});
    for (auto& c : copy->commands) record += c;
    record += kExecCommand;
    journal_record(*fx_local_waiting_, record, static_cast<std::uint32_t>(copy->commands.size() + 2 + (flush ? 1 : 0)));
    fx_local_repair_release();
  };
  if (keys.empty()) return done();
  std::size_t i = 0;
  for (const auto& key : keys) {
    // Nothing else writes meanwhile (new writes are held), so the two reads
    // see the same state.
    auto ttl = std::make_shared<long long>(-2);
    std::string pexpiretime, dump;
    append_command(pexpiretime, {"PEXPIRETIME", key});
    append_command(dump, {"DUMP", key});
    primary_->send_internal(pexpiretime, [ttl](const RespParser& r) {
      if (r.type() == RespType::integer) *ttl = r.integer();
    });
    primary_->send_internal(dump, [this, gen, key, ttl, copy, i, done](const RespParser& r) {
      if (gen != fx_local_repair_gen_) return;
      std::string& out = copy->commands[i];
      if (r.type() != RespType::string || *ttl == -2) {
        append_command(out, {"DEL", key});
      } else if (*ttl < 0) {
        append_command(out, {"RESTORE", key, "0", r.payload(), "REPLACE"});
      } else {
        append_command(out, {"RESTORE", key, std::to_string(*ttl), r.payload(), "REPLACE", "ABSTTL"});
      }
      if (--copy->left == 0) done();
    });
    ++i;
  }
}

void Dispatcher::fx_local_repair_release() {
  const std::string error = std::exchange(fx_local_repair_error_, {});
  auto answer_script = [&](const std::shared_ptr<Op>& op) {
    op->journal_on_reply = false;
    --journal_ops_in_flight_;
    if (!error.empty() && !op->done) fail_op(op, error);
    op->done = true;  // else its reply: its declared keys are journaled as they are after it
    op->session->pump();
  };
  answer_script(std::exchange(fx_local_waiting_, nullptr));
  auto held = std::exchange(fx_local_deferred_, {});
  for (auto& d : held) {
    RespParser p;
    p.feed(d.reply.data(), d.reply.size());
    if (p.next() != RespParser::Next::message) continue;
    Op& op = *d.token.op;
    if (!d.covered) {
      on_primary_reply(d.token, p);  // journaled as usual: it touches no copied key
    } else if (op.kind == OpKind::script) {
      if (!fx_take_reply(op, p)) fail_op(d.token.op, "TANDEMSCRIPT unexpected reply from the local Redis");
      answer_script(d.token.op);
    } else {
      op.journal_on_reply = false;  // its effect is in the copy
      --journal_ops_in_flight_;
      on_primary_reply(d.token, p);
    }
  }
  fx_local_repairing_ = false;
  after_primary_batch();
  open_gate(kGateLocalRepair);
  if (journal_ops_in_flight_ == 0 && journal_route_) pump_replay();
}

void Dispatcher::fx_local_abort(const std::string& why) {
  if (!fx_local_waiting_ && !fx_local_repairing_ && fx_local_deferred_.empty()) return;
  ++fx_local_repair_gen_;
  fx_local_repairing_ = false;
  fx_local_repair_error_.clear();
  fx_local_inflight_.clear();
  host_.log().error("script effects lost (" + why +
                    "): the keys of a script that ran on this node's Redis may differ on the peer once it is back");
  if (auto op = std::exchange(fx_local_waiting_, nullptr)) {
    op->journal_on_reply = false;
    --journal_ops_in_flight_;
    fail_op(op,
            "TANDEMSCRIPT the script ran on this node's Redis, but its effects could not be read from its "
            "replication stream (" +
                why + "); outcome unknown on the peer: its keys may differ once it is back");
    op->session->pump();
  }
  // The held replies were applied here: journaled in order (a held script
  // among them: answered as lost, fx_local_on_reply).
  std::deque<FxDeferred> held = std::exchange(fx_local_deferred_, {});
  for (auto& d : held) {
    RespParser p;
    p.feed(d.reply.data(), d.reply.size());
    if (p.next() != RespParser::Next::message) continue;
    if (d.token.op->kind == OpKind::script && d.token.op->fx_local) {
      d.token.op->journal_on_reply = false;
      --journal_ops_in_flight_;
      fail_op(d.token.op, "TANDEMSCRIPT the script ran on this node's Redis, but its effects could not be read (" +
                              why + "); outcome unknown on the peer");
      d.token.op->session->pump();
      continue;
    }
    on_primary_reply(d.token, p);
  }
  after_primary_batch();
  open_gate(kGateLocalRepair);
}

}  // namespace tandem::kv
