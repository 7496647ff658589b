// The dispatcher's scripts path (EVAL/EVALSHA/FCALL, a MULTI block holding
// one, consumer-group reads): run on the secondary inside a marked MULTI, the
// effects read from its replication stream by the tap and applied to the
// primary in the secondary's order. The design and its ordering argument are
// in dispatcher.h ("Scripts") and the README.
#include <charconv>
#include <optional>
#include <set>

#include "dispatcher.h"
#include "fence.h"
#include "plugin_util.h"
#include "session.h"

namespace tandem::kv {
namespace {

// The channel of the markers that open a script's block in the secondary's
// replication stream ("Scripts" in dispatcher.h).
constexpr std::string_view kFxChannel = "__tandem:fx";

// The client's reply to a script op from the secondary's EXEC reply, whose
// first element answers the marker's PUBLISH (an integer): a lone script's
// reply is the second element; a client's block gets the rest as its array.
bool script_reply(const RespParser& exec, bool block, std::string& out) {
  if (exec.size() < 1 || exec.element_type(0) != RespType::integer) return false;
  std::string_view bytes = exec.bytes();
  auto header_end = bytes.find("\r\n");
  if (header_end == std::string_view::npos) return false;
  auto first_end = bytes.find("\r\n", header_end + 2);
  if (first_end == std::string_view::npos) return false;
  std::string_view rest = bytes.substr(first_end + 2);
  out.clear();
  if (block) {
    append_array_header(out, exec.size() - 1);
  } else if (exec.size() != 2) {
    return false;
  }
  out += rest;
  return true;
}

// XREADGROUP's op: the client's reply is the EXEC reply's second element
// (after the marker's), and each following element, XINFO GROUPS of one of
// its streams, gives the group's entries-read there: the primary gets
// XGROUP SETID key group <last-delivered-id> ENTRIESREAD <n> (fx_extra),
// which Redis 7.0's propagation of the delivery leaves out.
bool group_read_reply(Op& op, const RespParser& exec, int) {
  if (exec.size() != 2 + op.fx_group_keys.size() || exec.element_type(0) != RespType::integer) return false;
  switch (exec.element_type(1)) {
    case RespType::array: op.reply.assign(exec.element(1)); break;
    case RespType::nil: op.reply = op.proto == 3 ? "_\r\n" : "*-1\r\n"; break;
    case RespType::error:
      op.reply.clear();
      append_error(op.reply, exec.element(1));
      break;
    default: return false;
  }
  op.fx_extra.clear();
  op.fx_extra_replies = 0;
  for (std::size_t k = 0; k < op.fx_group_keys.size(); ++k) {
    if (exec.element_type(2 + k) != RespType::array) continue;  // no such stream (an error)
    RespParser groups;
    auto enc = exec.element(2 + k);
    groups.feed(enc.data(), enc.size());
    if (groups.next() != RespParser::Next::message) continue;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      RespParser fields;
      auto genc = groups.element(g);
      fields.feed(genc.data(), genc.size());
      if (fields.next() != RespParser::Next::message) continue;
      std::string name, last_id, entries_read;
      for (std::size_t f = 0; f + 1 < fields.size(); f += 2) {
        auto field = fields.element(f);
        if (field == "name") name.assign(fields.element(f + 1));
        if (field == "last-delivered-id") last_id.assign(fields.element(f + 1));
        if (field == "entries-read" && fields.element_type(f + 1) == RespType::integer)
          entries_read = std::to_string(fields.element_integer(f + 1));
      }
      if (name != op.fx_group || last_id.empty() || entries_read.empty()) continue;
      append_command(op.fx_extra,
                     {"XGROUP", "SETID", op.fx_group_keys[k], op.fx_group, last_id, "ENTRIESREAD", entries_read});
      ++op.fx_extra_replies;
    }
  }
  return true;
}

}  // namespace

