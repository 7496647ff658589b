// The dispatcher's scripts path (EVAL/EVALSHA/FCALL, a MULTI block holding
// one, consumer-group reads): run on the secondary inside a marked MULTI, the
// effects read from its replication stream by the tap and applied to the
// primary in the secondary's order. The design and its ordering argument are
// in dispatcher.h ("Scripts") and the README.
#include <charconv>
#include <set>

#include "dispatcher.h"
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

void Dispatcher::fx_start_tap() {
  if (mode_ != PeerMode::dual) return;
  if (!tap_) {
    ReplicationTap::Options o;
    o.host = settings_.peer.host;
    o.port = settings_.peer.port;
    o.password = secrets_.peer_password;
    o.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.connect_timeout);
    o.reconnect_interval = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.reconnect_interval);
    // A snapshot written to disk starts at once; a diskless one first waits
    // repl-diskless-sync-delay (5 s by default) for more replicas, and scripts
    // are refused until the tap streams.
    o.diskless = false;
    tap_ = std::make_shared<ReplicationTap>(
        io_, std::move(o),
        ReplicationTap::Callbacks{[this](bool full) {
                                    fx_in_multi_ = false;
                                    host_.log().info(
                                        std::string("script tap: reading the peer's replication stream (") +
                                        (full ? "after a full sync" : "continued") + ")");
                                  },
                                  [this](const RespParser& c, std::uint64_t) { fx_on_stream(c); },
                                  [this](const std::string& why) {
                                    fx_in_multi_ = false;
                                    fx_lose_all("the replication tap on the peer's Redis stopped: " + why);
                                  }});
  }
  tap_->start();
}

