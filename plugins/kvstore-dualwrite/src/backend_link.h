// One pipelined connection from the endpoint to a Redis server, on the
// endpoint's io thread. Requests are queued with a token; replies come back
// in order (Redis answers in order on a connection), each handed to the
// owner with its token. A link that fails (connect error, EOF, no reply within
// command_timeout, a failed AUTH/SELECT) hands every unanswered token back,
// and reconnects after reconnect_interval.
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

// What a queued request is for: a client operation, or a journal replay record.
struct LinkToken {
  std::shared_ptr<Op> op;  // null for replay / internal requests
  std::uint64_t replay_seq = 0;
  std::uint64_t replay_end = 0;
  std::uint32_t replies = 1;  // replies still expected; the last one is delivered
  std::chrono::steady_clock::time_point sent_at;
  std::function<void(const RespParser&)> internal;  // barrier / handshake continuations
};

class BackendLink {
 public:
  struct Callbacks {
    std::function<void(LinkToken&, const RespParser&)> on_reply;
    std::function<void(std::deque<LinkToken>&, const std::string& why)> on_down;
    std::function<void()> on_up;
    std::function<void()> after_batch;  // after a read's replies were all delivered
  };

  BackendLink(boost::asio::io_context& io, std::string name, RedisAddress address, std::string password, int db,
              const Settings& settings, Callbacks callbacks);
  ~BackendLink();
  BackendLink(const BackendLink&) = delete;
  BackendLink& operator=(const BackendLink&) = delete;

  void start();  // begin connecting
  void stop();   // close, no reconnect; unanswered tokens are dropped
  bool up() const { return state_ == State::up; }
  const std::string& name() const { return name_; }
  const std::string& last_error() const { return last_error_; }
  std::size_t outstanding() const { return pending_.size(); }

  // Queue a request (RESP bytes producing token.replies replies). Precondition: up().
  void send(std::string_view bytes, LinkToken token);
  // Queue a request whose reply goes to `then` (e.g. a PING barrier).
  void send_internal(std::string_view bytes, std::function<void(const RespParser&)> then);

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
};

}  // namespace tandem::kv