ReplicationTap::Options Dispatcher::fx_tap_options(const RedisAddress& redis, const std::string& password) const {
  ReplicationTap::Options o;
  o.host = redis.host;
  o.port = redis.port;
  o.password = password;
  o.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.connect_timeout);
  o.reconnect_interval = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.reconnect_interval);
  // A snapshot written to disk starts at once; a diskless one first waits
  // repl-diskless-sync-delay (5 s by default) for more replicas, and the
  // scripts waiting for the tap with it.
  o.diskless = false;
  // Only what follows the next script matters (a drop loses the scripts in
  // flight: fx_lose_all), so every connect starts at the stream's end, and
  // a resume after parking takes no snapshot while Redis keeps its backlog.
  o.join_at_current = true;
  return o;
}

void Dispatcher::fx_start_tap() {
  if (mode_ != PeerMode::dual) return;
  if (!tap_) {
    auto o = fx_tap_options(settings_.peer, secrets_.peer_password);
    ReplicationTap::Callbacks cb;
    cb.on_synced = [this](bool full) {
      fx_stream_.in_multi = false;
      fx_stall_note_.clear();
      fx_tap_snapshot_ = false;
      publish_stats();  // health's script_tap at once, not at the next tick
      host_.log().info(std::string("script tap: reading the peer's replication stream (") +
                       (full ? "after a full sync" : "from its current end") + ")");
      fx_release_tap_waiters();
    };
    cb.on_snapshot = [this] { fx_tap_snapshot_ = true; };
    cb.on_command = [this](const RespParser& c, std::uint64_t) { fx_on_stream(fx_stream_, c, false); };
    cb.on_down = [this](const std::string& why) {
      fx_stream_.in_multi = false;
      fx_tap_snapshot_ = false;
      fx_lose_all("the replication tap on the peer's Redis stopped: " + why);
      fx_release_tap_waiters();  // their scripts are refused with why
    };
    tap_ = std::make_shared<ReplicationTap>(io_, std::move(o), std::move(cb));
  }
  fx_last_script_ = std::chrono::steady_clock::now();
  // Parked until the first script (no replica, no backlog on the peer's
  // Redis for an application that sends none), unless it must always read.
  fx_tap_parked_ = settings_.script_tap_idle.count() != 0;
  if (!fx_tap_parked_) tap_->start();
}

void Dispatcher::fx_wait_for_tap(const std::shared_ptr<Op>& op, bool local) {
  --writes_;  // route() counts it again when it is released
  fx_tap_waiters_.push_back(op);
  fx_tap_waiting_sessions_.insert(op->session.get());
  if (fx_tap_resuming_) return;
  fx_tap_resuming_ = true;
  if (local) {
    // Journal route (dispatcher_scripts_journal.cpp): the local Redis's tap, the same way.
    fx_local_tap_on_ = true;
    host_.log().info(
        "script tap: starting on the local Redis for a script (writes are journaled); its client's later "
        "commands wait until the tap reads the stream");
    local_tap_->start();
  } else {
    fx_tap_parked_ = false;
    host_.log().info(
        "script tap: resuming for a script; its client's later commands wait until the tap reads the "
        "peer's stream");
    tap_->start();
  }
  fx_tap_timer_.expires_after(settings_.command_timeout);
  fx_tap_timer_.async_wait([this, local](const boost::system::error_code& ec) {
    if (ec || !fx_tap_resuming_) return;
    std::string& note = local ? fx_local_stall_note_ : fx_stall_note_;
    note = fx_tap_snapshot_ ? "the Redis is still making the snapshot a new replica gets first (it "
                              "kept no backlog to continue from), for longer than command_timeout"
                            : "it did not reach the stream within command_timeout";
    host_.log().warn("script tap: " + note + "; the scripts that waited are refused");
    fx_release_tap_waiters();
  });
}

void Dispatcher::fx_release_tap_waiters() {
  fx_tap_resuming_ = false;
  fx_tap_timer_.cancel();
  auto held = std::exchange(fx_tap_waiters_, {});
  fx_tap_waiting_sessions_.clear();
  for (auto& op : held) {  // in arrival order: each client's commands in its own order
    route(op);
    op->session->pump();
  }
}

