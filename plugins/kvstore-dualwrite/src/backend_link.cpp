#include "backend_link.h"

#include "fence.h"
#include "plugin_util.h"
#include "tcp_connect.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace tandem::kv {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
}

BackendLink::BackendLink(asio::io_context& io, std::string name, RedisAddress address, std::string password, int db,
                         const Settings& settings, Callbacks callbacks, std::string client_name)
    : io_(io),
      name_(std::move(name)),
      address_(std::move(address)),
      password_(std::move(password)),
      db_(db),
      settings_(settings),
      cb_(std::move(callbacks)),
      socket_(io),
      resolver_(io),
      timer_(io),
      watchdog_(io),
      in_(new char[kReadChunk]),
      client_name_(std::move(client_name)) {}

BackendLink::~BackendLink() { stop(); }

void BackendLink::start() {
  if (state_ != State::stopped) return;
  connect();
}

void BackendLink::stop() {
  state_ = State::stopped;
  ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  timer_.cancel();
  watchdog_.cancel();
  resolver_.cancel();
  pending_.clear();
  out_.clear();
  write_in_progress_ = false;
}

void BackendLink::shutdown(const std::string& why) {
  if (state_ == State::stopped) return;
  std::deque<LinkToken> lost;
  lost.swap(pending_);
  stop();
  if (cb_.on_down) cb_.on_down(lost, why);
}

void BackendLink::connect() {
  state_ = State::connecting;
  auto gen = ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  parser_ = std::make_unique<RespParser>();
  if (cb_.room) parser_->set_room_source(cb_.room);
  proto_ = 2;
  out_.clear();
  writing_.clear();
  write_in_progress_ = false;
  timer_.expires_after(settings_.connect_timeout);
  timer_.async_wait([this, self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (ec || gen != generation_ || (state_ != State::connecting && state_ != State::handshaking)) return;
    fail("no connection within connect_timeout");
  });
  async_connect_tcp(resolver_, socket_, address_.host, address_.port,
                    [this, self = shared_from_this(), gen](const std::string& why) {
                      if (gen != generation_) return;
                      if (!why.empty()) return fail(why);
                      socket_.non_blocking(true);
                      state_ = State::handshaking;
                      read_more();
                      handshake();
                    });
}

void BackendLink::handshake() {
  auto check = [this](const char* what) {
    return [this, what](const RespParser& r) {
      if (r.is_error()) fail(std::string(what) + " failed: " + std::string(r.payload()));
    };
  };
  std::string cmd;
  if (!password_.empty()) {
    append_command(cmd, {"AUTH", password_});
    send_internal(cmd, check("AUTH"));
    cmd.clear();
  }
  std::string db = std::to_string(db_);
  append_command(cmd, {"SELECT", db});
  send_internal(cmd, check("SELECT"));
  cmd.clear();
  if (!client_name_.empty()) {
    append_command(cmd, {"CLIENT", "ID"});
    send_internal(cmd, [this](const RespParser& r) { own_id_ = r.type() == RespType::integer ? r.integer() : -1; });
    cmd.clear();
    append_command(cmd, {"CLIENT", "LIST", "TYPE", "normal"});
    send_internal(cmd, [this](const RespParser& r) { evict_stale_connections(r); });
    cmd.clear();
    append_command(cmd, {"CLIENT", "SETNAME", client_name_});
    send_internal(cmd, check("CLIENT SETNAME"));
    cmd.clear();
  }
  if (cb_.check_fence) {
    append_command(cmd, {"GET", kEpochKey});
    auto gen = generation_;
    send_internal(cmd, [this, gen](const RespParser& r) {
      if (gen != generation_) return;
      if (r.is_error()) return fail("reading the epoch marker failed: " + std::string(r.payload()));
      auto why = cb_.check_fence(r);
      if (!why.empty()) {
        last_error_ = why;
        shutdown(why);
      }
    });
    cmd.clear();
  }
  append_command(cmd, {"PING"});
  auto gen = generation_;
  send_internal(cmd, [this, gen](const RespParser& r) {
    if (gen != generation_) return;
    if (r.is_error()) return fail("PING failed: " + std::string(r.payload()));
    timer_.cancel();
    state_ = State::up;
    last_error_.clear();
    arm_watchdog();
    if (cb_.on_up) cb_.on_up();
  });
}

void BackendLink::evict_stale_connections(const RespParser& r) {
  // Lines of "id=7 addr=... name=tandem-... ...". The kills are queued while
  // the handshake is still running (before the link is up): on this
  // connection they run before anything the link sends once it is up.
  if (r.type() != RespType::string) return;
  for (auto& id : client_ids_named(r.payload(), client_name_)) {
    if (id == std::to_string(own_id_)) continue;
    std::string cmd;
    append_command(cmd, {"CLIENT", "KILL", "ID", id});
    send_internal(cmd, [](const RespParser&) {});
  }
}

