// A connection to a Redis server as its replica, reading its replication
// stream: what Redis itself computed for each write (a script's effects, a
// blocking pop's pop, an explicit stream ID), in the order it applied them.
// The endpoint reads the secondary's stream for the effects of scripts
// (README "Scripts and functions", dispatcher.h).
//
// The handshake is a replica's: AUTH, REPLCONF listening-port and capa (each
// answered before the next: Redis refuses pipelined replica handshakes), then
// PSYNC. The first sync is a full one whose snapshot (RDB) is skipped: the
// tap wants the commands after it, not the data. A reconnect asks to continue
// where it stopped (PSYNC replid offset+1); Redis answers +CONTINUE while its
// backlog still holds that offset, else a full sync again, which on_synced
// reports so the owner knows commands were missed. With join_at_current, each
// connect instead continues from where Redis's stream is at that moment. The tap acknowledges its
// offset every second and on REPLCONF GETACK, as a replica does, so Redis
// neither drops it (repl-timeout) nor stalls a WAIT.
//
// On the endpoint's io thread; always owned by a shared_ptr (its handlers
// keep it alive until stop()).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "resp.h"

namespace tandem::kv {

class ReplicationTap : public std::enable_shared_from_this<ReplicationTap> {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string password;  // "" : no AUTH
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(2)};
    std::chrono::milliseconds reconnect_interval{std::chrono::milliseconds(200)};
    // No byte from the server for this long (it PINGs its replicas every
    // repl-ping-replica-period, 10 s by default): the link is dead.
    std::chrono::milliseconds silence_timeout{std::chrono::seconds(30)};
    // Offer Redis a diskless snapshot (REPLCONF capa eof). Without it Redis
    // writes the snapshot to its disk first, but starts at once, where a
    // diskless one waits repl-diskless-sync-delay (5 s by default).
    bool diskless = true;
    // Each connect asks Redis where its stream is now (INFO replication) and
    // continues from there (PSYNC replid offset+1): no snapshot while Redis
    // keeps its backlog (repl-backlog-ttl after its last replica left); without
    // a backlog Redis answers with a full sync, as to a first connect. What
    // was written while the tap was away is never read: for an owner that
    // needs only what follows its own next request.
    bool join_at_current = false;
  };
  struct Callbacks {
    // The stream (re)starts: after a full sync's snapshot (full = true: every
    // command before this point is missed) or on +CONTINUE (full = false:
    // nothing was missed).
    std::function<void(bool full)> on_synced;
    // Each command of the stream, in order, and the replication offset after it.
    std::function<void(const RespParser& command, std::uint64_t offset)> on_command;
    // The connection ended (why); the tap reconnects after reconnect_interval.
    std::function<void(const std::string& why)> on_down;
    // Redis answered with a full sync: the stream starts only after its
    // snapshot (then on_synced(true)). Optional.
    std::function<void()> on_snapshot;
  };

  ReplicationTap(boost::asio::io_context& io, Options options, Callbacks callbacks);
  ~ReplicationTap();
  ReplicationTap(const ReplicationTap&) = delete;
  ReplicationTap& operator=(const ReplicationTap&) = delete;

  void start();  // begin connecting
  void stop();   // close, no reconnect, no more callbacks
  // Commands are flowing (handshake and snapshot done).
  bool streaming() const { return state_ == State::streaming; }
  // The replication offset of the last byte read from the stream (0 before the first sync).
  std::uint64_t offset() const { return offset_; }
  const std::string& replication_id() const { return replid_; }
  const std::string& last_error() const { return last_error_; }

 private:
  enum class State { stopped, connecting, handshake, snapshot_header, snapshot_body, streaming, waiting };

  void connect();
  void fail(const std::string& why);
  void send(std::string bytes);
  void read_more();
  void on_bytes();
  bool on_handshake_line(std::string_view line);
  bool read_info_reply();
  bool skip_snapshot();
  bool read_commands();
  void send_ack();
  void schedule_ack();
  void arm_silence_timer();
  void next_handshake_step();

  Options options_;
  Callbacks cb_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer timer_;  // connect, reconnect
  boost::asio::steady_timer ack_timer_;
  boost::asio::steady_timer silence_timer_;
  std::unique_ptr<char[]> in_;
  std::string buf_;  // handshake and snapshot bytes not consumed yet
  std::string out_;  // to write after the write in progress
  std::string writing_;
  bool write_in_progress_ = false;
  std::unique_ptr<RespParser> parser_;
  State state_ = State::stopped;
  int step_ = 0;  // handshake step
  std::uint64_t generation_ = 0;
  std::string replid_;
  std::uint64_t offset_ = 0;
  bool synced_once_ = false;
  // Snapshot: bytes left (length form), or the end mark (EOF form).
  std::uint64_t snapshot_left_ = 0;
  std::string snapshot_mark_;
  std::string last_error_;
  // join_at_current: the INFO reply's bulk length (-1: its header not read yet).
  long long info_left_ = -1;
};

}  // namespace tandem::kv