void Dispatcher::fx_park_tap_if_idle(std::chrono::steady_clock::time_point now) {
  if (local_tap_ && fx_local_tap_on_ && settings_.script_tap_idle.count() != 0 && local_tap_->streaming() &&
      fx_local_inflight_.empty() && !fx_local_waiting_ && fx_local_deferred_.empty() && !fx_local_repairing_ &&
      now - fx_local_last_script_ >= settings_.script_tap_idle) {
    local_tap_->stop();
    fx_local_tap_on_ = false;
    fx_local_stream_.in_multi = false;
    host_.log().info("script tap: the local Redis's parked (no script while journaling for script_tap_idle)");
  }
  if (!tap_ || fx_tap_parked_ || settings_.script_tap_idle.count() == 0 || !tap_->streaming()) return;
  if (!fx_inflight_.empty() || fx_waiting_ || !fx_deferred_.empty() || fx_repairing_) return;
  if (now - fx_last_script_ < settings_.script_tap_idle) return;
  tap_->stop();
  fx_tap_parked_ = true;
  fx_stream_.in_multi = false;
  host_.log().info("script tap: parked after " + std::to_string(settings_.script_tap_idle.count()) +
                   " ms without a script (plain writes no longer pay for the peer's replication stream); the next "
                   "script resumes it");
}

void Dispatcher::route_script(const std::shared_ptr<Op>& op) {
  if (journal_route_) return route_script_local(op);
  if (tap_ && (fx_tap_parked_ || fx_tap_resuming_)) return fx_wait_for_tap(op);
  fx_last_script_ = std::chrono::steady_clock::now();
  if (!tap_ || !tap_->streaming())
    return fail_op(op, "TANDEMSCRIPT the endpoint is not reading the peer's Redis replication stream (" +
                           (!fx_stall_note_.empty()               ? fx_stall_note_
                            : !tap_ || tap_->last_error().empty() ? std::string("connecting")
                                                                  : tap_->last_error()) +
                           "); scripts (and XREADGROUP/XCLAIM/XAUTOCLAIM) are refused until it is");
  const std::uint64_t seq = fx_frame(*op);
  op->fx_dual = true;
  fx_inflight_.emplace(seq, op);
  note_intent(*op);  // its declared KEYS
  LinkToken t;
  t.op = op;
  t.replies = op->replies;
  secondary_->send(op->request, std::move(t), op->proto);
}

std::uint64_t Dispatcher::fx_frame(Op& op) {
  // The marker opens the block of effects in the stream (fx_on_stream).
  const std::uint64_t seq = ++fx_next_seq_;
  std::string framed;
  framed.reserve(op.request.size() + 96);
  framed = kMultiCommand;
  const std::string marker = fx_token_ + ":" + std::to_string(seq);
  append_command(framed, {"PUBLISH", kFxChannel, marker});
  framed += op.request;
  for (auto& key : op.fx_group_keys) append_command(framed, {"XINFO", "GROUPS", key});
  framed += kExecCommand;
  op.request.swap(framed);
  op.replies += 3 + static_cast<std::uint32_t>(op.fx_group_keys.size());
  op.fx_framed = true;
  op.fx_seq = seq;
  return seq;
}

std::uint64_t Dispatcher::fx_marker(const RespParser& c) const {
  if (c.size() != 3 || !iequals(c.element(0), "PUBLISH") || c.element(1) != kFxChannel) return 0;
  std::string_view m = c.element(2);
  if (m.size() <= fx_token_.size() + 1 || m.substr(0, fx_token_.size()) != fx_token_ || m[fx_token_.size()] != ':')
    return 0;  // a predecessor's (or anyone else's) marker
  std::uint64_t seq = 0;
  m.remove_prefix(fx_token_.size() + 1);
  auto [end, ec] = std::from_chars(m.data(), m.data() + m.size(), seq);
  return ec == std::errc() && end == m.data() + m.size() ? seq : 0;
}

