// The write path of the endpoint: one pipelined link to each Redis, shared by
// all clients, and the rules that keep both servers applying the same writes
// in the same order.
//
// Ordering argument: every write goes to the secondary link first; replies on
// a link come back in order, and a write is forwarded to the primary link as
// soon as its secondary reply arrives (a session's earlier operations have all
// been forwarded by then, because they were sent earlier on the same links).
// So the primary applies writes in exactly the order the secondary did, across
// all clients. While the peer is down (policy journal) a write goes to the
// primary only and its effect is journaled when the primary's reply arrives,
// i.e. in the primary's order; replay sends the journal in that order before
// any new write reaches the peer.
//
// Local links: the shared link to the local Redis carries every write (in
// the order above) and the reads of most clients; the reads of a client with
// large replies (Session::large_replies) take one of a few bulk read links,
// so that its replies do not delay everyone's on the shared one. Per client
// (its LocalLane), three rules keep the order of a single connection; why
// they do is argued in README.md "Bulk read links for large replies":
//  1. its operations outstanding at the local Redis are on one link at a
//     time; a read that would change links waits until they are answered;
//  2. a read goes to a bulk link only if no write of its client was routed
//     after it (Op::seq > LocalLane::last_write);
//  3. a command that may route a write is not parsed while its client has
//     reads outstanding on a bulk link, nor, if its replies are large, while
//     anything before it is not forwarded (Session::must_wait_for_bulk_reads).
// Only reads ever wait, never a write: the write order is unchanged.
//
// Scripts (EVAL/EVALSHA/FCALL, or a MULTI block holding one; README
// "Scripts and functions"): the secondary runs MULTI; PUBLISH __tandem:fx
// <token>:<n>; <the script>; EXEC on the shared link, and a replication tap
// on the secondary (replication_tap.h) reads the block that marker opens in
// its stream: the script's effects, as Redis computed them. The primary gets
// MULTI <effects> EXEC. While a script's secondary reply is in but its block
// is not, every later secondary reply is held (fx_deferred_) and processed,
// in order, once the block was sent to the primary: so the primary still
// applies everything in the secondary's order, and the argument above holds.
// The hold costs commands that are not scripts one branch on an empty pointer.
// It lasts at most command_timeout (a tap connected but silent): then the
// lost scripts' keys are repaired before any held reply is released
// (fx_begin_repair), and the tap is restarted.
// The tap itself costs every write: the secondary's Redis feeds its
// replication buffer for it and sends it the whole stream, and the io thread
// reads it. So it is started by the first script, parks after
// script_tap_idle without one, and the next script resumes it
// (fx_wait_for_tap) at the stream's current end; that script and its
// client's later writes wait meanwhile, so its block is read like any other.
//
// Everything here runs on the endpoint's io thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "backend_link.h"
#include "background_release.h"
#include "intent_log.h"
#include "journal.h"
#include "op.h"
#include "replication_tap.h"
#include "settings.h"
#include "tandem/sdk/host_context.h"

namespace tandem::kv {

// dual: the peer's Redis receives every write (directly, or via the journal).
// detached: after an unplanned failover the peer's Redis is stale; writes go to
// this node's Redis only until the peer rejoins (a full resync, then dual).
enum class PeerMode { dual, detached };
std::string_view to_string(PeerMode m);

// CLIENT SETNAME of this endpoint's shared links: unique to this node's store,
// so a restarted endpoint can find and kill the links of its crashed
// predecessor before it writes (their unread commands must not run later).
std::string writer_name(sdk::HostContext& host);
// The common end of every node's writer name for this store ("-<store>-writer"):
// a promotion kills the other nodes' writers by it (fence.h).
std::string writer_suffix(sdk::HostContext& host);

struct EndpointStats {
  bool running = false;
  bool local_up = false;
  bool peer_up = false;
  std::string local_error;
  std::string peer_error;
  PeerMode mode = PeerMode::dual;
  bool journaling = false;  // writes take the journal route
  std::uint64_t journal_depth = 0;
  std::uint64_t journal_bytes = 0;
  std::optional<std::int64_t> journal_oldest_ms;
  bool journal_full = false;
  std::string journal_error;
  std::uint64_t writes = 0, reads = 0, refused = 0, replayed = 0, replay_errors = 0;
  std::uint64_t bulk_reads = 0;                 // reads sent on a bulk read link ("Local links")
  std::uint64_t shared_large_replies = 0;       // replies of 64 KiB or more that came on the shared local link
  std::uint64_t replies_moved = 0;              // large replies handed from a link to a client without a copy
  std::uint64_t clients_paced = 0;              // times a client's requests stopped being read at its soft limit
  std::uint64_t bytes_freed_off_io_thread = 0;  // closed clients' unsent replies freed by BackgroundRelease
  std::uint64_t prepared_rooms_used = 0;        // large replies received into memory faulted in off the io thread
  std::size_t clients = 0;
  bool writes_paused = false;
  bool demoting = false;
  std::size_t ops_in_flight = 0;
  // A Redis showed an epoch marker above this endpoint's epoch (fence.h):
  // another node was promoted; no write is taken, sent to the peer or replayed.
  std::uint64_t superseded_by = 0;
  std::string superseded_reason;
  std::uint64_t discarded = 0;  // writes of this timeline discarded since (journal records + late journal-route writes)
  std::string discarded_file;   // where the discarded journal was moved ("" when it was empty)
  std::string script_tap;       // the replication tap scripts need: "streaming", "off", or why not
};

struct Secrets {
  std::string local_password;
  std::string peer_password;
  std::string client_password;
};

class Dispatcher {
 public:
  Dispatcher(boost::asio::io_context& io, const Settings& settings, const Secrets& secrets, sdk::HostContext& host,
             Journal& journal, IntentLog& intents, PeerMode mode, std::uint64_t epoch);
  ~Dispatcher();

