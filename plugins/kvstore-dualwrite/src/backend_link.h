// One pipelined connection from the endpoint to a Redis server, on the
// endpoint's io thread. Requests are queued with a token; replies come back
// in order (Redis answers in order on a connection), each handed to the
// owner with its token. A link that fails (connect error, EOF, no reply within
// command_timeout, a failed AUTH/SELECT) hands every unanswered token back,
// and reconnects after reconnect_interval.
//
// Always owned by a shared_ptr: its pending handlers keep it alive, so an
// owner may drop it while operations are outstanding (after stop()).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "resp.h"
#include "settings.h"

namespace tandem::kv {

struct Op;

// What a queued request is for: a client operation (or the state read that
// follows it), a batch of journal records being replayed, or internal work.
struct LinkToken {
  std::shared_ptr<Op> op;        // null for replay / internal requests
  bool state_read = false;       // the read of op's keys' state right after op (key_state.h)
  std::uint64_t replay_seq = 0;  // replay: last record's sequence number, file end offset, record count
  std::uint64_t replay_end = 0;
  std::uint32_t replay_records = 0;
  std::uint32_t replies = 1;  // replies still expected; the last one is delivered
  std::chrono::steady_clock::time_point sent_at;
  std::function<void(const RespParser&)> internal;  // barrier / handshake continuations
};

class BackendLink : public std::enable_shared_from_this<BackendLink> {
 public:
  struct Callbacks {
    // Non-const: the owner may take a large reply's bytes (RespParser::take_message).
    std::function<void(LinkToken&, RespParser&)> on_reply;
    std::function<void(std::deque<LinkToken>&, const std::string& why)> on_down;
    std::function<void()> on_up;
    std::function<void()> after_batch;   // after a read's replies were all delivered
    std::function<void()> before_flush;  // just before queued bytes are written to the socket
    // The epoch fence (fence.h): handed the reply to GET of the epoch marker,
    // read in the handshake before the link is up. A non-empty answer (why)
    // stops the link for good: it never comes up, nothing is sent on it.
    std::function<std::string(const RespParser&)> check_fence;
    // Where the room for a large reply comes from (RespParser::set_room_source); optional.
    std::function<std::string(std::size_t)> room;
  };

  // `client_name` (optional): the CLIENT SETNAME of this link. A link with a
  // name first kills every other connection of that name on the server (left
  // by an earlier run of this process: its buffered commands must not run
  // after the new link's), so the name must be unique to one writer.
  BackendLink(boost::asio::io_context& io, std::string name, RedisAddress address, std::string password, int db,
              const Settings& settings, Callbacks callbacks, std::string client_name = {});
  ~BackendLink();
  BackendLink(const BackendLink&) = delete;
  BackendLink& operator=(const BackendLink&) = delete;

  void start();  // begin connecting
  void stop();   // close, no reconnect; unanswered tokens are dropped
  // Close, no reconnect; unanswered tokens are handed to on_down first.
  void shutdown(const std::string& why);
  bool up() const { return state_ == State::up; }
  const std::string& name() const { return name_; }
  const std::string& last_error() const { return last_error_; }
  std::size_t outstanding() const { return pending_.size(); }

  // Queue a request (RESP bytes producing token.replies replies), its replies
  // in RESP `proto` (2 or 3). Precondition: up().
  void send(std::string_view bytes, LinkToken token, int proto = 2);
  // Queue a request whose reply goes to `then` (e.g. a PING barrier), in RESP2.
  void send_internal(std::string_view bytes, std::function<void(const RespParser&)> then);
  // A link in stream mode (a subscriber's, pubsub_connection.h): a frame that
  // arrives while no token is pending (a published message, or the reply to
  // a send_untracked request) goes to `on_frame` instead of failing the link.
  void set_stream_handler(std::function<void(const RespParser&)> on_frame) { on_frame_ = std::move(on_frame); }
  // Queue bytes whose replies come to the stream handler (no token, so no
  // command_timeout: Redis answers pub/sub commands at once). Precondition:
  // up(); nothing is sent with send() after it (its reply would be taken for
  // the untracked requests').
  void send_untracked(std::string_view bytes);
  // Bytes of a frame from Redis not complete yet (a subscriber's memory bound).
  std::size_t buffered() const { return parser_ ? parser_->buffered() : 0; }

 private:
  enum class State { stopped, connecting, handshaking, up, waiting };
  void connect();
  void handshake();
  void fail(const std::string& why);
  void schedule_reconnect();
  void read_more();
  void schedule_flush();
  void flush();
  void arm_watchdog();
  void evict_stale_connections(const RespParser& client_list);

  boost::asio::io_context& io_;
  std::string name_;
  RedisAddress address_;
  std::string password_;
  int db_;
  const Settings& settings_;
  Callbacks cb_;

  State state_ = State::stopped;
  std::uint64_t generation_ = 0;  // bumps on every (re)connect; stale handlers ignore themselves
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer timer_;     // connect timeout / reconnect delay
  boost::asio::steady_timer watchdog_;  // command timeout
  std::unique_ptr<RespParser> parser_;
  std::deque<LinkToken> pending_;
  std::string out_;
  std::string writing_;
  bool write_in_progress_ = false;
  bool flush_posted_ = false;
  std::unique_ptr<char[]> in_;
  std::string last_error_;
  std::string client_name_;
  long long own_id_ = -1;
  int proto_ = 2;  // the protocol the connection speaks after what was queued
  std::function<void(const RespParser&)> on_frame_;
};

}  // namespace tandem::kv