void Dispatcher::fx_on_stream(FxStream& st, const RespParser& c, bool local) {
  if (c.type() != RespType::array || c.size() == 0) return;
  std::string_view name = c.element(0);
  if (!st.in_multi) {
    if (iequals(name, "MULTI")) {
      st.in_multi = st.first = true;
      st.block_seq = 0;
      st.effects.clear();
      st.count = 0;
      st.select = false;
    } else if (std::uint64_t seq = fx_marker(c)) {
      fx_deliver(local, seq, {}, 0, false);  // alone, not in a MULTI: the script changed nothing
    }
    return;  // anything else: writes that are not scripts, PING, SELECT, expiries
  }
  if (st.first) {  // a block of ours begins with its marker
    st.first = false;
    st.block_seq = fx_marker(c);
    return;
  }
  if (iequals(name, "EXEC")) {
    st.in_multi = false;
    if (st.block_seq) fx_deliver(local, st.block_seq, st.effects, st.count, st.select);
    return;
  }
  if (!st.block_seq) return;
  if (iequals(name, "SELECT")) st.select = true;
  st.effects += c.bytes();
  ++st.count;
}

void Dispatcher::fx_deliver(bool local, std::uint64_t seq, std::string_view effects, std::uint32_t count, bool select) {
  auto& inflight = local ? fx_local_inflight_ : fx_inflight_;
  auto it = inflight.find(seq);
  if (it == inflight.end()) return;  // lost already (answered), or not this run's
  auto op = it->second;
  inflight.erase(it);
  // The effects as they are; framed in fx_finish, once the reply is known too.
  op->primary_request.assign(effects);
  op->replies = count;
  if (select) {
    // A script may SELECT another db; the shared link serves the configured one.
    append_command(op->primary_request, {"SELECT", std::to_string(settings_.db)});
    ++op->replies;
  }
  op->fx_have_block = true;
  if (local) {
    if (op == fx_local_waiting_) fx_local_finish(op);  // else its local reply is still to come (or deferred)
  } else if (op == fx_waiting_) {
    fx_finish(op);  // else its secondary reply is still to come (or deferred)
  }
}

bool Dispatcher::fx_take_reply(Op& op, const RespParser& r) {
  if (r.type() != RespType::array) {
    // EXEC refused (EXECABORT...) or another error: nothing ran, nothing
    // was propagated, nothing to apply. A timeout of the link lands in
    // on_secondary_down instead.
    op.reply.assign(r.bytes());
    return true;
  }
  if (!op.fx_group_keys.empty() ? group_read_reply(op, r, settings_.db) : script_reply(r, op.fx_block, op.reply))
    return true;
  host_.log().error("script: unexpected EXEC reply from the peer's Redis: " + std::string(r.bytes().substr(0, 200)));
  return false;
}

void Dispatcher::fx_on_reply(const std::shared_ptr<Op>& op, const RespParser& r) {
  if (!fx_take_reply(*op, r)) {
    fx_inflight_.erase(op->fx_seq);
    return fx_answer_lost(op, "unexpected reply");
  }
  if (r.type() != RespType::array) {
    fx_inflight_.erase(op->fx_seq);
    op->done = true;
    op->session->pump();
    return;
  }
  if (op->fx_have_block) return fx_finish(op);
  if (!fx_inflight_.count(op->fx_seq)) {
    // Its block will not come (fx_lose_all): repaired, answered with its reply.
    if (!fx_can_repair()) return fx_answer_lost(op, fx_lost_why_);
    fx_waiting_ = op;
    return fx_begin_repair(fx_lost_why_, {});
  }
  fx_waiting_ = op;  // later replies wait for its block (fx_deliver)
  fx_hold_since_ = std::chrono::steady_clock::now();
  if (!fx_hold_armed_) fx_arm_hold_timer(settings_.command_timeout);
}

void Dispatcher::fx_effects_block(Op& op) {
  // EVAL also loads its script on the primary, so both caches hold the same
  // scripts (SCRIPT EXISTS, EVALSHA_RO); not one that does not compile.
  const bool load = !op.fx_scripts.empty() && op.reply.find("Error compiling script") == std::string::npos;
  if (op.replies > 0 || load || op.fx_extra_replies > 0) {
    std::string framed(kMultiCommand);
    if (load)
      for (auto& body : op.fx_scripts) append_command(framed, {"SCRIPT", "LOAD", body});
    framed += op.primary_request;
    framed += op.fx_extra;
    framed += kExecCommand;
    op.replies += 2 + op.fx_extra_replies + (load ? static_cast<std::uint32_t>(op.fx_scripts.size()) : 0);
    op.primary_request.swap(framed);
  } else {
    op.primary_request.clear();
  }
}