  // `on_link_up` runs (io thread) whenever a backend link comes up.
  void start(std::function<void()> on_link_up);
  void stop();
  // The links the current mode writes through: detached (after a failover,
  // the peer is presumed gone) needs only the local Redis.
  bool links_up() const { return primary_->up() && (mode_ == PeerMode::detached || secondary_->up()); }

  // --- used by sessions ---
  const Settings& settings() const { return settings_; }
  const Secrets& secrets() const { return secrets_; }
  void register_session(Session* s) { sessions_.insert(s); }
  void unregister_session(Session* s) { sessions_.erase(s); }
  std::size_t client_count() const { return sessions_.size(); }
  const std::unordered_set<Session*>& sessions() const { return sessions_; }
  // Decide where a new write goes (secondary, journal route, gate, or an error reply).
  void route_write(const std::shared_ptr<Op>& op);
  // WATCH: every write routed from now on is shown to the session (touch_watch).
  void watch(Session* s) { watching_.insert(s); }
  void unwatch(Session* s) { watching_.erase(s); }
  // A parked blocking op leaves the waiting list; false if it was not parked
  // (a retry is in flight, or it is done).
  bool unpark(Op* op);
  // A blocking op is waiting (from its first send until it is answered).
  void add_blocking(const std::shared_ptr<Op>& op) { blocked_.push_back(op); }
  void forget_blocking(Op* op);
  // Send a ready operation to the primary's Redis (or fail it if that is
  // down), on the local link its session's lane allows ("Local links").
  // false: a read that must wait for its session's outstanding operations
  // on another link (nothing sent; the session's pump() retries when they
  // are answered). Always true for a write.
  bool send_primary(const std::shared_ptr<Op>& op);
  void count_read() { ++reads_; }
  void count_paced() { ++clients_paced_; }  // a client's reads paused at its soft limit (README "Limits")
  // The local Redis's version (INFO server), for HELLO.
  const std::string& redis_version() const { return redis_version_; }
  void op_started() { ++ops_in_flight_; }
  void op_finished() { --ops_in_flight_; }
  // A closed client's unsent replies: freed here when small, else on
  // another thread (background_release.h); `pieces` is left empty.
  void release_later(std::vector<std::string>& pieces);
  // A wrong AUTH from `remote`; logged at most once per 10 s with the count.
  void auth_failed(const std::string& remote);
  // A client was disconnected by a limit; logged at most once per 10 s with the count.
  void note_client_event(const std::string& what);
  // A write with a noted intent settled (its reply is known).
  void intent_settled(std::uint64_t seq) { intents_.done(seq); }

  // --- control (io thread) ---
  void set_mode(PeerMode m);
  PeerMode mode() const { return mode_; }
  // Hold new writes (queued, not failed) until resume_writes. `then` runs once
  // every write already sent has been answered by the primary.
  void pause_writes(std::function<void()> then);
  void resume_writes();
  // Refuse new writes (switchover): the node is being demoted.
  void set_demoting(bool d);
  // Reads each key's digest (divergence.h) on both servers at the same point
  // of the write order: the read goes to the secondary link like a write and
  // is forwarded to the primary link when its reply arrives, so both reads
  // follow exactly the same writes. `done` gets (local, peer) digests in key
  // order, or an error text when the pair is not in plain dual writes. It is
  // never called if a link drops the probes (the caller times out).
  using ProbeDone = std::function<void(std::vector<std::pair<std::string, std::string>>, std::string error)>;
  void probe_keys(std::vector<std::string> keys, ProbeDone done);
  EndpointStats stats() const;  // any thread (published every tick)
  void refresh_stats();         // io thread: publish now

