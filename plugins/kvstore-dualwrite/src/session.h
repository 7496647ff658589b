// One client connection to the endpoint: parses pipelined requests (RESP or
// inline, resp.h), classifies each command, and replies strictly in request
// order (an operation's reply waits for every earlier one of the connection).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "op.h"
#include "resp.h"

namespace tandem::kv {

class Dispatcher;
class PubSubConnection;
struct CommandInfo;
struct OutputBufferLimit;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Dispatcher& dispatcher, boost::asio::ip::tcp::socket socket, std::uint64_t id);
  ~Session();

  void start();
  // An operation of this session progressed: forward what is ready, reply what is done.
  void pump();
  // Close now (endpoint stopping); operations in flight still complete at the backends.
  void close();
  bool closed() const { return closed_; }
  // The endpoint stops and runs nothing more: forget the operations not
  // finished. Each holds this session (its ordering) alive, which holds them:
  // left, the cycle outlives the endpoint (LeakSanitizer found it at exit).
  // After close(), only from the dispatcher's stop.
  void abandon_ops();
  // A write routed after this session's WATCH may touch `keys`.
  void touch_watch(const IntentKeys& keys);
  // The dispatcher parked this session's blocking op (it popped nothing).
  void on_parked();
  // Where this session's operations are outstanding on the local Redis
  // (dispatcher.h "Local links"); the dispatcher keeps it up to date.
  LocalLane& lane() { return lane_; }
  // Its recent replies are large, or it leaves many unread, or it pipelines
  // before any reply showed their size: its reads then take a bulk read
  // link, off the link every other client's replies share.
  bool large_replies() const;
  std::uint64_t id() const { return id_; }
  // This connection's line of CLIENT LIST / CLIENT INFO, in Redis's format
  // (no newline).
  std::string client_info() const;

 private:
  void read_more();
  bool process_input();  // true when it parsed something
  void handle_command();
  void handle_local(std::string_view name);
  void handle_in_multi(const CommandInfo* info, std::string_view name);
  void handle_exec();
  void reset_multi();
  void handle_watch();
  void handle_hello();
  std::string null_reply() const;
  void unwatch();
  void handle_blocking(std::string_view name);
  void block_timed_out();
  void handle_xread_block();
  void drop_blocked();
  // CONFIG other than GET: "" when it is a CONFIG SET of parameters the
  // endpoint applies to both servers, else the error to reply.
  std::string config_set_refusal() const;
  std::shared_ptr<Op> new_op(OpKind kind);
  // A write op with the command's keys; nullptr (an error reply queued) when
  // it writes a key with the reserved prefix __tandem:.
  std::shared_ptr<Op> new_write_op();
  void reply_now(std::string reply);
  void reply_error(std::string_view text);
  void schedule_flush();
  void flush();
  void close_after_flush();
  void linger_close();
  void discard_input(std::size_t discarded);
  // Whether to parse (and read) more of the client's input now: bounded by
  // the replies it may have in flight (in bytes, estimated) and paused while
  // a failed AUTH is being delayed.
  bool can_take_more() const;
  // Whether the command just parsed must wait (dispatcher.h "Local links",
  // rule 3): it may route a write, and this session has reads outstanding on
  // a bulk link (the write must not reach the local Redis before them) or,
  // with large replies, reads not forwarded yet (forwarded now, to a bulk link).
  bool must_wait_for_bulk_reads();
  // Sends the ready operations, in order, to the primary's Redis.
  void forward_ready();
  std::size_t unsent_bytes() const { return out_bytes_ + writing_bytes_; }
  void fail_auth_slowly();
  // Moves (large) or gathers (small) a reply into the pieces to write.
  void queue_out(std::string& reply);
  // Pub/sub (session_pubsub.cpp). RESP2 subscribed mode: the command goes
  // to the client's own connection (true) and Redis answers it.
  bool forward_in_subscribed_mode();
  // A (P|S)(UN)SUBSCRIBE: on the client's own connection, made at the first.
  void handle_subscription(std::string_view name);
  // The command just parsed waits for the client's connection's answers.
  bool must_wait_for_pubsub() const;
  void on_pubsub_message(std::string_view frame);
  void end_pubsub();  // RESET, close: the connection goes, subscriptions with it
  // Why the client's unread replies (plus `held` bytes not queued yet) pass
  // its limit (Redis's normal or pubsub class); "" when they do not.
  std::string output_limit_exceeded(std::size_t held);
  // Disconnects a client past its limit; true when the session is closed.
  bool enforce_output_limit(std::size_t held);
  // The limit of its class: pubsub while subscribed, else normal.
  bool subscribed() const;
  const OutputBufferLimit& output_limit() const;
  // Everything held in tandemd for the client, unsent: replies, messages,
  // and `held` bytes not queued yet.
  std::size_t held_for_client(std::size_t held) const;
  // A (non-subscribed) client above its soft limit: none of its requests is
  // read or parsed until it has read below it (README "Limits", pacing).
  bool paced() const;
  // A write to the client progressed: `remaining` bytes of it are left.
  void on_write_progress(std::size_t remaining);
  // The soft limit's clock started: checked again when it runs out (a paced
  // client makes no other event that would check it).
  void arm_soft_limit_timer();

  Dispatcher& d_;
  boost::asio::ip::tcp::socket socket_;
  std::uint64_t id_;
  RespParser parser_;
  std::array<char, 16 * 1024> in_{};
  std::deque<std::shared_ptr<Op>> ops_;
  std::vector<std::shared_ptr<Op>> spare_ops_;  // finished ops kept for reuse (fewer allocations)
  std::size_t cursor_ = 0;                      // first op not yet forwarded to the primary (or finished without it)
  // Replies not written yet, in pieces: a large reply is moved in, never
  // copied into one growing buffer, whose regrowth at tens of MiB (a client
  // that does not read) held the io thread, so every client, for milliseconds.
  std::vector<std::string> out_;
  std::size_t out_bytes_ = 0;
  std::vector<std::string> writing_;  // the pieces being written
  std::size_t writing_bytes_ = 0;
  std::vector<boost::asio::const_buffer> write_buffers_;
  std::string spare_piece_;  // a written piece's buffer, kept for the next small replies
  bool write_in_progress_ = false;
  bool flush_posted_ = false;
  bool reading_ = false;
  bool closed_ = false;
  bool lingering_ = false;
  bool closing_ = false;  // QUIT or a protocol error: close once replies are out
  bool authed_ = false;
  std::string client_name_;
  bool in_multi_ = false;
  bool multi_failed_ = false;
  bool multi_has_write_ = false;
  bool multi_has_script_ = false;           // an EVAL/EVALSHA/FCALL is queued: the block is a script op
  std::vector<std::string> multi_scripts_;  // the queued EVALs' bodies
  std::uint32_t multi_count_ = 0;
  std::string multi_buf_;
  IntentKeys multi_keys_;                    // keys the queued writes touch
  std::vector<QueuedEffect> multi_effects_;  // queued SPOP / XADD '*' (offsets in multi_buf_)
  std::string remote_;                       // peer address, for logs and CLIENT LIST
  int fd_ = -1;                              // CLIENT LIST fd
  std::string local_;                        // the endpoint's address of the connection (CLIENT LIST laddr)
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_command_ = created_;  // CLIENT LIST idle
  std::string_view last_command_name_ = "NULL";                    // CLIENT LIST cmd: a command table name
  boost::asio::steady_timer auth_timer_;                           // auth_timeout
  boost::asio::steady_timer auth_delay_timer_;                     // auth_failure_delay
  bool auth_delay_pending_ = false;
  std::unordered_set<std::string> watched_;  // WATCHed keys (the endpoint sees every write: touch_watch)
  bool watch_dirty_ = false;
  int proto_ = 2;                          // RESP version (HELLO)
  bool reply_off_ = false;                 // CLIENT REPLY OFF
  bool reply_skip_ = false;                // CLIENT REPLY SKIP: the next command's reply is not sent
  bool silence_command_ = false;           // the command being handled gets no reply (new_op)
  std::shared_ptr<Op> blocked_op_;         // a blocking pop not answered yet (nothing more is parsed)
  boost::asio::steady_timer block_timer_;  // its timeout
  std::string block_scratch_;
  // Size estimate of this client's replies (a decaying maximum): how many
  // operations it may have in flight so that their replies stay within a
  // 2 MiB on the shared backend link (one client's huge replies must not
  // queue ahead of everyone else's).
  std::size_t reply_estimate_ = 1u << 20;  // unknown yet: assume large (2 ops), learn quickly
  // The same decaying maximum from nothing assumed: what large_replies() judges by.
  std::size_t recent_reply_max_ = 0;
  bool reply_seen_ = false;  // a reply from Redis was queued: recent_reply_max_ knows something
  LocalLane lane_;
  std::uint64_t next_seq_ = 0;                // Op::seq of the next operation
  std::unique_ptr<PubSubConnection> pubsub_;  // since the client's first SUBSCRIBE
  std::uint64_t pubsub_confirmed_seq_ = 0;    // seq of its newest op answered there (messages follow it)
  std::chrono::steady_clock::time_point soft_limit_since_{};  // over its class's soft limit since
  boost::asio::steady_timer soft_limit_timer_;                // soft_limit_since_ + soft_time
  bool paced_noted_ = false;                                  // this pause was counted (clients_paced)
};

}  // namespace tandem::kv
