#include "dispatcher.h"

#include <cctype>
#include <chrono>
#include <random>

#include "divergence.h"
#include "fence.h"
#include "plugin_util.h"
#include "reply_filter.h"
#include "session.h"

namespace tandem::kv {

namespace {
// A reply from the local Redis this large is moved to its client, not copied
// (RespParser::take_message); a closed client's unsent replies this large in
// all are freed off the io thread (BackgroundRelease).
constexpr std::size_t kTakeReply = 64u << 10;
constexpr std::size_t kReleaseElsewhere = 1u << 20;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Whether a blocking pop's non-blocking form found nothing to pop: a null,
// or on a retry (woken by a write to its keys) a key of another type, which
// Redis also skips for a blocked client (only the first try reports it).
// (A move whose source turned into another type is reported, unlike Redis.)
bool pops_nothing(const Op& op, const RespParser& r) {
  if (r.type() == RespType::nil) return true;
  // A move's WRONGTYPE on a retry is its destination's (the source was
  // written to, which woke it), which Redis reports to the blocked client.
  return op.block_retry && op.block != BlockKind::move && r.is_error() && r.payload().substr(0, 9) == "WRONGTYPE";
}

// A blocking pop's reply from its non-blocking form's (op.h BlockKind).
void blocking_reply(BlockKind kind, const RespParser& r, std::string& out) {
  std::string_view bytes = r.bytes();
  out.assign(bytes);
  if (kind == BlockKind::move || kind == BlockKind::mpop || kind == BlockKind::xread) return;
  if (r.type() != RespType::array || r.size() != 2 || r.element_type(0) != RespType::string) return;
  // [key, [elem]] -> [key, elem]; [key, [[member, score]]] -> [key, member, score]
  std::string key_bulk;
  append_bulk(key_bulk, r.element(0));
  constexpr std::string_view kHead = "*2\r\n";
  std::string_view rest = bytes.substr(kHead.size() + key_bulk.size());
  std::string_view inner = kind == BlockKind::list_pop ? "*1\r\n" : "*1\r\n*2\r\n";
  if (rest.substr(0, inner.size()) != inner) return;
  out.assign(kind == BlockKind::list_pop ? "*2\r\n" : "*3\r\n");
  out += key_bulk;
  out += rest.substr(inner.size());
}
// XREAD BLOCK's first try when it has '$' ids: the reply of MULTI; XREVRANGE
// key + - COUNT 1 ...; EXEC. Each '$' becomes its stream's last entry id
// (0-0 for a missing or empty stream), then the XREAD request is built.
void resolve_xread_dollars(Op& op, const RespParser& exec) {
  for (std::size_t j = 0; j < op.xread_dollar.size(); ++j) {
    std::string id = "0-0";
    if (j < exec.size() && exec.element_type(j) == RespType::array) {
      RespParser entries;
      auto enc = exec.element(j);
      entries.feed(enc.data(), enc.size());
      if (entries.next() == RespParser::Next::message && entries.size() >= 1 &&
          entries.element_type(0) == RespType::array) {
        RespParser entry;
        auto e = entries.element(0);
        entry.feed(e.data(), e.size());
        if (entry.next() == RespParser::Next::message && entry.size() >= 1) id.assign(entry.element(0));
      }
    }
    op.xread_argv[op.xread_dollar[j]] = id;
  }
  op.xread_dollar.clear();
  std::vector<std::string_view> view(op.xread_argv.begin(), op.xread_argv.end());
  op.request.clear();
  append_command(op.request, view);
  op.replies = 1;
}

std::string random_token() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> hex(0, 15);
  std::string t;
  for (int i = 0; i < 16; ++i) t += "0123456789abcdef"[hex(rd)];
  return t;
}

std::string client_name_safe(std::string name) {
  for (auto& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return name;
}
}  // namespace

std::string writer_name(sdk::HostContext& host) {
  return client_name_safe("tandem-" + host.node().name) + writer_suffix(host);
}

std::string writer_suffix(sdk::HostContext& host) { return client_name_safe("-" + host.store_name() + "-writer"); }

std::string_view to_string(PeerMode m) { return m == PeerMode::dual ? "dual" : "detached"; }

Dispatcher::Dispatcher(boost::asio::io_context& io, const Settings& settings, const Secrets& secrets,
                       sdk::HostContext& host, Journal& journal, IntentLog& intents, PeerMode mode, std::uint64_t epoch)
    : io_(io),
      settings_(settings),
      secrets_(secrets),
      host_(host),
      journal_(journal),
      intents_(intents),
      mode_(mode),
      epoch_(epoch),
      tick_timer_(io),
      fx_token_(random_token()),
      fx_hold_timer_(io),
      fx_tap_timer_(io) {
  primary_ = std::make_shared<BackendLink>(
      io, "local Redis " + settings.local.describe(), settings.local, secrets.local_password, settings.db, settings,
      BackendLink::Callbacks{
          [this](LinkToken& t, RespParser& r) { on_primary_reply(t, r); },
          [this](std::deque<LinkToken>& lost, const std::string& why) { on_primary_down(lost, why); },
          [this] {
            if (!primary_was_up_) host_.log().info("endpoint connected to " + primary_->name());
            primary_was_up_ = true;
            read_redis_version();
            if (on_link_up_) on_link_up_();
          },
          [this] { after_primary_batch(); }, [this] { flush_intents(); },
          [this](const RespParser& r) { return check_fence("local Redis", r); },
          [this](std::size_t n) { return release_.take_room(n); }},
      writer_name(host));
  secondary_ = std::make_shared<BackendLink>(
      io, "peer Redis " + settings.peer.describe(), settings.peer, secrets.peer_password, settings.db, settings,
      BackendLink::Callbacks{
          [this](LinkToken& t, const RespParser& r) { on_secondary_reply(t, r); },
          [this](std::deque<LinkToken>& lost, const std::string& why) { on_secondary_down(lost, why); },
          [this] { on_secondary_up(); }, nullptr, [this] { flush_intents(); },
          [this](const RespParser& r) { return check_fence("peer Redis", r); }, nullptr},
      writer_name(host));
  for (std::size_t i = 0; i < kBulkLinks; ++i) {
    // Reads only: no writer name (nothing of a predecessor's to kill), no
    // intents to flush, no fence to check (the shared link checks it).
    bulk_.push_back(std::make_shared<BackendLink>(
        io, "local Redis " + settings.local.describe() + " (bulk read link " + std::to_string(i + 1) + ")",
        settings.local, secrets.local_password, settings.db, settings,
        BackendLink::Callbacks{
            [this](LinkToken& t, RespParser& r) { on_primary_reply(t, r); },
            [this, i](std::deque<LinkToken>& lost, const std::string& why) { on_bulk_down(i, lost, why); },
            [this, i] { bulk_was_up_[i] = true; }, nullptr, nullptr, nullptr,
            [this](std::size_t n) { return release_.take_room(n); }}));
  }
  bulk_was_up_.assign(kBulkLinks, false);
  // Records left from before a restart must reach the peer before anything new.
  journal_route_ = !journal_.empty();
  replay_read_pos_ = journal_.replay_offset();
  cursor_key_ = std::string(kReservedPrefix) + "replay:" + writer_name(host);
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::release_later(std::vector<std::string>& pieces) {
  std::size_t bytes = 0;
  for (auto& p : pieces) bytes += p.capacity();
  if (bytes >= kReleaseElsewhere)
    release_.release(pieces);
  else
    std::vector<std::string>().swap(pieces);
}

void Dispatcher::start(std::function<void()> on_link_up) {
  on_link_up_ = std::move(on_link_up);
  primary_->start();
  secondary_->start();
  for (auto& b : bulk_) b->start();
  fx_start_tap();
  fx_local_tap_update();
  tick();
}

void Dispatcher::read_redis_version() {
  // HELLO's "version" is the local Redis's (clients pick features by it).
  std::string cmd;
  append_command(cmd, {"INFO", "server"});
  primary_->send_internal(cmd, [this](const RespParser& r) {
    if (r.type() != RespType::string) return;
    auto version = field(parse_info(r.payload()), "redis_version");
    if (!version.empty()) redis_version_ = std::move(version);
  });
}

void Dispatcher::stop() {
  tick_timer_.cancel();
  for (auto& op : std::exchange(blocked_, {})) {  // their sessions are closed next
    op->parked = false;
    op->done = true;
  }
  for (Session* s : std::unordered_set<Session*>(sessions_)) s->close();
  gated_.clear();
  for (Session* s : std::unordered_set<Session*>(sessions_)) s->abandon_ops();
  primary_->stop();
  secondary_->stop();
  for (auto& b : bulk_) b->stop();
  if (tap_) tap_->stop();
  if (local_tap_) local_tap_->stop();
  fx_local_tap_on_ = false;
  fx_local_inflight_.clear();
  fx_local_waiting_.reset();
  fx_local_deferred_.clear();
  ++fx_local_repair_gen_;
  fx_local_repairing_ = false;
  fx_inflight_.clear();
  fx_waiting_.reset();
  fx_deferred_.clear();
  fx_hold_timer_.cancel();
  fx_tap_timer_.cancel();
  fx_tap_waiters_.clear();
  fx_tap_waiting_sessions_.clear();
  fx_tap_resuming_ = false;
  ++fx_repair_gen_;
  fx_repairing_ = false;
  try {
    journal_.sync_now();
  } catch (const std::exception& e) {
    host_.log().error(std::string("journal: ") + e.what());
  }
  publish_stats();
  std::lock_guard l(stats_mu_);
  stats_.running = false;
}

std::string Dispatcher::check_fence(const char* which, const RespParser& r) {
  std::uint64_t marker = r.type() == RespType::string ? parse_epoch_marker(r.payload()) : 0;
  if (marker <= epoch_) return {};
  std::string why = std::string(which) + " carries epoch " + std::to_string(marker) + ", newer than this node's " +
                    std::to_string(epoch_) +
                    ": another node was promoted since; this node takes no writes and sends nothing to either Redis "
                    "until it rejoins";
  on_superseded(marker, why);
  return why;
}

void Dispatcher::on_superseded(std::uint64_t marker, const std::string& why) {
  if (superseded_by_) {
    superseded_by_ = std::max(superseded_by_, marker);
    return;
  }
  superseded_by_ = marker;
  superseded_reason_ = why;
  // The journal holds writes of a timeline that lost: replaying them would
  // overwrite the new primary's values. Moved aside (kept for inspection),
  // never replayed; rejoin resynchronises this node's Redis from the new primary.
  replay_inflight_ = 0;
  replay_times_.clear();
  try {
    std::filesystem::path aside;
    discarded_ += journal_.discard(now_ms(), &aside);
    discarded_file_ = aside.string();
  } catch (const std::exception& e) {
    journal_error_ = e.what();
    host_.log().error(std::string("journal: cannot move the superseded journal aside: ") + e.what());
  }
  replay_read_pos_ = journal_.replay_offset();
  journal_route_ = false;
  host_.log().warn("fenced by the epoch marker: " + why + "; " + std::to_string(discarded_) +
                   " journaled writes of this node's timeline are discarded, never sent to the peer" +
                   (discarded_file_.empty() ? std::string() : " (kept in " + discarded_file_ + ")"));
  std::deque<std::shared_ptr<Op>> held;
  held.swap(gated_);
  gate_ = 0;
  for (auto& op : held) {
    route(op);  // watchers and parked ops saw it when it was first routed
    op->session->pump();
  }
  publish_stats();
  host_.request_sync();  // the plugin stops the endpoint
}

void Dispatcher::fail_op(const std::shared_ptr<Op>& op, std::string_view error) {
  op->reply.clear();
  append_error(op->reply, error);
  op->done = true;
  ++refused_;
}

void Dispatcher::route_write(const std::shared_ptr<Op>& op) {
  LocalLane& lane = op->session->lane();
  lane.last_write = std::max(lane.last_write, op->seq);  // "Local links", rule 2
  // WATCH and blocking pops rely on the endpoint seeing every write, in the
  // order the secondary applies them (the order of this call).
  if (!watching_.empty() && op->block != BlockKind::xread)  // an XREAD changes nothing
    for (Session* s : watching_) s->touch_watch(op->keys);
  route(op);
  // A blocking op's own retry wakes nobody (it pops); a successful BLMOVE
  // wakes waiters on its destination when the secondary answers it.
  if (!blocked_.empty() && op->block == BlockKind::none && (op->keys.count || op->keys.all)) wake_parked(op->keys);
}

void Dispatcher::wake_parked(const IntentKeys& keys) {
  std::vector<std::shared_ptr<Op>> woken;
  for (auto& op : blocked_) {
    if (!op->keys.overlaps(keys)) continue;
    if (op->parked) {
      op->parked = false;
      op->block_retry = true;
      woken.push_back(op);
    } else {
      // In flight: it may have run before this write on the secondary; if it
      // pops nothing it is re-sent instead of parked (park()).
      op->wake_pending = true;
    }
  }
  // Each retry is routed after the write that woke it, so it sees its effect;
  // in the order they blocked (the first blocked is served first, as in Redis).
  for (auto& op : woken) route_write(op);
}

void Dispatcher::park(const std::shared_ptr<Op>& op) {
  op->session->on_parked();  // not forwarded to the primary (any more)
  if (op->block_expired || op->session->closed()) {
    op->reply = blocking_timeout_reply(*op);
    op->done = true;
    return;
  }
  if (demoting_)
    return fail_op(op, "TANDEMREADONLY this node is being demoted (switchover); send writes to the new primary");
  if (op->intent_seq) intents_.done(op->intent_seq);  // nothing in flight while parked
  op->intent_seq = 0;
  op->reply.clear();
  op->ready = false;
  if (op->wake_pending) {
    op->wake_pending = false;
    op->block_retry = true;
    return route_write(op);
  }
  op->parked = true;
}

bool Dispatcher::unpark(Op* op) {
  if (!op->parked) return false;
  op->parked = false;
  return true;
}

void Dispatcher::forget_blocking(Op* op) {
  for (auto it = blocked_.begin(); it != blocked_.end(); ++it)
    if (it->get() == op) {
      blocked_.erase(it);
      return;
    }
}

void Dispatcher::fail_parked(std::string_view error) {
  for (auto& op : std::vector<std::shared_ptr<Op>>(blocked_)) {
    if (!op->parked) continue;  // in flight: park() fails it when it comes back empty
    op->parked = false;
    fail_op(op, error);
    op->session->pump();
  }
}

void Dispatcher::set_demoting(bool d) {
  demoting_ = d;
  // Blocked clients would hold the drain forever: they get the error new writes get.
  if (d) fail_parked("TANDEMREADONLY this node is being demoted (switchover); send writes to the new primary");
}

void Dispatcher::route(const std::shared_ptr<Op>& op) {
  if (gate_) {
    gated_.push_back(op);
    return;
  }
  if (!fx_tap_waiters_.empty() && fx_tap_waiting_sessions_.count(op->session.get())) {
    fx_tap_waiters_.push_back(op);  // behind its client's script, which waits for the tap
    return;
  }
  ++writes_;
  if (demoting_)
    return fail_op(op, "TANDEMREADONLY this node is being demoted (switchover); send writes to the new primary");
  if (host_.fenced())
    return fail_op(op, "TANDEMFENCED the peer holds a higher epoch; this node must not take writes until it rejoins");
  if (superseded_by_)
    return fail_op(op, "TANDEMFENCED another node was promoted (epoch " + std::to_string(superseded_by_) +
                           "); this node must not take writes until it rejoins");
  if (!primary_->up())
    return fail_op(
        op, "TANDEMLOCAL local Redis " + settings_.local.describe() + " unreachable (" +
                (primary_->last_error().empty() ? std::string("not connected yet") : primary_->last_error()) + ")");
  if (mode_ == PeerMode::detached) {
    if (op->kind == OpKind::script && op->fx_block && !op->fx_framed) {
      // This Redis only: the client's block as it is.
      op->request.insert(0, kMultiCommand);
      op->request += kExecCommand;
      op->replies += 2;
      op->fx_framed = true;
    }
    op->ready = true;  // the peer's Redis is resynchronised in full when it rejoins
    return;
  }
  if (!intent_error_.empty())
    return fail_op(op, "TANDEMJOURNAL the intent log failed (" + intent_error_ + "); writes refused");
  if (!secondary_->up()) journal_route_ = true;  // whatever is journaled now must be replayed first
  if (op->kind == OpKind::script && !journal_route_) return route_script(op);
  if (!journal_route_) {
    note_intent(*op);
    LinkToken t;
    t.op = op;
    t.replies = op->replies;
    secondary_->send(op->request, std::move(t), op->proto);
    return;
  }
  if (settings_.peer_down == PeerDownPolicy::refuse) {
    if (secondary_->up())
      return fail_op(
          op, "TANDEMDOWN peer is catching up on journaled writes; writes refused until it has (peer_down=refuse)");
    return fail_op(op, "TANDEMDOWN peer unreachable; writes refused (peer_down=refuse)");
  }
  if (op->kind == OpKind::script) return route_script_local(op);
  take_journal_route(op);
}

void Dispatcher::take_journal_route(const std::shared_ptr<Op>& op) {
  // A write that waited for a silent peer past the node's fence (automatic
  // failover's self-fence comes before command_timeout may end): applied
  // and acknowledged here now, it would be a write after the fence, when the
  // peer may already be promoted. Not applied here; the peer may have it.
  if (host_.fenced())
    return fail_op(op,
                   "TANDEMFENCED this node was fenced while the write waited for the peer; not applied here "
                   "(the peer's Redis may have it)");
  if (!journal_error_.empty())
    return fail_op(op, "TANDEMJOURNAL the write journal failed (" + journal_error_ + "); writes refused");
  if (journal_.full())
    return fail_op(op, "TANDEMJOURNALFULL journal holds " + std::to_string(journal_.size_bytes()) +
                           " bytes (journal_max_size " + std::to_string(settings_.journal_max_size) +
                           "); writes refused until the peer is back and the journal drains");
  note_intent(*op);  // a write lost on the peer link keeps the intent it already has
  op->journal_on_reply = true;
  ++journal_ops_in_flight_;
  op->ready = true;
}

void Dispatcher::auth_failed(const std::string& remote) {
  ++auth_failures_.count;
  auto now = std::chrono::steady_clock::now();
  if (now - auth_failures_.last < std::chrono::seconds(10)) return;
  host_.log().warn("endpoint: " + std::to_string(auth_failures_.count) +
                   " failed AUTH attempts (wrong password) since the last report; latest from " + remote +
                   "; each is answered after auth_failure_delay");
  auth_failures_ = {0, now};
}

void Dispatcher::note_client_event(const std::string& what) {
  ++client_events_.count;
  auto now = std::chrono::steady_clock::now();
  if (now - client_events_.last < std::chrono::seconds(10)) return;
  host_.log().warn("endpoint: " + what +
                   (client_events_.count > 1
                        ? " (" + std::to_string(client_events_.count - 1) + " more such events since the last report)"
                        : std::string()));
  client_events_ = {0, now};
}

void Dispatcher::note_intent(Op& op) {
  if (op.intent_seq == 0) op.intent_seq = intents_.note(op.keys);
}

void Dispatcher::flush_intents() {
  // Runs just before either link writes to its socket: every intent of a
  // write in that batch reaches the file first.
  try {
    intents_.flush();
  } catch (const std::exception& e) {
    if (intent_error_.empty()) host_.log().error(std::string("intent log: ") + e.what() + "; writes refused");
    intent_error_ = e.what();
  }
}

int Dispatcher::pick_bulk_link(const LocalLane& lane) const {
  if (lane.link > 0 && lane.outstanding > 0 && bulk_[static_cast<std::size_t>(lane.link - 1)]->up()) return lane.link;
  int best = 0;
  std::size_t best_load = 0;
  for (std::size_t i = 0; i < bulk_.size(); ++i) {
    if (!bulk_[i]->up()) continue;
    if (best == 0 || bulk_[i]->outstanding() < best_load) {
      best = static_cast<int>(i + 1);
      best_load = bulk_[i]->outstanding();
    }
  }
  return best;
}

bool Dispatcher::send_primary(const std::shared_ptr<Op>& op) {
  LocalLane& lane = op->session->lane();
  int link = 0;  // writes, and the reads of clients with small replies: the shared link
  if (!op->is_write() && op->seq > lane.last_write && op->session->large_replies()) link = pick_bulk_link(lane);
  // Rule 1 of "Local links". A write never waits here: rule 3 kept it from
  // being routed while its client had reads on a bulk link, and rule 2 kept
  // every read routed before it off the bulk links since.
  if (lane.outstanding > 0 && link != lane.link && !op->is_write()) return false;
  op->ready = false;
  if (!primary_->up()) {
    if (op->journal_on_reply) {
      op->journal_on_reply = false;
      --journal_ops_in_flight_;
    }
    fail_op(op, "TANDEMLOCAL local Redis " + settings_.local.describe() + " unreachable (" +
                    (primary_->last_error().empty() ? std::string("not connected yet") : primary_->last_error()) + ")");
    return true;
  }
  BackendLink& to = link == 0 ? *primary_ : *bulk_[static_cast<std::size_t>(link - 1)];
  if (link != 0) ++bulk_reads_;
  lane.link = link;
  ++lane.outstanding;
  op->local_link = link;
  LinkToken t;
  t.op = op;
  if (!op->primary_request.empty()) {
    if (op->kind == OpKind::exec_write || op->kind == OpKind::script) t.replies = op->replies;  // with its effects
    to.send(op->primary_request, std::move(t), op->proto);
  } else {
    t.replies = op->replies;
    to.send(op->request, std::move(t), op->proto);
  }
  return true;
}

void Dispatcher::local_answered(Op& op) {
  if (op.local_link < 0) return;
  op.local_link = -1;
  LocalLane& lane = op.session->lane();
  if (lane.outstanding > 0) --lane.outstanding;
}

void Dispatcher::on_bulk_down(std::size_t i, std::deque<LinkToken>& lost, const std::string& why) {
  if (bulk_was_up_[i]) host_.log().warn(bulk_[i]->name() + " down: " + why + "; reads take the shared link meanwhile");
  bulk_was_up_[i] = false;
  for (auto& t : lost) {
    if (!t.op) continue;
    local_answered(*t.op);
    if (!t.op->done) fail_op(t.op, "TANDEMLOCAL connection to the local Redis lost (" + why + "); read not answered");
    t.op->session->pump();
  }
}

void Dispatcher::on_secondary_reply(LinkToken& t, const RespParser& r) {
  if (!t.op) return on_replay_reply(t, r);
  if (fx_waiting_) {
    // A script's block has not arrived: this reply is looked at after it.
    fx_deferred_.push_back({std::move(t), std::string(r.bytes()), nullptr});
    return;
  }
  secondary_reply(t, r);
}

void Dispatcher::secondary_reply(LinkToken& t, const RespParser& r) {
  if (t.op->kind == OpKind::script) return fx_on_reply(t.op, r);
  Op& op = *t.op;
  bool failed = r.is_error() || ((op.kind == OpKind::exec_write) && r.type() != RespType::array);
  if (op.block == BlockKind::xread && !op.xread_dollar.empty() && !failed) {
    resolve_xread_dollars(op, r);
    op.wake_pending = true;  // park() sends the XREAD itself at once
    park(t.op);
  } else if (op.block != BlockKind::none && pops_nothing(op, r)) {
    park(t.op);  // popped nothing on the secondary, so nothing on the primary either
  } else if (op.block == BlockKind::move && !failed) {
    op.ready = true;
    if (!blocked_.empty()) wake_parked(op.keys);  // it pushed to its destination
  } else if (failed) {
    // The secondary refused (e.g. WRONGTYPE) or aborted the transaction:
    // the primary is not asked, so nothing diverged.
    op.reply.assign(r.bytes());
    op.done = true;
  } else if (op.kind == OpKind::exec_write && !op.queued_effects.empty()) {
    op.primary_request = block_with_effects(op.request, op.queued_effects, r);
    op.reply.assign(r.bytes());  // the client sees what was popped / the ids generated
    op.ready = true;
  } else if (op.kind == OpKind::effect) {
    op.primary_request = effect_request(op.effect, r);
    op.reply.assign(r.bytes());  // the client sees what was popped / the id generated
    if (op.primary_request.empty())
      op.done = true;  // it changed nothing
    else
      op.ready = true;
  } else {
    op.ready = true;
  }
  op.session->pump();
}

bool Dispatcher::held_write_changed(const Op& op, const RespParser& r) const {
  if (op.barrier || op.block == BlockKind::xread) return false;  // a PING, an XREAD: they write nothing
  if (r.is_error() || (op.kind == OpKind::exec_write && r.type() != RespType::array)) return false;  // refused
  return !(op.block != BlockKind::none && pops_nothing(op, r));
}

void Dispatcher::answer_copied(const std::shared_ptr<Op>& op, const RespParser& r) {
  // What the primary would have answered had it applied the write after the
  // same writes as the secondary, which its copied keys now say it did.
  if (op->block != BlockKind::none)
    blocking_reply(op->block, r, op->reply);
  else
    op->reply.assign(r.bytes());
  op->done = true;
  if (op->block == BlockKind::move && !blocked_.empty()) wake_parked(op->keys);  // it pushed to its destination
  op->session->pump();
}

void Dispatcher::on_secondary_down(std::deque<LinkToken>& lost, const std::string& why) {
  if (peer_was_up_ || !journal_route_) {
    host_.log().warn("peer Redis " + settings_.peer.describe() + " down: " + why +
                     (settings_.peer_down == PeerDownPolicy::journal ? "; journaling writes" : "; refusing writes"));
  }
  peer_was_up_ = false;
  if (mode_ == PeerMode::dual) journal_route_ = true;
  fx_local_tap_update();  // scripts are journaled by the effects the local Redis's stream shows
  replay_inflight_ = 0;
  replay_times_.clear();
  replay_read_pos_ = journal_.replay_offset();
  cursor_known_ = false;  // batches in flight may have been applied: ask the peer again
  awaiting_cursor_ = false;
  // Replies already in, held behind a script's block, were applied on the
  // secondary before the lost ones: forwarded first, in order.
  fx_abort_repair("the link to the peer's Redis was lost: " + why);
  fx_lose_all("the link to the peer's Redis was lost: " + why, false);
  // Writes the peer may or may not have applied: journal them (in both
  // policies) so the peer surely gets them; see README "Failure modes".
  for (auto& t : lost) {
    if (!t.op) continue;
    auto& op = t.op;
    if (op->kind == OpKind::script) {
      fx_inflight_.erase(op->fx_seq);
      fail_op(op, "TANDEMDOWN peer link lost while a script ran there; outcome unknown, nothing applied locally");
    } else if (op->kind == OpKind::exec_write && !op->queued_effects.empty()) {
      fail_op(op,
              "TANDEMDOWN peer link lost while a transaction with SPOP or XADD '*' ran there; outcome unknown, "
              "nothing applied locally");
    } else if (op->kind == OpKind::effect) {
      // Journaling the command would make the peer generate its own
      // pops/id; its outcome there is unknown, so the client is told.
      fail_op(op, "TANDEMDOWN peer link lost while " + std::string(effect_command(op->effect)) +
                      " ran there; outcome unknown, nothing applied locally");
    } else {
      take_journal_route(op);
    }
    op->session->pump();
  }
  // Writes held for a drain must not wait for a peer that is gone: they take the journal route.
  if (gate_ & kGateDrain) open_gate(kGateDrain);
}

void Dispatcher::on_secondary_up() {
  host_.log().info("endpoint connected to " + secondary_->name());
  peer_was_up_ = true;
  if (on_link_up_) on_link_up_();
  if (mode_ != PeerMode::dual) return;
  replay_read_pos_ = journal_.replay_offset();
  if (journal_route_) pump_replay();
}

void Dispatcher::on_primary_reply(LinkToken& t, RespParser& r) {
  Op& op = *t.op;
  if (op.local_link == 0 && r.bytes().size() >= kTakeReply) ++shared_large_replies_;
  local_answered(op);
  if (op.journal_on_reply && (fx_local_waiting_ || op.fx_local)) {
    // Journal route: a script's effects block is not in yet; the journal
    // gets every record in this link's order, so later ones wait for it.
    if (!fx_local_waiting_) return fx_local_on_reply(t.op, r);
    fx_local_deferred_.push_back({std::move(t), std::string(r.bytes()), nullptr});
    return;
  }
  if (op.journal_on_reply) {
    op.journal_on_reply = false;
    --journal_ops_in_flight_;
    journal_effect(op, r);
  }
  if (!op.done && op.block == BlockKind::xread && !op.xread_dollar.empty() && r.type() == RespType::array) {
    resolve_xread_dollars(op, r);  // journal route: the first try ran on this Redis only
    op.wake_pending = true;        // park() sends the XREAD itself at once
    park(t.op);
  } else if (!op.done) {
    if (op.kind == OpKind::script && op.fx_dual) {
      // The client has the secondary's answer; the primary applied the effects.
      bool ok = r.type() == RespType::array;
      for (std::size_t i = 0; ok && i < r.size(); ++i) ok = r.element_type(i) != RespType::error;
      if (!ok) host_.log().error("script effects failed on the local Redis: " + std::string(r.bytes().substr(0, 200)));
    } else if (op.kind == OpKind::effect && !op.reply.empty()) {
      if (r.is_error())
        host_.log().error(std::string(effect_command(op.effect)) +
                          " effect failed on the local Redis: " + std::string(r.payload()));
    } else if (op.kind == OpKind::exec_write && !op.queued_effects.empty() && !op.reply.empty()) {
      if (r.type() != RespType::array)
        host_.log().error("transaction with SPOP/XADD effects failed on the local Redis: " + std::string(r.bytes()));
    } else if (op.barrier) {
      op.reply = r.is_error() ? std::string(r.bytes()) : std::string("+OK\r\n");
    } else if (op.block != BlockKind::none && pops_nothing(op, r)) {
      park(t.op);  // journal route or detached: it ran on this Redis only, and popped nothing
    } else if (op.block != BlockKind::none) {
      blocking_reply(op.block, r, op.reply);
    } else if (op.filter_config) {
      filter_config_get_reply(r, op.reply);
    } else if (op.info) {
      info_with_blocked_clients(r, blocked_.size(), op.reply);
    } else if (r.bytes().size() >= kTakeReply) {
      op.reply = r.take_message();  // moved, not copied (the io thread serves everyone)
      ++replies_moved_;
    } else {
      op.reply.assign(r.bytes());
    }
    if (!op.parked) op.done = true;
  }
  op.session->pump();
  if (journal_ops_in_flight_ == 0 && journal_route_) pump_replay();
}

void Dispatcher::journal_effect(Op& op, const RespParser& r) {
  if (op.barrier || op.block == BlockKind::xread) return;  // a PING, an XREAD: nothing to replay
  bool applied = !r.is_error() && !(op.kind == OpKind::exec_write && r.type() != RespType::array);
  if (!applied) return;
  if (superseded_by_) return journal_record(op, {}, 0);  // discarded, not journaled
  std::string effect;
  std::uint32_t replies = op.replies;
  if (op.kind == OpKind::effect) {
    effect = op.primary_request.empty() ? effect_request(op.effect, r) : op.primary_request;
    replies = 1;
    if (effect.empty()) return;
  } else if (op.kind == OpKind::exec_write && !op.queued_effects.empty()) {
    effect = op.primary_request.empty() ? block_with_effects(op.request, op.queued_effects, r) : op.primary_request;
  }
  journal_record(op, effect.empty() ? std::string_view(op.request) : std::string_view(effect), replies);
}

void Dispatcher::journal_record(Op& op, std::string_view record, std::uint32_t replies) {
  if (superseded_by_) {
    // Applied here after another node was promoted: it is not journaled for
    // the peer (that is the new primary now) and rejoin discards it here.
    ++discarded_;
    op.reply.clear();
    append_error(op.reply, "TANDEMFENCED applied on this node's Redis only after another node was promoted (epoch " +
                               std::to_string(superseded_by_) + "); discarded when this node rejoins");
    op.done = true;
    return;
  }
  try {
    journal_.append(record, replies, now_ms());
    journal_dirty_ = true;
  } catch (const std::exception& e) {
    journal_error_ = e.what();
    host_.log().error(std::string("journal append failed: ") + e.what());
    op.reply.clear();
    append_error(op.reply,
                 "TANDEMJOURNAL write applied locally but could not be journaled for the peer: " + journal_error_);
    op.done = true;
  }
}

void Dispatcher::after_primary_batch() {
  if (!journal_dirty_) return;
  journal_dirty_ = false;
  try {
    journal_.commit();  // before any reply of this batch leaves (replies are flushed by posted handlers)
  } catch (const std::exception& e) {
    journal_error_ = e.what();
    host_.log().error(std::string("journal fsync failed: ") + e.what());
  }
}

void Dispatcher::on_primary_down(std::deque<LinkToken>& lost, const std::string& why) {
  fx_abort_repair("the link to the local Redis was lost: " + why);
  fx_local_abort("the link to the local Redis was lost: " + why);
  if (primary_was_up_) host_.log().error(primary_->name() + " down: " + why);
  primary_was_up_ = false;
  for (auto& t : lost) {
    if (!t.op) continue;
    auto& op = t.op;
    local_answered(*op);
    if (op->journal_on_reply) {
      op->journal_on_reply = false;
      --journal_ops_in_flight_;
    }
    if (!op->done) fail_op(op, "TANDEMLOCAL connection to the local Redis lost (" + why + "); outcome unknown");
    op->session->pump();
  }
}

void Dispatcher::request_replay_cursor() {
  if (awaiting_cursor_) return;
  awaiting_cursor_ = true;
  std::string cmd;
  append_command(cmd, {"GET", cursor_key_});
  // Dropped unanswered if the link fails; on_secondary_down clears the flag.
  secondary_->send_internal(cmd, [this](const RespParser& r) {
    awaiting_cursor_ = false;
    peer_applied_ = 0;
    if (r.type() == RespType::string) {
      auto v = r.payload();
      auto colon = v.rfind(':');
      if (colon != std::string_view::npos && v.substr(0, colon) == journal_.id())
        peer_applied_ = parse_epoch_marker(v.substr(colon + 1));  // a plain decimal, like the marker
    }
    cursor_known_ = true;
    pump_replay();
  });
}

void Dispatcher::pump_replay() {
  if (!secondary_->up() || mode_ != PeerMode::dual || !journal_route_ || superseded_by_) return;
  if (!cursor_known_) return request_replay_cursor();
  // Records go in batches of up to kBatch, each one MULTI on the peer that
  // also moves the peer-side cursor: the records and the cursor are applied
  // together or not at all, so a crash or a link loss at any point never
  // applies a record twice (INCR, RPUSH) and never skips one. A record that
  // is itself a transaction gets the cursor SET inside its own MULTI.
  constexpr std::uint32_t kBatch = 64;
  struct Batch {
    std::string bytes;
    std::uint32_t replies = 0, records = 0;
    std::uint64_t last_seq = 0, last_end = 0;
  } batch;
  std::uint64_t skipped = 0;
  auto cursor_set = [this](std::string& out, std::uint64_t seq) {
    append_command(out, {"SET", cursor_key_, journal_.id() + ":" + std::to_string(seq)});
  };
  auto send = [this](std::string_view bytes, std::uint32_t replies, std::uint32_t records, std::uint64_t seq,
                     std::uint64_t end) {
    LinkToken t;
    t.replay_seq = seq;
    t.replay_end = end;
    t.replay_records = records;
    t.replies = replies;
    secondary_->send(bytes, std::move(t));
    replay_inflight_ += records;
  };
  auto send_batch = [&] {
    if (batch.records == 0) return;
    cursor_set(batch.bytes, batch.last_seq);
    batch.bytes += kExecCommand;
    // +OK for MULTI, one QUEUED per reply of the records and for the SET, then EXEC's array.
    send(batch.bytes, batch.replies + 3, batch.records, batch.last_seq, batch.last_end);
    batch = Batch{};
  };
  try {
    while (replay_inflight_ < 512) {
      auto records = journal_.read_from(replay_read_pos_, 512 - replay_inflight_);
      if (records.empty()) break;
      for (auto& rec : records) {
        replay_read_pos_ = rec.end_offset;
        if (rec.seq <= peer_applied_) {
          // Applied on the peer before a crash or a link loss (its cursor says so).
          journal_.mark_replayed(rec.seq, rec.end_offset, std::nullopt);
          ++skipped;
          continue;
        }
        replay_times_.push_back(rec.time_ms);
        std::string_view p = rec.payload;
        if (rec.replies > 1 && p.substr(0, kMultiCommand.size()) == kMultiCommand && p.size() >= kExecCommand.size() &&
            p.substr(p.size() - kExecCommand.size()) == kExecCommand) {
          send_batch();
          std::string tx(p.substr(0, p.size() - kExecCommand.size()));
          cursor_set(tx, rec.seq);
          tx += kExecCommand;
          send(tx, rec.replies + 1, 1, rec.seq, rec.end_offset);
          continue;
        }
        if (batch.records == 0) batch.bytes = kMultiCommand;
        batch.bytes += p;
        batch.replies += rec.replies;
        batch.last_seq = rec.seq;
        batch.last_end = rec.end_offset;
        if (++batch.records == kBatch) send_batch();
      }
      send_batch();
    }
  } catch (const std::exception& e) {
    journal_error_ = e.what();
    host_.log().error(std::string("journal replay stopped: ") + e.what());
    return;
  }
  if (skipped)
    host_.log().info("journal replay: " + std::to_string(skipped) +
                     " records were already applied on the peer (its replay cursor says so); skipped");
  check_replay_done();
}

void Dispatcher::on_replay_reply(LinkToken& t, const RespParser& r) {
  const std::uint32_t records = std::max<std::uint32_t>(1, t.replay_records);
  replay_inflight_ -= std::min<std::uint64_t>(replay_inflight_, records);
  replayed_ += records;
  auto report = [&](std::string_view what) {
    if (++replay_errors_ <= 10)
      host_.log().error("journal records up to " + std::to_string(t.replay_seq) + " on the peer: " + std::string(what) +
                        " (the stores may differ; see diag compare)");
  };
  if (r.is_error()) {
    report("the batch was refused, nothing of it applied: " + std::string(r.payload()));  // e.g. EXECABORT, OOM
  } else if (r.type() == RespType::array) {
    for (std::size_t i = 0; i < r.size(); ++i)
      if (r.element_type(i) == RespType::error) report("a record failed: " + std::string(r.element(i)));
  }
  for (std::uint32_t i = 0; i < records && !replay_times_.empty(); ++i) replay_times_.pop_front();
  std::optional<std::int64_t> next;
  if (!replay_times_.empty()) next = replay_times_.front();
  try {
    journal_.mark_replayed(t.replay_seq, t.replay_end, next);
  } catch (const std::exception& e) {
    host_.log().warn(std::string("journal cursor not saved: ") + e.what());
  }
  if (replay_inflight_ < 256) pump_replay();
}

void Dispatcher::check_replay_done() {
  if (replay_inflight_ != 0 || replay_read_pos_ < journal_.size_bytes()) return;
  if (journal_ops_in_flight_ > 0) {
    // Writes still on their way to the journal: hold new ones so the journal
    // can run dry; released when these are journaled and replayed.
    close_gate(kGateDrain);
    return;
  }
  try {
    journal_.reset_after_replay();
  } catch (const std::exception& e) {
    journal_error_ = e.what();
    host_.log().error(std::string("journal truncate failed: ") + e.what());
    return;
  }
  // The peer has everything: its cursor key is no longer needed (it is not
  // application data, and the local Redis has none). Left behind by a crash
  // here, it is harmless: later records have higher sequence numbers.
  if (secondary_->up()) {
    std::string del;
    append_command(del, {"DEL", cursor_key_});
    secondary_->send_internal(del, [](const RespParser&) {});
  }
  journal_route_ = false;
  fx_local_tap_update();  // not needed any more
  host_.log().info("journal drained: the peer has every write; dual writes resumed");
  open_gate(kGateDrain);
}

void Dispatcher::close_gate(unsigned reason) { gate_ |= reason; }

void Dispatcher::open_gate(unsigned reason) {
  gate_ &= ~reason;
  if (gate_) return;
  std::deque<std::shared_ptr<Op>> held;
  held.swap(gated_);
  for (auto& op : held) {
    route(op);  // watchers and parked ops saw it when it was first routed
    op->session->pump();
  }
}

void Dispatcher::set_mode(PeerMode m) {
  mode_ = m;
  if (m == PeerMode::dual) {
    fx_start_tap();
    journal_route_ = !journal_.empty() || !secondary_->up();
    fx_local_tap_update();
    if (journal_route_) pump_replay();
  } else {
    journal_route_ = false;
    if (tap_) tap_->stop();  // the peer is not written until it rejoins
    fx_local_abort("the peer was detached");
    fx_local_tap_update();
    fx_abort_repair("the peer was detached");
    fx_lose_all("the peer was detached");
    fx_release_tap_waiters();  // routed as in detached mode
  }
}

void Dispatcher::pause_writes(std::function<void()> then) {
  close_gate(kGateControl);
  if (!primary_->up()) {
    then();
    return;
  }
  // Writes already sent were queued on the primary link before this PING:
  // its reply means they are all applied.
  std::string ping;
  append_command(ping, {"PING"});
  primary_->send_internal(ping, [then = std::move(then)](const RespParser&) { then(); });
}

void Dispatcher::resume_writes() { open_gate(kGateControl); }

void Dispatcher::tick() {
  // Safety net: resume a replay that waited for journal-route writes to finish.
  if (journal_route_ && replay_inflight_ == 0 && journal_ops_in_flight_ == 0) pump_replay();
  fx_local_tap_update();
  if (settings_.journal_fsync == JournalFsync::everysec) {
    try {
      journal_.sync_now();
    } catch (const std::exception& e) {
      journal_error_ = e.what();
    }
  }
  auto now = std::chrono::steady_clock::now();
  fx_park_tap_if_idle(now);
  if (settings_.intent_fsync == JournalFsync::everysec && now - last_intent_sync_ >= std::chrono::seconds(1)) {
    last_intent_sync_ = now;
    try {
      intents_.sync_now();
    } catch (const std::exception& e) {
      intent_error_ = e.what();
    }
  }
  publish_stats();
  tick_timer_.expires_after(std::chrono::milliseconds(settings_.journal_fsync == JournalFsync::everysec ? 1000 : 200));
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void Dispatcher::probe_keys(std::vector<std::string> keys, ProbeDone done) {
  if (mode_ != PeerMode::dual || journal_route_ || !secondary_->up() || !primary_->up() || gate_)
    return done({}, "the pair is not in plain dual writes (journaling, a link down, or writes held)");
  struct Probe {
    std::vector<std::pair<std::string, std::string>> digests;
    std::size_t left;
    ProbeDone done;
  };
  auto probe = std::make_shared<Probe>();
  probe->digests.resize(keys.size());
  probe->left = keys.size();
  probe->done = std::move(done);
  if (keys.empty()) return probe->done({}, "");
  auto text = [](const RespParser& r) {
    return r.is_error() ? "error: " + std::string(r.payload()) : std::string(r.payload());
  };
  for (std::size_t i = 0; i < keys.size(); ++i) {
    std::string request;
    append_command(request, {"EVAL", key_digest_script(), "1", keys[i]});
    secondary_->send_internal(request, [this, probe, i, request, text](const RespParser& r) {
      probe->digests[i].second = text(r);
      // Forwarded now, inside the secondary's reply loop, exactly as a write
      // is: the primary link sees it after the same writes.
      auto forward = [this, probe, i, request, text] {
        if (!primary_->up()) return;  // the probe is abandoned; the caller times out
        primary_->send_internal(request, [probe, i, text](const RespParser& r2) {
          probe->digests[i].first = text(r2);
          if (--probe->left == 0) probe->done(std::move(probe->digests), "");
        });
      };
      if (fx_waiting_)
        fx_deferred_.push_back({{}, {}, std::move(forward)});  // behind the held writes, as a write would be
      else
        forward();
    });
  }
}

void Dispatcher::refresh_stats() { publish_stats(); }

void Dispatcher::publish_stats() {
  EndpointStats s;
  s.running = true;
  s.local_up = primary_->up();
  s.peer_up = secondary_->up();
  s.local_error = primary_->last_error();
  s.peer_error = secondary_->last_error();
  s.mode = mode_;
  s.journaling = journal_route_;
  s.journal_depth = journal_.depth();
  s.journal_bytes = journal_.size_bytes();
  s.journal_oldest_ms = journal_.oldest_time_ms();
  s.journal_full = journal_.full();
  s.journal_error = journal_error_.empty() && !intent_error_.empty() ? "intent log: " + intent_error_ : journal_error_;
  s.writes = writes_;
  s.reads = reads_;
  s.refused = refused_;
  s.replayed = replayed_;
  s.replay_errors = replay_errors_;
  s.bulk_reads = bulk_reads_;
  s.replies_moved = replies_moved_;
  s.clients_paced = clients_paced_;
  s.shared_large_replies = shared_large_replies_;
  s.bytes_freed_off_io_thread = release_.released_bytes();
  s.prepared_rooms_used = release_.rooms_taken();
  s.clients = sessions_.size();
  s.writes_paused = gate_ != 0;
  s.demoting = demoting_;
  s.ops_in_flight = ops_in_flight_;
  s.superseded_by = superseded_by_;
  s.superseded_reason = superseded_reason_;
  s.discarded = discarded_;
  s.discarded_file = discarded_file_;
  if (mode_ == PeerMode::dual && journal_route_)
    s.script_tap =
        "journaling, local Redis: " + (!fx_local_tap_on_                                 ? std::string("parked")
                                       : local_tap_ && local_tap_->streaming()           ? std::string("streaming")
                                       : !fx_local_stall_note_.empty()                   ? fx_local_stall_note_
                                       : !local_tap_ || local_tap_->last_error().empty() ? std::string("connecting")
                                                                                         : local_tap_->last_error());
  else if (!tap_ || mode_ != PeerMode::dual)
    s.script_tap = "off";
  else if (fx_tap_parked_)
    s.script_tap = "parked";
  else if (tap_->streaming())
    s.script_tap = "streaming";
  else if (!fx_stall_note_.empty())
    s.script_tap = fx_stall_note_;
  else
    s.script_tap = tap_->last_error().empty() ? "connecting" : tap_->last_error();
  std::lock_guard l(stats_mu_);
  stats_ = std::move(s);
}

EndpointStats Dispatcher::stats() const {
  std::lock_guard l(stats_mu_);
  return stats_;
}

}  // namespace tandem::kv