 private:
  // A secondary (or, journal route, local) reply held behind a script's block.
  struct FxDeferred {
    LinkToken token;
    std::string reply;
    std::function<void()> then;  // a probe's forward to the primary, instead of a reply
    bool covered = false;        // a repair copies its keys: answered with `reply`, not forwarded
  };
  // Where a tap's stream is: inside a MULTI; the marker's number (0: not ours).
  struct FxStream {
    bool in_multi = false;
    bool first = false;
    std::uint64_t block_seq = 0;
    std::string effects;
    std::uint32_t count = 0;
    bool select = false;
  };
  enum GateReason : unsigned { kGateDrain = 1, kGateControl = 2, kGateRepair = 4, kGateLocalRepair = 16 };
  void fail_op(const std::shared_ptr<Op>& op, std::string_view error);
  void read_redis_version();
  void route(const std::shared_ptr<Op>& op);
  // A blocking op popped nothing: it waits (parked) for a write to its keys.
  void park(const std::shared_ptr<Op>& op);
  // A write to `keys` was routed: parked ops on them retry, after it.
  void wake_parked(const IntentKeys& keys);
  void fail_parked(std::string_view error);
  void on_secondary_reply(LinkToken& t, const RespParser& r);
  void secondary_reply(LinkToken& t, const RespParser& r);  // not held (fx_waiting_ checked)
  void on_secondary_down(std::deque<LinkToken>& lost, const std::string& why);
  void on_secondary_up();
  void on_primary_reply(LinkToken& t, RespParser& r);
  void on_primary_down(std::deque<LinkToken>& lost, const std::string& why);
  void on_bulk_down(std::size_t i, std::deque<LinkToken>& lost, const std::string& why);
  // The local link `op` was outstanding on answered it (or dropped it).
  void local_answered(Op& op);
  // The local link a read of `lane`'s session prefers: its lane's bulk link
  // while that is busy, else the least busy bulk link that is up; 0 (the
  // shared link) when none is up.
  int pick_bulk_link(const LocalLane& lane) const;
  void after_primary_batch();
  void journal_effect(Op& op, const RespParser& r);
  void take_journal_route(const std::shared_ptr<Op>& op);
  void pump_replay();
  void request_replay_cursor();
  void on_replay_reply(LinkToken& t, const RespParser& r);
  void check_replay_done();
  void close_gate(unsigned reason);
  void open_gate(unsigned reason);
  void tick();
  void publish_stats();
  void note_intent(Op& op);
  void flush_intents();
  std::string check_fence(const char* which, const RespParser& r);
  // Scripts ("Scripts" above).
  void route_script(const std::shared_ptr<Op>& op);
  // The options both taps (the peer's; the local Redis's while journaling) use.
  ReplicationTap::Options fx_tap_options(const RedisAddress& redis, const std::string& password) const;
  void fx_start_tap();
  // A script while the tap is parked (or resuming): it waits, and so do its
  // client's later writes (its reads wait behind it in the session anyway);
  // the tap resumes. Released when the tap streams, fails, or after
  // command_timeout (then the scripts are refused). Other clients go on.
  void fx_wait_for_tap(const std::shared_ptr<Op>& op, bool local = false);  // local: the journal route's tap
  void fx_release_tap_waiters();
  void fx_park_tap_if_idle(std::chrono::steady_clock::time_point now);
  // MULTI; PUBLISH <marker>; <the client's command(s)>; EXEC: its number.
  std::uint64_t fx_frame(Op& op);
  void fx_on_stream(FxStream& st, const RespParser& command, bool local);
  std::uint64_t fx_marker(const RespParser& command) const;
  void fx_deliver(bool local, std::uint64_t seq, std::string_view effects, std::uint32_t count, bool select);
  // The primary's block for a script whose effects came: MULTI [SCRIPT LOAD
  // of its EVAL bodies] <effects> [SELECT db] [XGROUP SETID ...] EXEC, with
  // op.replies set; empty when there is nothing to apply.
  void fx_effects_block(Op& op);
  // The keys of the lost scripts, then of every held write that changed
  // something and touches one (to a fixpoint): those marked covered. `all`:
  // a held FLUSHDB or FLUSHALL touches them all.
  std::set<std::string> fx_cover(const Op& lost, std::deque<FxDeferred>& held, bool& all) const;
  // Journal route ("Scripts while writes are journaled" below).
  void fx_local_tap_update();
  void route_script_local(const std::shared_ptr<Op>& op);
  void fx_local_on_reply(const std::shared_ptr<Op>& op, const RespParser& r);
  void fx_local_finish(const std::shared_ptr<Op>& op);
  void fx_local_release();
  void fx_local_lose_all(const std::string& why);
  void fx_local_begin_repair(const std::string& why, std::string error);
  void fx_local_repair_copy(std::uint64_t gen);
  void fx_local_repair_keys(std::uint64_t gen, std::set<std::string> keys, bool flush);
  void fx_local_repair_release();
  void fx_local_abort(const std::string& why);
  // A journal route op's record: appended, or the op answered with why not.
  void journal_record(Op& op, std::string_view record, std::uint32_t replies);
  // A script's client reply from the secondary's EXEC reply; false: not one we sent.
  bool fx_take_reply(Op& op, const RespParser& r);
  void fx_on_reply(const std::shared_ptr<Op>& op, const RespParser& r);
  void fx_finish(const std::shared_ptr<Op>& op);
  void fx_release();
  // The tap lost its stream (or the peer link went down): the effects of
  // scripts in flight cannot be read. With both links up they are repaired
  // (fx_begin_repair), else answered as failed, outcome unknown.
  void fx_lose_all(const std::string& why, bool repairable = true);
  void fx_answer_lost(const std::shared_ptr<Op>& op, const std::string& why);
  bool fx_can_repair() const;
  // A held script's block did not come within command_timeout (the tap is
  // connected but silent): repaired, answered with an error, the tap restarted.
  void fx_arm_hold_timer(std::chrono::steady_clock::duration after);
  void fx_hold_expired();
  void fx_stalled();
  void fx_local_stalled();
  // fx_waiting_'s block will not come. The hold stays on and new writes are
  // held (gate); once every write sent is in (a PING through the secondary),
  // the keys of the lost scripts, and of every held write that touches them
  // (to a fixpoint), are copied from the secondary to the primary (DUMP +
  // PEXPIRETIME there, RESTORE ... REPLACE [ABSTTL] or DEL here); only then
  // are the held replies released: the writes that touch copied keys answered
  // with the secondary's reply (their effect came with the copy), the others
  // forwarded as usual. The scripts get their reply, or `error` if not empty.
  void fx_begin_repair(const std::string& why, std::string error);
  void fx_repair_copy(std::uint64_t gen);
  void fx_repair_keys(std::uint64_t gen, std::set<std::string> keys);
  void fx_repair_release();
  void fx_abort_repair(const std::string& why);
  // A held write's effect reaches the primary by the repair's copy of its keys:
  // whether it changed anything on the secondary, and its answer from there.
  bool held_write_changed(const Op& op, const RespParser& r) const;
  void answer_copied(const std::shared_ptr<Op>& op, const RespParser& r);
  void on_superseded(std::uint64_t marker, const std::string& why);