void Dispatcher::fx_finish(const std::shared_ptr<Op>& op) {
  fx_effects_block(*op);
  if (op->primary_request.empty())
    op->done = true;  // no effects: nothing for the primary
  else
    op->ready = true;  // sent now (pump), before any later secondary reply is looked at
  op->session->pump();
  if (op == fx_waiting_) {
    fx_waiting_.reset();
    fx_release();
  }
}

void Dispatcher::fx_release() {
  while (!fx_waiting_ && !fx_deferred_.empty()) {
    FxDeferred d = std::move(fx_deferred_.front());
    fx_deferred_.pop_front();
    if (d.then) {
      d.then();
      continue;
    }
    RespParser p;
    p.feed(d.reply.data(), d.reply.size());
    if (p.next() == RespParser::Next::message) on_secondary_reply(d.token, p);
  }
}

bool Dispatcher::fx_can_repair() const {
  return mode_ == PeerMode::dual && !journal_route_ && secondary_->up() && primary_->up();
}

void Dispatcher::fx_answer_lost(const std::shared_ptr<Op>& op, const std::string& why) {
  fail_op(op,
          "TANDEMSCRIPT the script ran on the peer's Redis, but its effects could not be read from its "
          "replication stream (" +
              why +
              "); outcome unknown on this node's Redis: its keys may differ "
              "between the two servers (tandemctl diag compare)");
  host_.log().error("script effects lost (" + why + "): the keys of a script that ran on the peer may differ");
  op->session->pump();
}

void Dispatcher::fx_lose_all(const std::string& why, bool repairable) {
  fx_lost_why_ = why;
  // Those whose secondary reply is still to come are repaired (or answered)
  // when it comes (fx_on_reply: no longer in flight, no block).
  fx_inflight_.clear();
  if (!fx_waiting_ || fx_repairing_) return;
  if (fx_waiting_->fx_have_block) {
    auto op = fx_waiting_;
    return fx_finish(op);
  }
  if (repairable && fx_can_repair()) return fx_begin_repair(why, {});
  fx_answer_lost(std::exchange(fx_waiting_, nullptr), why);
  fx_release();  // the held replies, applied on the secondary after it: forwarded in order
}

void Dispatcher::fx_arm_hold_timer(std::chrono::steady_clock::duration after) {
  fx_hold_armed_ = true;
  fx_hold_timer_.expires_after(after);
  fx_hold_timer_.async_wait([this](const boost::system::error_code& ec) {
    fx_hold_armed_ = false;
    if (!ec) fx_hold_expired();
  });
}

void Dispatcher::fx_hold_expired() {
  // One timer for every hold (the peer's and, journal route, the local
  // one): armed at the first, re-armed for what is left of the current ones
  // (arming one per script would cost every script).
  const auto now = std::chrono::steady_clock::now();
  const auto limit = std::chrono::steady_clock::duration(settings_.command_timeout);
  std::optional<std::chrono::steady_clock::duration> next;
  auto check = [&](const std::shared_ptr<Op>& waiting, bool repairing, std::chrono::steady_clock::time_point since,
                   void (Dispatcher::*stalled)()) {
    if (!waiting || repairing || waiting->fx_have_block) return;
    if (now - since >= limit) return (this->*stalled)();
    next = std::min(next.value_or(limit), limit - (now - since));
  };
  check(fx_waiting_, fx_repairing_, fx_hold_since_, &Dispatcher::fx_stalled);
  check(fx_local_waiting_, fx_local_repairing_, fx_local_hold_since_, &Dispatcher::fx_local_stalled);
  if (next && !fx_hold_armed_) fx_arm_hold_timer(*next);
}