void BackendLink::send(std::string_view bytes, LinkToken token, int proto) {
  if (proto != proto_) {
    // The link speaks the protocol of the client whose request this is (HELLO
    // only changes how Redis encodes replies); the HELLO's reply is skipped,
    // the token's last reply is still the request's.
    out_.append(proto == 3 ? "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n" : "*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n");
    ++token.replies;
    proto_ = proto;
  }
  out_.append(bytes);
  token.sent_at = std::chrono::steady_clock::now();
  pending_.push_back(std::move(token));
  schedule_flush();
}

void BackendLink::send_untracked(std::string_view bytes) {
  out_.append(bytes);
  schedule_flush();
}

void BackendLink::send_internal(std::string_view bytes, std::function<void(const RespParser&)> then) {
  LinkToken t;
  t.internal = std::move(then);
  send(bytes, std::move(t));
}

void BackendLink::schedule_flush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  auto gen = generation_;
  asio::post(io_, [this, self = shared_from_this(), gen] {
    flush_posted_ = false;
    if (gen == generation_) flush();
  });
}

void BackendLink::flush() {
  if (write_in_progress_ || out_.empty()) return;
  if (state_ != State::up && state_ != State::handshaking) return;
  if (cb_.before_flush) cb_.before_flush();
  std::swap(out_, writing_);
  write_in_progress_ = true;
  auto gen = generation_;
  asio::async_write(socket_, asio::buffer(writing_),
                    [this, self = shared_from_this(), gen](const boost::system::error_code& ec, std::size_t) {
                      if (gen != generation_) return;
                      write_in_progress_ = false;
                      writing_.clear();
                      if (ec) return fail("write failed: " + ec.message());
                      flush();
                    });
}

void BackendLink::read_more() {
  auto gen = generation_;
  // async_wait + a non-blocking read: no speculative recv that would mostly hit EAGAIN.
  socket_.async_wait(
      tcp::socket::wait_read, [this, self = shared_from_this(), gen](const boost::system::error_code& wait_ec) {
        if (gen != generation_) return;
        boost::system::error_code ec = wait_ec;
        std::size_t n = 0;
        if (!ec) n = socket_.read_some(asio::buffer(in_.get(), kReadChunk), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) return read_more();
        if (ec) return fail(ec == asio::error::eof ? "connection closed by Redis" : "read failed: " + ec.message());
        parser_->feed(in_.get(), n);
        for (;;) {
          auto next = parser_->next();
          if (next == RespParser::Next::incomplete) break;
          if (next == RespParser::Next::protocol_error)
            return fail("protocol error from Redis: " + parser_->error_text());
          if (pending_.empty()) {
            if (!on_frame_ || state_ != State::up) return fail("unexpected reply from Redis");
            on_frame_(*parser_);
            if (gen != generation_) return;  // the handler stopped the link
            continue;
          }
          if (--pending_.front().replies > 0) continue;  // an intermediate reply (e.g. QUEUED)
          LinkToken token = std::move(pending_.front());
          pending_.pop_front();
          if (token.internal)
            token.internal(*parser_);
          else
            cb_.on_reply(token, *parser_);
          if (gen != generation_) return;  // a callback failed or stopped the link
        }
        if (cb_.after_batch) cb_.after_batch();
        if (gen != generation_) return;
        read_more();
      });
}

void BackendLink::arm_watchdog() {
  auto gen = generation_;
  watchdog_.expires_after(std::chrono::milliseconds(100));
  watchdog_.async_wait([this, self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (ec || gen != generation_) return;
    if (!pending_.empty() && std::chrono::steady_clock::now() - pending_.front().sent_at > settings_.command_timeout)
      return fail("no reply within command_timeout");
    arm_watchdog();
  });
}

void BackendLink::fail(const std::string& why) {
  if (state_ == State::stopped) return;
  last_error_ = why;
  ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  timer_.cancel();
  watchdog_.cancel();
  bool was_up = state_ == State::up;
  state_ = State::waiting;
  std::deque<LinkToken> lost;
  lost.swap(pending_);
  out_.clear();
  write_in_progress_ = false;
  (void)was_up;
  cb_.on_down(lost, why);
  schedule_reconnect();
}

void BackendLink::schedule_reconnect() {
  if (state_ == State::stopped) return;
  auto gen = generation_;
  timer_.expires_after(settings_.reconnect_interval);
  timer_.async_wait([this, self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (ec || gen != generation_ || state_ != State::waiting) return;
    connect();
  });
}

}  // namespace tandem::kv