  boost::asio::io_context& io_;
  const Settings& settings_;
  Secrets secrets_;
  sdk::HostContext& host_;
  Journal& journal_;
  IntentLog& intents_;
  std::string intent_error_;
  // A log line at most every 10 s, with how many events it stands for.
  struct RateLimited {
    std::uint64_t count = 0;
    std::chrono::steady_clock::time_point last{};
  };
  RateLimited auth_failures_, client_events_;
  std::chrono::steady_clock::time_point last_intent_sync_{};
  PeerMode mode_;
  std::uint64_t epoch_;  // this endpoint's epoch: a higher marker on either Redis supersedes it
  std::uint64_t superseded_by_ = 0;
  std::string superseded_reason_;
  std::uint64_t discarded_ = 0;
  std::string discarded_file_;
  std::shared_ptr<BackendLink> primary_;
  std::shared_ptr<BackendLink> secondary_;
  // Bulk read links to the local Redis ("Local links"): a few, so that two
  // clients with large replies do not queue behind each other either.
  static constexpr std::size_t kBulkLinks = 2;
  std::vector<std::shared_ptr<BackendLink>> bulk_;
  std::vector<bool> bulk_was_up_;
  std::uint64_t bulk_reads_ = 0;
  std::uint64_t clients_paced_ = 0;
  std::uint64_t replies_moved_ = 0;
  std::uint64_t shared_large_replies_ = 0;
  BackgroundRelease release_;
  boost::asio::steady_timer tick_timer_;
  std::unordered_set<Session*> sessions_;
  std::unordered_set<Session*> watching_;
  // Blocking ops not answered yet (parked or a try in flight), in the order they blocked.
  std::vector<std::shared_ptr<Op>> blocked_;
  std::string redis_version_ = "0.0.0";
  std::function<void()> on_link_up_;