void Dispatcher::fx_stalled() {
  const std::string why = "no effects of a script arrived on the peer's replication stream within command_timeout (" +
                          std::to_string(settings_.command_timeout.count()) + " ms)";
  host_.log().error("script tap: " + why + "; the tap reconnects, scripts are refused until it streams again");
  // A silent stream is not trusted any more: reconnecting gives either the
  // stream again (+CONTINUE at the stream's current end; the late blocks count for
  // nothing, their scripts are no longer in flight) or an error.
  fx_stall_note_ = "its stream stalled: " + why + "; reconnecting";
  fx_stream_.in_multi = false;
  if (tap_) {
    tap_->stop();
    tap_->start();
  }
  publish_stats();
  fx_lost_why_ = why;
  fx_inflight_.clear();  // scripts behind it: their replies are held, and repaired with it
  if (!fx_can_repair()) {
    fx_answer_lost(std::exchange(fx_waiting_, nullptr), why);
    return fx_release();
  }
  fx_begin_repair(why,
                  "TANDEMDOWN the script ran on the peer's Redis, but its effects did not arrive on its replication "
                  "stream within command_timeout; outcome unknown: its declared keys were made equal on both servers "
                  "(copied from the peer's Redis), keys it wrote without declaring them may differ (tandemctl diag "
                  "compare); scripts are refused until the stream is read again");
}

void Dispatcher::fx_begin_repair(const std::string& why, std::string error) {
  fx_repairing_ = true;
  fx_repair_error_ = std::move(error);
  close_gate(kGateRepair);
  const std::uint64_t gen = ++fx_repair_gen_;
  host_.log().warn("script effects lost (" + why +
                   "): copying the keys of the lost scripts (and of the writes held behind them that touch them) "
                   "from the peer's Redis before the held writes are released");
  // Its reply means every write sent to the secondary before the gate
  // closed has answered: all of them are held in fx_deferred_ now.
  secondary_->send_internal(kPingCommand, [this, gen](const RespParser&) {
    if (gen == fx_repair_gen_) fx_repair_copy(gen);
  });
}

std::set<std::string> Dispatcher::fx_cover(const Op& lost, std::deque<FxDeferred>& held, bool& all) const {
  // The copy (a server's value now) includes the effects of the covered
  // writes, so they must not be applied again; every other held write
  // touches none of the copied keys and takes its usual way.
  std::set<std::string> keys;
  all = false;
  auto add = [&](const IntentKeys& k) {
    if (k.all) all = true;
    k.any_of([&](std::string_view key) {
      keys.emplace(key);
      return false;
    });
  };
  auto touches = [&](const IntentKeys& k) {
    return k.all || k.any_of([&](std::string_view key) { return keys.count(std::string(key)) > 0; });
  };
  add(lost.keys);
  std::vector<FxDeferred*> changed;
  for (auto& d : held) {
    if (d.then || !d.token.op) continue;
    if (d.token.op->kind == OpKind::script) {
      d.covered = true;  // every held script is lost: its block would come on the stream that failed
      add(d.token.op->keys);
      continue;
    }
    RespParser p;
    p.feed(d.reply.data(), d.reply.size());
    if (p.next() == RespParser::Next::message && held_write_changed(*d.token.op, p)) changed.push_back(&d);
  }
  for (bool grew = true; grew && !all;) {
    grew = false;
    for (auto* d : changed) {
      if (d->covered || !touches(d->token.op->keys)) continue;
      d->covered = grew = true;
      add(d->token.op->keys);
    }
  }
  if (all)
    for (auto* d : changed) d->covered = true;
  return keys;
}

void Dispatcher::fx_repair_copy(std::uint64_t gen) {
  bool all = false;
  std::set<std::string> keys = fx_cover(*fx_waiting_, fx_deferred_, all);
  if (all) {
    // A held FLUSHDB (or FLUSHALL): every key either server has. Nothing
    // writes meanwhile, so the two lists are of the same moment.
    auto both = std::make_shared<std::set<std::string>>();
    auto left = std::make_shared<int>(2);
    auto collect = [this, gen, both, left](const RespParser& r) {
      if (gen != fx_repair_gen_) return;
      if (r.type() == RespType::array)
        for (std::size_t i = 0; i < r.size(); ++i) {
          auto key = r.element(i);
          if (key.substr(0, kReservedPrefix.size()) != kReservedPrefix) both->emplace(key);  // the endpoint's own
        }
      if (--*left == 0) fx_repair_keys(gen, std::move(*both));
    };
    std::string list;
    append_command(list, {"KEYS", "*"});
    secondary_->send_internal(list, collect);
    primary_->send_internal(list, collect);
    return;
  }
  fx_repair_keys(gen, std::move(keys));
}