void Dispatcher::route_script(const std::shared_ptr<Op>& op) {
  if (journal_route_)
    return fail_op(op,
                   "TANDEMSCRIPT scripts are refused while writes are journaled (the peer's Redis is down or catching "
                   "up): their effects (and those of XREADGROUP/XCLAIM/XAUTOCLAIM) are read from the peer's "
                   "replication stream; retry once the peer is back");
  if (!tap_ || !tap_->streaming())
    return fail_op(op, "TANDEMSCRIPT the endpoint is not reading the peer's Redis replication stream (" +
                           (!tap_ || tap_->last_error().empty() ? std::string("connecting") : tap_->last_error()) +
                           "); scripts (and XREADGROUP/XCLAIM/XAUTOCLAIM) are refused until it is");
  // MULTI; PUBLISH <marker>; <the client's command(s)>; EXEC: the marker
  // opens the block of effects in the stream (fx_on_stream).
  const std::uint64_t seq = ++fx_next_seq_;
  std::string framed;
  framed.reserve(op->request.size() + 96);
  framed = kMultiCommand;
  const std::string marker = fx_token_ + ":" + std::to_string(seq);
  append_command(framed, {"PUBLISH", kFxChannel, marker});
  framed += op->request;
  for (auto& key : op->fx_group_keys) append_command(framed, {"XINFO", "GROUPS", key});
  framed += kExecCommand;
  op->request.swap(framed);
  op->replies += 3 + static_cast<std::uint32_t>(op->fx_group_keys.size());
  op->fx_framed = op->fx_dual = true;
  op->fx_seq = seq;
  fx_inflight_.emplace(seq, op);
  note_intent(*op);  // its declared KEYS
  LinkToken t;
  t.op = op;
  t.replies = op->replies;
  secondary_->send(op->request, std::move(t), op->proto);
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

void Dispatcher::fx_on_stream(const RespParser& c) {
  if (c.type() != RespType::array || c.size() == 0) return;
  std::string_view name = c.element(0);
  if (!fx_in_multi_) {
    if (iequals(name, "MULTI")) {
      fx_in_multi_ = fx_first_ = true;
      fx_block_seq_ = 0;
      fx_effects_.clear();
      fx_effect_count_ = 0;
      fx_select_ = false;
    } else if (std::uint64_t seq = fx_marker(c)) {
      fx_deliver(seq, {}, 0, false);  // alone, not in a MULTI: the script changed nothing
    }
    return;  // anything else: writes that are not scripts, PING, SELECT, expiries
  }
  if (fx_first_) {  // a block of ours begins with its marker
    fx_first_ = false;
    fx_block_seq_ = fx_marker(c);
    return;
  }
  if (iequals(name, "EXEC")) {
    fx_in_multi_ = false;
    if (fx_block_seq_) fx_deliver(fx_block_seq_, fx_effects_, fx_effect_count_, fx_select_);
    return;
  }
  if (!fx_block_seq_) return;
  if (iequals(name, "SELECT")) fx_select_ = true;
  fx_effects_ += c.bytes();
  ++fx_effect_count_;
}

void Dispatcher::fx_deliver(std::uint64_t seq, std::string_view effects, std::uint32_t count, bool select) {
  auto it = fx_inflight_.find(seq);
  if (it == fx_inflight_.end()) return;  // lost already (answered), or not this run's
  auto op = it->second;
  fx_inflight_.erase(it);
  // The effects as they are; framed in fx_finish, once the reply is known too.
  op->primary_request.assign(effects);
  op->replies = count;
  if (select) {
    // A script may SELECT another db; the shared link serves the configured one.
    append_command(op->primary_request, {"SELECT", std::to_string(settings_.db)});
    ++op->replies;
  }
  op->fx_have_block = true;
  if (op == fx_waiting_) fx_finish(op);  // else its secondary reply is still to come (or deferred)
}

void Dispatcher::fx_on_reply(const std::shared_ptr<Op>& op, const RespParser& r) {
  if (r.type() != RespType::array) {
    // EXEC refused (EXECABORT...) or another error: nothing ran, nothing
    // was propagated, nothing to apply. A timeout of the link lands in
    // on_secondary_down instead.
    fx_inflight_.erase(op->fx_seq);
    op->reply.assign(r.bytes());
    op->done = true;
    op->session->pump();
    return;
  }
  if (!op->fx_group_keys.empty() ? !group_read_reply(*op, r, settings_.db)
                                 : !script_reply(r, op->fx_block, op->reply)) {
    fx_inflight_.erase(op->fx_seq);
    host_.log().error("script: unexpected EXEC reply from the peer's Redis: " + std::string(r.bytes().substr(0, 200)));
    return fx_answer_lost(op, "unexpected reply", false);
  }
  if (op->fx_have_block) return fx_finish(op);
  if (!fx_inflight_.count(op->fx_seq)) return fx_answer_lost(op, fx_lost_why_);
  fx_waiting_ = op;  // later replies wait for its block (fx_deliver)
}

void Dispatcher::fx_finish(const std::shared_ptr<Op>& op) {
  // EVAL also loads its script on the primary, so both caches hold the same
  // scripts (SCRIPT EXISTS, EVALSHA_RO); not one that does not compile.
  const bool load = !op->fx_scripts.empty() && op->reply.find("Error compiling script") == std::string::npos;
  if (op->replies > 0 || load || op->fx_extra_replies > 0) {
    std::string framed(kMultiCommand);
    if (load)
      for (auto& body : op->fx_scripts) append_command(framed, {"SCRIPT", "LOAD", body});
    framed += op->primary_request;
    framed += op->fx_extra;
    framed += kExecCommand;
    op->replies += 2 + op->fx_extra_replies + (load ? static_cast<std::uint32_t>(op->fx_scripts.size()) : 0);
    op->primary_request.swap(framed);
  } else {
    op->primary_request.clear();
  }
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

void Dispatcher::fx_answer_lost(const std::shared_ptr<Op>& op, const std::string& why, bool repairable) {
  if (repairable && mode_ == PeerMode::dual && !journal_route_ && secondary_->up() && primary_->up()) {
    fx_repair_ops_.push_back(op);  // answered once its declared keys are copied
    if (!fx_repairing_) {
      host_.log().warn("script effects lost (" + why + "): copying the scripts' declared keys from the peer's Redis");
      fx_start_repair();
    }
    return;
  }
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
  if (fx_inflight_.empty() && !fx_waiting_) return;
  fx_lost_why_ = why;
  // Those whose secondary reply is still to come are answered when it comes
  // (fx_on_reply: no longer in flight, no block).
  fx_inflight_.clear();
  if (auto op = std::exchange(fx_waiting_, nullptr)) {
    if (!op->fx_have_block)
      fx_answer_lost(op, why, repairable);
    else
      fx_finish(op);
  }
  fx_release();
}

void Dispatcher::fx_start_repair() {
  fx_repairing_ = true;
  close_gate(kGateRepair);
  fx_repair_batch_.swap(fx_repair_ops_);
  fx_repair_ops_.clear();
  const std::uint64_t gen = ++fx_repair_gen_;
  // Every write already sent is applied on the secondary (its PING answered,
  // and with it every earlier reply forwarded), then on the primary.
  std::string ping(kPingCommand);
  secondary_->send_internal(ping, [this, gen, ping](const RespParser&) {
    if (gen != fx_repair_gen_) return;
    primary_->send_internal(ping, [this, gen](const RespParser&) {
      if (gen != fx_repair_gen_) return;
      std::set<std::string> keys;
      for (auto& op : fx_repair_batch_)
        op->keys.any_of([&](std::string_view k) {
          keys.emplace(k);
          return false;
        });
      auto left = std::make_shared<std::size_t>(keys.size());
      auto finish = [this, gen, n = keys.size()] {
        if (gen != fx_repair_gen_) return;
        host_.log().warn("script effects lost: " + std::to_string(n) + " declared keys copied from the peer's Redis; " +
                         "keys the scripts wrote without declaring them may differ (tandemctl diag compare)");
        auto batch = std::exchange(fx_repair_batch_, {});
        fx_repairing_ = false;
        for (auto& op : batch) {
          op->done = true;  // the script's reply (the secondary's), now true of both servers for its KEYS
          op->session->pump();
        }
        if (!fx_repair_ops_.empty()) return fx_start_repair();
        open_gate(kGateRepair);
      };
      if (keys.empty()) return finish();
      for (const auto& key : keys) {
        // Nothing else writes meanwhile (writes are held), so the two reads
        // see the same state.
        auto ttl = std::make_shared<long long>(-2);
        std::string pexpiretime, dump;
        append_command(pexpiretime, {"PEXPIRETIME", key});
        append_command(dump, {"DUMP", key});
        secondary_->send_internal(pexpiretime, [ttl](const RespParser& r) {
          if (r.type() == RespType::integer) *ttl = r.integer();
        });
        secondary_->send_internal(dump, [this, gen, key, ttl, left, finish](const RespParser& r) {
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
          primary_->send_internal(copy, [this, key, left, finish](const RespParser& r2) {
            if (r2.is_error()) host_.log().error("script repair: copy of a key refused: " + std::string(r2.payload()));
            if (--*left == 0) finish();
          });
        });
      }
    });
  });
}

void Dispatcher::fx_abort_repair(const std::string& why) {
  if (!fx_repairing_ && fx_repair_ops_.empty()) return;
  ++fx_repair_gen_;  // its pending callbacks are dropped with the link, or ignored
  fx_repairing_ = false;
  auto batch = std::exchange(fx_repair_batch_, {});
  for (auto& op : std::exchange(fx_repair_ops_, {})) batch.push_back(op);
  for (auto& op : batch) fx_answer_lost(op, why, false);
  open_gate(kGateRepair);
}

}  // namespace tandem::kv