  bool journal_route_ = false;  // writes go primary + journal, not to the peer
  std::uint64_t journal_ops_in_flight_ = 0;
  bool journal_dirty_ = false;
  std::string journal_error_;
  std::uint64_t replay_read_pos_ = 0;
  std::uint64_t replay_inflight_ = 0;
  std::deque<std::int64_t> replay_times_;
  // Exactly-once replay: each batch of records is one MULTI on the peer that
  // also sets cursor_key_ to "<journal id>:<last seq>"; after every (re)connect
  // the peer's cursor is read first and the records it covers are skipped.
  std::string cursor_key_;
  bool cursor_known_ = false;
  bool awaiting_cursor_ = false;
  std::uint64_t peer_applied_ = 0;
  unsigned gate_ = 0;
  std::deque<std::shared_ptr<Op>> gated_;
  bool demoting_ = false;
  bool peer_was_up_ = false;
  bool primary_was_up_ = false;
  std::uint64_t writes_ = 0, reads_ = 0, refused_ = 0, replayed_ = 0, replay_errors_ = 0;
  std::size_t ops_in_flight_ = 0;

  // Scripts ("Scripts" above).
  std::shared_ptr<ReplicationTap> tap_;
  std::string fx_token_;  // this run's marker prefix: a predecessor's markers in the stream are not ours
  std::uint64_t fx_next_seq_ = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<Op>> fx_inflight_;  // sent, block not delivered
  std::shared_ptr<Op> fx_waiting_;  // its secondary reply is in, its block is not: later replies wait
  std::deque<FxDeferred> fx_deferred_;
  std::string fx_lost_why_;  // why the last scripts in flight were lost
  // The hold's bound (command_timeout): since when fx_waiting_ waits.
  boost::asio::steady_timer fx_hold_timer_;
  bool fx_hold_armed_ = false;
  std::chrono::steady_clock::time_point fx_hold_since_{};
  std::string fx_stall_note_;  // the tap was restarted for a stall: why scripts are refused meanwhile
  // A repair (fx_begin_repair) in progress; its callbacks after an abort count for nothing.
  bool fx_repairing_ = false;
  std::uint64_t fx_repair_gen_ = 0;
  std::string fx_repair_error_;  // the scripts' answer ("": their reply)
  bool fx_tap_parked_ = false;   // stopped for lack of scripts (script_tap_idle)
  bool fx_tap_resuming_ = false;
  bool fx_tap_snapshot_ = false;  // the peer's Redis is making the tap a snapshot first
  std::deque<std::shared_ptr<Op>> fx_tap_waiters_;
  std::unordered_set<const Session*> fx_tap_waiting_sessions_;
  boost::asio::steady_timer fx_tap_timer_;
  std::chrono::steady_clock::time_point fx_last_script_{};
  FxStream fx_stream_;  // the peer's tap

  // Scripts while writes are journaled (README "Scripts and functions",
  // dispatcher_scripts_journal.cpp): they run framed on the local Redis, a
  // second tap reads their effects from its stream, and the journal records
  // the effects block where the script's reply came. The same hold as above,
  // on the local link's journaled replies.
  std::shared_ptr<ReplicationTap> local_tap_;
  bool fx_local_tap_on_ = false;  // started (by the first script while journaling, or script_tap_idle 0)
  std::chrono::steady_clock::time_point fx_local_last_script_{};
  FxStream fx_local_stream_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Op>> fx_local_inflight_;
  std::shared_ptr<Op> fx_local_waiting_;
  std::deque<FxDeferred> fx_local_deferred_;
  std::chrono::steady_clock::time_point fx_local_hold_since_{};
  std::string fx_local_stall_note_;
  std::string fx_local_lost_why_;
  bool fx_local_repairing_ = false;
  std::uint64_t fx_local_repair_gen_ = 0;
  std::string fx_local_repair_error_;

  mutable std::mutex stats_mu_;
  EndpointStats stats_;
};

}  // namespace tandem::kv