void Dispatcher::fx_repair_keys(std::uint64_t gen, std::set<std::string> keys) {
  auto left = std::make_shared<std::size_t>(keys.size());
  const std::size_t n = keys.size();
  if (keys.empty()) return fx_repair_release();
  for (const auto& key : keys) {
    // Nothing else writes meanwhile (new writes are held, held replies not
    // forwarded), so the two reads see the same state.
    auto ttl = std::make_shared<long long>(-2);
    std::string pexpiretime, dump;
    append_command(pexpiretime, {"PEXPIRETIME", key});
    append_command(dump, {"DUMP", key});
    secondary_->send_internal(pexpiretime, [ttl](const RespParser& r) {
      if (r.type() == RespType::integer) *ttl = r.integer();
    });
    secondary_->send_internal(dump, [this, gen, key, ttl, left, n](const RespParser& r) {
      if (gen != fx_repair_gen_) return;
      std::string copy;
      if (r.type() != RespType::string || *ttl == -2) {
        append_command(copy, {"DEL", key});
      } else {
        std::string at = std::to_string(*ttl < 0 ? 0 : *ttl);
        if (*ttl < 0)
          append_command(copy, {"RESTORE", key, at, r.payload(), "REPLACE"});
        else
          append_command(copy, {"RESTORE", key, at, r.payload(), "REPLACE", "ABSTTL"});
      }
      primary_->send_internal(copy, [this, gen, left, n](const RespParser& r2) {
        if (gen != fx_repair_gen_) return;
        if (r2.is_error()) host_.log().error("script repair: copy of a key refused: " + std::string(r2.payload()));
        if (--*left > 0) return;
        host_.log().warn("script effects lost: " + std::to_string(n) +
                         " keys copied from the peer's Redis; keys the scripts wrote without declaring them may "
                         "differ (tandemctl diag compare)");
        fx_repair_release();
      });
    });
  }
}

void Dispatcher::fx_repair_release() {
  // The primary holds the copies now: first the lost script, then the held
  // replies in the secondary's order, each as if the primary had applied it
  // there (the ordering argument: nothing a client is answered reflects a
  // state the secondary did not have).
  const std::string error = std::exchange(fx_repair_error_, {});
  auto answer_script = [&](const std::shared_ptr<Op>& op) {
    if (!error.empty()) fail_op(op, error);
    op->done = true;  // else its reply (the secondary's), now true of both servers for its KEYS
    op->session->pump();
  };
  answer_script(fx_waiting_);
  auto held = std::exchange(fx_deferred_, {});
  for (auto& d : held) {
    if (d.then) {
      d.then();
      continue;
    }
    RespParser p;
    p.feed(d.reply.data(), d.reply.size());
    if (p.next() != RespParser::Next::message) continue;
    if (!d.token.op) {
      on_secondary_reply(d.token, p);
    } else if (!d.covered) {
      secondary_reply(d.token, p);
    } else if (d.token.op->kind != OpKind::script) {
      answer_copied(d.token.op, p);
    } else if (fx_take_reply(*d.token.op, p)) {
      answer_script(d.token.op);
    } else {
      fx_answer_lost(d.token.op, "unexpected reply");
    }
  }
  fx_waiting_.reset();
  fx_repairing_ = false;
  open_gate(kGateRepair);
}

void Dispatcher::fx_abort_repair(const std::string& why) {
  if (!fx_repairing_) return;
  ++fx_repair_gen_;  // its pending callbacks are dropped with the link, or ignored
  fx_repairing_ = false;
  fx_repair_error_.clear();
  host_.log().error("script repair aborted (" + why + "): the keys of the lost scripts may differ");
  // The held replies go on as usual (their scripts answered as lost, the
  // other writes forwarded in order: on_secondary_down / on_primary_down
  // settle them).
  fx_answer_lost(std::exchange(fx_waiting_, nullptr), why);
  fx_release();
  open_gate(kGateRepair);
}

}  // namespace tandem::kv
