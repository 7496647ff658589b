#include "session.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "command_table.h"
#include "dispatcher.h"
#include "expiry_rewrite.h"
#include "plugin_util.h"
#include "pubsub_connection.h"

namespace tandem::kv {

namespace asio = boost::asio;

namespace {
// A client may have this many operations outstanding before we stop reading
// from it (backpressure instead of unbounded memory).
constexpr std::size_t kMaxOpsPerClient = 8192;
// Reply bytes (estimated) one client may have in flight at the backends.
constexpr std::size_t kInflightReplyBytes = 2u << 20;
// A client whose recent replies reach this size, or whose unread replies
// reach kUnreadBacklog, reads through a bulk link: on the shared link each
// such reply would delay every other client's replies queued behind it by
// its transfer time (tens of microseconds per 16 KiB on loopback, the order
// of a small GET's whole round trip).
constexpr std::size_t kLargeReply = 16u << 10;
constexpr std::size_t kUnreadBacklog = 256u << 10;
// Replies this large are queued for the client as they are (moved, not
// copied); smaller ones are gathered into pieces of about this size.
constexpr std::size_t kOwnPiece = 64u << 10;

// A maximum that forgets: each new size either raises it or lets it decay by
// 1/16, so a few small replies do not hide that large ones are common.
std::size_t decaying_max(std::size_t previous, std::size_t size) { return std::max(size, previous - previous / 16); }

// FLUSHALL through the endpoint empties the one database it serves (the
// servers' other databases are not its clients'): sent as FLUSHDB, with its
// ASYNC/SYNC option.
void append_as_flushdb(const RespParser& cmd, std::string& out) {
  std::vector<std::string_view> argv{"FLUSHDB"};
  for (std::size_t i = 1; i < cmd.size(); ++i) argv.push_back(cmd.element(i));
  append_command(out, argv);
}

// Constant-time comparison, so the password cannot be guessed by timing.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

// Redis's own text for a command it does not know (processCommand in 7.0):
// the name and the first arguments, each cut to fit 128 bytes.
std::string unknown_command_error(const RespParser& cmd) {
  std::string args;
  for (std::size_t i = 1; i < cmd.size() && args.size() < 128; ++i) {
    args += '\'';
    args += cmd.element(i).substr(0, 128 - args.size() + 1);
    args += "' ";
  }
  return "ERR unknown command '" + std::string(cmd.element(0).substr(0, 128)) + "', with args beginning with: " + args;
}

// CONFIG SET parameters the endpoint applies to both Redis servers (as a
// write): they change only how values are encoded inside Redis (or which
// keyspace notifications are published), never what a command returns, so
// both servers stay equal; every other parameter is an administrator's
// decision per server.
bool config_settable(std::string_view param) {
  std::string p = to_upper(param);
  auto starts = [&](std::string_view prefix) { return p.rfind(prefix, 0) == 0; };
  return starts("HASH-MAX-") || starts("LIST-MAX-") || starts("ZSET-MAX-") || starts("SET-MAX-") ||
         starts("STREAM-NODE-MAX-") || p == "LIST-COMPRESS-DEPTH" || p == "NOTIFY-KEYSPACE-EVENTS";
}

// Keys with this prefix are tandem's (the epoch fence, the replay cursor).
constexpr std::string_view kReservedPrefix = "__tandem:";
constexpr std::string_view kReservedError =
    "NOPERM keys with the prefix '__tandem:' are reserved for tandem (its epoch fence and journal replay cursor); "
    "writes to them are refused";
// Channels with the prefix are tandem's too (its replication-stream markers).
constexpr std::string_view kReservedChannelError =
    "NOPERM channels with the prefix '__tandem:' are reserved for tandem; publishing to them is refused";
bool publishes_reserved(const CommandInfo& info, const RespParser& cmd) {
  return (info.name == "PUBLISH" || info.name == "SPUBLISH") && cmd.size() >= 2 &&
         cmd.element(1).starts_with(kReservedPrefix);
}

// SCRIPT / FUNCTION by subcommand. The script cache and the function
// libraries are state of each Redis: what changes them goes to both servers
// like a write (so EVALSHA, FCALL and their _RO forms find the same scripts
// on either), what only looks is a read. KILL would have to reach the Redis
// while it runs the script, but the endpoint's links carry every client's
// commands in order behind it: refused, as DEBUG.
enum class ScriptAdmin { write, read, refused };
ScriptAdmin classify_script_admin(const RespParser& cmd) {
  if (cmd.size() < 2) return ScriptAdmin::read;  // Redis answers the arity error
  std::string sub = to_upper(cmd.element(1));
  if (sub == "KILL" || sub == "DEBUG") return ScriptAdmin::refused;
  if (sub == "LOAD" || sub == "FLUSH") return ScriptAdmin::write;
  if (iequals(cmd.element(0), "FUNCTION") && (sub == "DELETE" || sub == "RESTORE")) return ScriptAdmin::write;
  return ScriptAdmin::read;  // EXISTS, LIST, DUMP, STATS, HELP; an unknown one gets Redis's error
}
// What the endpoint answers itself for a command of class script ("" none):
// Redis's arity error (the one it gives when queuing, i.e. inside the MULTI
// the command is framed in), and XREADGROUP BLOCK, which would hold the link
// all clients share (its emulation is not built).
std::string script_refusal(std::string_view name, const RespParser& cmd) {
  std::size_t arity = name == "XREADGROUP" ? 7 : name == "XCLAIM" || name == "XAUTOCLAIM" ? 6 : 3;
  if (cmd.size() < arity) return "ERR wrong number of arguments for '" + to_lower(name) + "' command";
  if (name == "XREADGROUP")
    for (std::size_t i = 1; i < cmd.size() && !iequals(cmd.element(i), "STREAMS"); ++i)
      if (iequals(cmd.element(i), "BLOCK"))
        return "ERR XREADGROUP BLOCK is not supported by the tandem endpoint (it would hold the link all clients "
               "share); read without BLOCK and poll";
  return "";
}
std::string script_admin_refusal(const RespParser& cmd) {
  return "ERR '" + to_upper(cmd.element(0)) + " " + to_upper(cmd.element(1)) +
         "' is not supported by the tandem endpoint: the endpoint's links to Redis carry every client's commands in "
         "order, so it would only reach Redis after the script it should stop; run it on the Redis directly";
}

}  // namespace

Session::Session(Dispatcher& dispatcher, asio::ip::tcp::socket socket, std::uint64_t id)
    : d_(dispatcher),
      socket_(std::move(socket)),
      id_(id),
      auth_timer_(socket_.get_executor()),
      auth_delay_timer_(socket_.get_executor()),
      block_timer_(socket_.get_executor()),
      soft_limit_timer_(socket_.get_executor()) {
  authed_ = d_.secrets().client_password.empty();
  parser_.accept_inline();
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  remote_ = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  auto local = socket_.local_endpoint(ec);
  local_ = ec ? std::string("?") : local.address().to_string() + ":" + std::to_string(local.port());
  fd_ = socket_.native_handle();
  d_.register_session(this);
}

Session::~Session() {
  d_.unwatch(this);
  d_.unregister_session(this);
}

void Session::drop_blocked() {
  // A client that left stops waiting; a retry in flight still completes.
  unwatch();
  if (!blocked_op_) return;
  block_timer_.cancel();
  if (d_.unpark(blocked_op_.get())) {
    blocked_op_->done = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->pump(); });
  } else {
    blocked_op_->block_expired = true;
  }
}

void Session::start() {
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket_.non_blocking(true, ignored);
  if (!authed_) {
    // An unauthenticated connection holds a max_clients slot: it gets auth_timeout to AUTH.
    auth_timer_.expires_after(d_.settings().auth_timeout);
    auth_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->authed_ || self->closed_) return;
      self->d_.note_client_event("unauthenticated connection closed after auth_timeout (" + self->remote_ + ")");
      self->close();
    });
  }
  read_more();
}

void Session::close() {
  closed_ = true;
  drop_blocked();
  end_pubsub();
  boost::system::error_code ignored;
  socket_.close(ignored);
  auth_timer_.cancel();
  soft_limit_timer_.cancel();
  d_.release_later(out_);  // the memory goes now, not when the last op finishes (and not on the io thread)
  out_bytes_ = 0;
}

void Session::abandon_ops() {
  auto self = shared_from_this();  // an op may hold the last other reference
  for (auto& op : ops_) op->session.reset();
  ops_.clear();
  if (blocked_op_) blocked_op_->session.reset();
  blocked_op_.reset();
}

bool Session::can_take_more() const {
  if (auth_delay_pending_ || closed_ || blocked_op_ || paced()) return false;
  std::size_t allowed =
      std::clamp<std::size_t>(kInflightReplyBytes / std::max<std::size_t>(reply_estimate_, 1), 1, kMaxOpsPerClient);
  return ops_.size() < allowed;
}

bool Session::large_replies() const {
  // A client that pipelines before any reply showed their size counts as
  // large too: sent to the shared link, its first replies (of 1 MiB, say)
  // would be queued ahead of everyone else's. A client that sends one
  // command and waits (most, and every connection-per-request client) keeps
  // the shared link.
  const bool pipelining_unknown = !reply_seen_ && (ops_.size() > 1 || parser_.buffered() > 0 || parser_.has_unread());
  return recent_reply_max_ >= kLargeReply || unsent_bytes() >= kUnreadBacklog || pipelining_unknown;
}

bool Session::must_wait_for_bulk_reads() {
  // Plain reads (also queued inside MULTI) never route a write; CONFIG SET
  // and XREAD BLOCK, read commands by name, do. Everything else counts as a
  // write here, which costs nothing: its reply is sent after theirs anyway.
  if (parser_.size() > 0 && parser_.element_type(0) == RespType::string) {
    const CommandInfo* info = find_command(parser_.element(0));
    if (info && info->cls == CommandClass::read && info->name != "CONFIG" && info->name != "XREAD") return false;
  }
  if (large_replies()) {
    // Its earlier reads go to a bulk link first and this waits for them;
    // routed now, it would pull them onto the shared link (rule 2).
    forward_ready();
    if (cursor_ < ops_.size()) return true;
  }
  return lane_.link != 0 && lane_.outstanding > 0;
}

void Session::read_more() {
  // A command waiting in the parser (must_wait_for_bulk_reads): nothing more
  // is read until it is handled (pump() resumes).
  if (closed_ || closing_ || reading_ || parser_.has_unread()) return;
  // A blocked client is still read (as Redis does), so that its leaving is
  // noticed and ends the wait; what it sends is parsed once it is served.
  if (!can_take_more() && !(blocked_op_ && parser_.buffered() <= d_.settings().max_request_size))
    return;  // resumed by pump()
  reading_ = true;
  // Wait for readability, then read: a plain async_read_some would first try a
  // speculative recv that, for a client waiting on its replies, just fails (EAGAIN).
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& wait_ec) {
                       self->reading_ = false;
                       boost::system::error_code ec = wait_ec;
                       std::size_t n = 0;
                       if (!ec && !self->closed_) n = self->socket_.read_some(asio::buffer(self->in_), ec);
                       if (ec == asio::error::would_block || ec == asio::error::try_again) {
                         self->read_more();
                         return;
                       }
                       if (ec || self->closed_) {
                         self->closed_ = true;  // the client left; its operations still complete at the backends
                         self->drop_blocked();
                         self->end_pubsub();
                         boost::system::error_code ignored;
                         self->socket_.close(ignored);
                         return;
                       }
                       self->parser_.feed(self->in_.data(), n);
                       self->process_input();
                       self->pump();
                       self->read_more();
                     });
}

bool Session::process_input() {
  bool parsed = false;
  while (!closing_ && can_take_more()) {
    auto next = parser_.next();
    if (next == RespParser::Next::incomplete) {
      if (parser_.buffered() > d_.settings().max_request_size) {
        reply_error("ERR request larger than max_request_size (" + std::to_string(d_.settings().max_request_size) +
                    " bytes); closing the connection");
        close_after_flush();
      }
      return parsed;
    }
    if (next == RespParser::Next::protocol_error) {
      reply_error("ERR Protocol error: " + parser_.error_text() +
                  " (the endpoint accepts RESP arrays of bulk strings)");
      close_after_flush();
      return true;
    }
    if (must_wait_for_bulk_reads() || must_wait_for_pubsub()) {
      parser_.unread();  // parsed again once they are answered (pump)
      return parsed;
    }
    parsed = true;
    handle_command();
  }
  return parsed;
}

std::shared_ptr<Op> Session::new_op(OpKind kind) {
  std::shared_ptr<Op> op;
  while (!spare_ops_.empty() && !op) {
    // Reusable once no backend link token refers to it any more.
    if (spare_ops_.back().use_count() == 1) op = std::move(spare_ops_.back());
    spare_ops_.pop_back();
  }
  if (!op) op = std::make_shared<Op>();
  op->kind = kind;
  op->seq = ++next_seq_;
  op->proto = proto_;
  op->silent = silence_command_;
  op->session = shared_from_this();
  ops_.push_back(op);
  d_.op_started();
  return op;
}

std::shared_ptr<Op> Session::new_write_op() {
  // Collected into the op itself (its buffers are recycled); a write to a
  // reserved key becomes a local error reply instead.
  auto op = new_op(OpKind::write);
  collect_write_keys(parser_, op->keys);
  if (!op->keys.has_prefix(kReservedPrefix)) return op;
  op->kind = OpKind::local;
  op->keys.clear();
  append_error(op->reply, kReservedError);
  op->done = true;
  return nullptr;
}

void Session::reply_now(std::string reply) {
  auto op = new_op(OpKind::local);
  op->reply = std::move(reply);
  op->done = true;
}

void Session::reply_error(std::string_view text) {
  std::string r;
  append_error(r, text);
  reply_now(std::move(r));
}

void Session::handle_command() {
  silence_command_ = reply_off_ || reply_skip_;
  reply_skip_ = false;
  if (parser_.type() != RespType::array) {
    reply_error("ERR Protocol error: expected an array of bulk strings (a command), got another RESP type");
    close_after_flush();
    return;
  }
  if (parser_.size() == 0) return;  // Redis ignores empty commands too
  for (std::size_t i = 0; i < parser_.size(); ++i) {
    if (parser_.element_type(i) != RespType::string) {
      reply_error("ERR Protocol error: command arguments must be bulk strings");
      close_after_flush();
      return;
    }
  }
  std::string_view name = parser_.element(0);
  const CommandInfo* info = find_command(name);
  last_command_ = std::chrono::steady_clock::now();
  last_command_name_ = info ? info->name : std::string_view("NULL");
  if (!authed_ && !(iequals(name, "AUTH") || iequals(name, "QUIT") || iequals(name, "HELLO"))) {
    return reply_error("NOAUTH Authentication required.");
  }
  if (forward_in_subscribed_mode()) return;
  if (in_multi_ && !(iequals(name, "EXEC") || iequals(name, "DISCARD") || iequals(name, "MULTI") ||
                     iequals(name, "QUIT") || iequals(name, "WATCH") || iequals(name, "RESET"))) {
    return handle_in_multi(info, name);
  }
  if (!info) return reply_error(unknown_command_error(parser_));
  switch (info->cls) {
    case CommandClass::unsupported:
      return reply_error("ERR '" + to_upper(name) +
                         "' is not supported by the tandem endpoint: " + std::string(info->reason));
    case CommandClass::local: return handle_local(info->name);
    case CommandClass::pubsub: return handle_subscription(info->name);
    case CommandClass::multi:
      if (info->name == "MULTI") {
        if (in_multi_) return reply_error("ERR MULTI calls can not be nested");
        in_multi_ = true;
        return reply_now("+OK\r\n");
      }
      if (info->name == "DISCARD") {
        if (!in_multi_) return reply_error("ERR DISCARD without MULTI");
        reset_multi();
        unwatch();
        return reply_now("+OK\r\n");
      }
      if (info->name == "WATCH") return handle_watch();
      if (info->name == "UNWATCH") {
        unwatch();
        return reply_now("+OK\r\n");
      }
      if (!in_multi_) return reply_error("ERR EXEC without MULTI");
      return handle_exec();
    case CommandClass::blocking: return handle_blocking(info->name);
    case CommandClass::script: {
      // Arity is the one error Redis gives before running (queue time in
      // the MULTI the script is framed in): answered here with its text.
      if (std::string refusal = script_refusal(info->name, parser_); !refusal.empty()) return reply_error(refusal);
      auto op = new_write_op();  // its declared KEYS (intents, WATCH, blocking wake-ups)
      if (!op) return;
      op->kind = OpKind::script;
      op->request.assign(parser_.bytes());
      if (info->name == "EVAL") op->fx_scripts.emplace_back(parser_.element(1));
      if (info->name == "XREADGROUP" && iequals(parser_.element(1), "GROUP")) {
        op->fx_group.assign(parser_.element(2));
        for (std::size_t i = 1; i < parser_.size(); ++i)
          if (iequals(parser_.element(i), "STREAMS")) {
            for (std::size_t k = i + 1; k < i + 1 + (parser_.size() - i - 1) / 2; ++k)
              op->fx_group_keys.emplace_back(parser_.element(k));
            break;
          }
      }
      d_.route_write(op);
      return;
    }
    case CommandClass::script_admin: {
      auto kind = classify_script_admin(parser_);
      if (kind == ScriptAdmin::refused) return reply_error(script_admin_refusal(parser_));
      if (kind == ScriptAdmin::write) {
        auto op = new_op(OpKind::write);  // no keys: scripts and libraries are not keys
        op->request.assign(parser_.bytes());
        d_.route_write(op);
        return;
      }
      auto op = new_op(OpKind::read);
      op->request.assign(parser_.bytes());
      op->ready = true;
      d_.count_read();
      return;
    }
    case CommandClass::read: {
      if (publishes_reserved(*info, parser_)) return reply_error(kReservedChannelError);
      if (info->name == "CONFIG" && !(parser_.size() >= 2 && iequals(parser_.element(1), "GET"))) {
        std::string refusal = config_set_refusal();
        if (!refusal.empty()) return reply_error(refusal);
        auto op = new_op(OpKind::write);  // no keys: nothing for crash reconciliation to copy
        op->request.assign(parser_.bytes());
        d_.route_write(op);
        return;
      }
      if (info->name == "XREAD") {
        for (std::size_t i = 1; i < parser_.size() && !iequals(parser_.element(i), "STREAMS"); ++i)
          if (iequals(parser_.element(i), "BLOCK")) return handle_xread_block();
      }
      auto op = new_op(OpKind::read);
      op->request.assign(parser_.bytes());
      op->filter_config = info->name == "CONFIG";
      op->info = info->name == "INFO";
      op->ready = true;
      d_.count_read();
      return;
    }
    case CommandClass::write:
    case CommandClass::expiry: {
      if (info->name == "COPY") {
        for (std::size_t i = 3; i + 1 < parser_.size(); ++i) {
          if (!iequals(parser_.element(i), "DB")) continue;
          std::string_view db = parser_.element(i + 1);
          long long n = 0;
          auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), n);
          if (ec != std::errc() || end != db.data() + db.size())
            return reply_error("ERR value is not an integer or out of range");
          if (n != d_.settings().db)
            return reply_error("ERR COPY ... DB " + std::string(db) + " is not supported by the tandem endpoint: it " +
                               "serves only db " + std::to_string(d_.settings().db) + " (config key db)");
        }
      }
      auto op = new_write_op();
      if (!op) return;
      if (info->cls == CommandClass::expiry) {
        std::vector<std::string_view> argv;
        for (std::size_t i = 0; i < parser_.size(); ++i) argv.push_back(parser_.element(i));
        if (rewrite_expiry(argv, unix_ms(), op->request) == RewriteOutcome::unchanged)
          op->request.assign(parser_.bytes());
      } else if (info->name == "FLUSHALL") {
        append_as_flushdb(parser_, op->request);
      } else {
        op->request.assign(parser_.bytes());
      }
      d_.route_write(op);
      return;
    }
    case CommandClass::effect: {
      auto op = new_write_op();
      if (!op) return;
      op->request.assign(parser_.bytes());
      std::vector<std::string_view> argv;
      for (std::size_t i = 0; i < parser_.size(); ++i) argv.push_back(parser_.element(i));
      if (info->name == "SPOP" && argv.size() >= 2) {
        op->kind = OpKind::effect;
        op->effect.kind = Effect::srem_popped;
        op->effect.argv = {"SREM", std::string(argv[1])};
      } else if (info->name == "XADD") {
        std::size_t id = xadd_id_index(argv);
        if (id != 0 && xadd_id_is_generated(argv[id])) {
          op->kind = OpKind::effect;
          op->effect.kind = Effect::xadd_id;
          op->effect.argv.assign(argv.begin(), argv.end());
          op->effect.slot = id;
        }  // else an explicit id (or malformed options): deterministic, a plain write
      }
      d_.route_write(op);
      return;
    }
  }
}

void Session::handle_local(std::string_view name) {
  std::size_t argc = parser_.size();
  std::string r;
  if (name == "PING") {
    if (argc == 1) return reply_now("+PONG\r\n");
    if (argc == 2) {
      append_bulk(r, parser_.element(1));
      return reply_now(std::move(r));
    }
    return reply_error("ERR wrong number of arguments for 'ping' command");
  }
  if (name == "ECHO") {
    if (argc != 2) return reply_error("ERR wrong number of arguments for 'echo' command");
    append_bulk(r, parser_.element(1));
    return reply_now(std::move(r));
  }
  if (name == "AUTH") {
    const std::string& expected = d_.secrets().client_password;
    if (argc != 2 && argc != 3) return reply_error("ERR wrong number of arguments for 'auth' command");
    if (expected.empty())
      return reply_error(
          "ERR AUTH <password> called without any password configured for the tandem endpoint (client_password_file)");
    bool user_ok = argc == 2 || parser_.element(1) == "default";
    if (user_ok && same_secret(parser_.element(argc - 1), expected)) {
      authed_ = true;
      return reply_now("+OK\r\n");
    }
    return fail_auth_slowly();
  }
  if (name == "SELECT") {
    if (argc != 2) return reply_error("ERR wrong number of arguments for 'select' command");
    if (parser_.element(1) == std::to_string(d_.settings().db)) return reply_now("+OK\r\n");
    return reply_error("ERR the tandem endpoint serves only db " + std::to_string(d_.settings().db) +
                       " (config key db)");
  }
  if (name == "QUIT") {
    reply_now("+OK\r\n");
    close_after_flush();
    return;
  }
  if (name == "HELLO") {
    const int before = proto_;
    handle_hello();
    if (pubsub_ && proto_ != before) pubsub_->switch_proto(proto_);
    return;
  }
  if (name == "RESET") {
    reset_multi();
    unwatch();
    end_pubsub();
    return reply_now("+RESET\r\n");
  }
  if (name == "COMMAND") {
    // GETKEYS asks the Redis what a command's keys are (a script's declared
    // KEYS, say): the primary's Redis answers. The command table itself
    // would list what the endpoint refuses: empty.
    if (argc >= 3 && (iequals(parser_.element(1), "GETKEYS") || iequals(parser_.element(1), "GETKEYSANDFLAGS"))) {
      auto op = new_op(OpKind::read);
      op->request.assign(parser_.bytes());
      op->ready = true;
      d_.count_read();
      return;
    }
    return reply_now("*0\r\n");
  }
  if (name == "CLIENT") {
    std::string sub = argc >= 2 ? to_upper(parser_.element(1)) : "";
    if (sub == "SETNAME" && argc == 3) {
      client_name_.assign(parser_.element(2));
      return reply_now("+OK\r\n");
    }
    if (sub == "SETINFO") return reply_now("+OK\r\n");
    if (sub == "REPLY" && argc == 3) {
      // As Redis: ON answers OK, OFF and SKIP answer nothing; the replies
      // are still computed (and writes still made), just not sent.
      std::string mode = to_upper(parser_.element(2));
      if (mode == "ON") {
        reply_off_ = silence_command_ = false;
        return reply_now("+OK\r\n");
      }
      if (mode == "OFF") return void(reply_off_ = true);
      if (mode == "SKIP") return void(reply_skip_ = !reply_off_);
      return reply_error("ERR syntax error");
    }
    if (sub == "GETNAME") {
      if (client_name_.empty()) return reply_now(null_reply());
      append_bulk(r, client_name_);
      return reply_now(std::move(r));
    }
    if (sub == "ID") {
      append_integer(r, static_cast<long long>(id_));
      return reply_now(std::move(r));
    }
    if (sub == "LIST" || sub == "INFO") {
      // The endpoint's own clients, not the backends' (whose clients are the
      // endpoint's links): what a client library looks itself up in (python-rq
      // finds its worker's address by the name it set).
      std::string text;
      if (sub == "INFO") {
        if (argc != 2) return reply_error("ERR wrong number of arguments for 'client|info' command");
        text = client_info() + "\n";
      } else {
        std::vector<const Session*> listed;
        if (argc == 2) {
          listed.assign(d_.sessions().begin(), d_.sessions().end());
        } else if (argc >= 4 && to_upper(parser_.element(2)) == "ID") {
          for (std::size_t i = 3; i < argc; ++i) {
            std::uint64_t want = 0;
            std::string_view v = parser_.element(i);
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), want);
            if (ec != std::errc() || end != v.data() + v.size() || want == 0)
              return reply_error("ERR Invalid client ID");
            for (const Session* s : d_.sessions())
              if (s->id() == want && std::find(listed.begin(), listed.end(), s) == listed.end()) listed.push_back(s);
          }
        } else if (argc == 4 && to_upper(parser_.element(2)) == "TYPE") {
          std::string type = to_upper(parser_.element(3));
          if (type != "NORMAL" && type != "PUBSUB" && type != "MASTER" && type != "REPLICA" && type != "SLAVE")
            return reply_error("ERR Unknown client type '" + std::string(parser_.element(3)) + "'");
          for (const Session* s : d_.sessions())
            if ((type == "PUBSUB") == (s->pubsub_ != nullptr) && (type == "NORMAL" || type == "PUBSUB"))
              listed.push_back(s);
        } else {
          return reply_error("ERR syntax error");
        }
        std::sort(listed.begin(), listed.end(), [](const Session* a, const Session* b) { return a->id() < b->id(); });
        for (const Session* s : listed) text += s->client_info() + "\n";
      }
      if (proto_ == 3) {  // RESP3: a verbatim string, as Redis answers
        r = "=" + std::to_string(text.size() + 4) + "\r\ntxt:" + text + "\r\n";
      } else {
        append_bulk(r, text);
      }
      return reply_now(std::move(r));
    }
    return reply_error(
        "ERR CLIENT " + sub +
        " is not supported by the tandem endpoint (only SETNAME, GETNAME, SETINFO, ID, REPLY, LIST, INFO)");
  }
  reply_error("ERR unknown local command '" + std::string(name) + "'");
}

std::string Session::client_info() const {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  const auto now = std::chrono::steady_clock::now();
  std::string flags;
  if (pubsub_) flags += 'P';
  if (in_multi_) flags += 'x';
  if (blocked_op_) flags += 'b';
  if (watch_dirty_) flags += 'd';
  if (flags.empty()) flags = "N";
  std::string cmd(last_command_name_);
  std::transform(cmd.begin(), cmd.end(), cmd.begin(), [](unsigned char c) { return std::tolower(c); });
  // Redis's fields and order; what the endpoint does not have (its own
  // buffers, not Redis's) is left out rather than made up.
  return "id=" + std::to_string(id_) + " addr=" + remote_ + " laddr=" + local_ +
         " fd=" + std::to_string(closed_ ? -1 : fd_) + " name=" + client_name_ +
         " age=" + std::to_string(duration_cast<seconds>(now - created_).count()) +
         " idle=" + std::to_string(duration_cast<seconds>(now - last_command_).count()) + " flags=" + flags +
         " db=" + std::to_string(d_.settings().db) + " sub=" + std::to_string(pubsub_ ? pubsub_->channel_count() : 0) +
         " psub=" + std::to_string(pubsub_ ? pubsub_->pattern_count() : 0) +
         " ssub=" + std::to_string(pubsub_ ? pubsub_->shard_count() : 0) +
         " multi=" + (in_multi_ ? std::to_string(multi_count_) : std::string("-1")) +
         " watch=" + std::to_string(watched_.size()) + " omem=" + std::to_string(unsent_bytes()) + " cmd=" + cmd +
         " user=default resp=" + std::to_string(proto_);
}

void Session::handle_hello() {
  // HELLO [protover [AUTH user pass] [SETNAME name]]: the protocol is this
  // connection's; requests of a RESP3 client are sent to Redis in RESP3
  // (backend_link.h), so its replies are Redis's own RESP3 replies.
  const std::size_t argc = parser_.size();
  int proto = proto_;
  std::size_t i = 1;
  if (argc >= 2) {
    std::string_view v = parser_.element(1);
    if (v == "2")
      proto = 2;
    else if (v == "3")
      proto = 3;
    else if (std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
             !v.empty())
      return reply_error("NOPROTO unsupported protocol version");
    else
      return reply_error("ERR Protocol version is not an integer or out of range");
    i = 2;
  }
  std::string name;
  bool set_name = false;
  for (; i < argc; ++i) {
    bool more = i + 1 < argc;
    if (iequals(parser_.element(i), "AUTH") && i + 2 < argc) {
      const std::string& expected = d_.secrets().client_password;
      if (expected.empty())
        return reply_error(
            "ERR AUTH <password> called without any password configured for the tandem endpoint "
            "(client_password_file)");
      if (!(parser_.element(i + 1) == "default" && same_secret(parser_.element(i + 2), expected)))
        return fail_auth_slowly();
      authed_ = true;
      i += 2;
    } else if (iequals(parser_.element(i), "SETNAME") && more) {
      name.assign(parser_.element(++i));
      set_name = true;
    } else {
      return reply_error("ERR Syntax error in HELLO option '" + std::string(parser_.element(i)) + "'");
    }
  }
  if (!authed_)
    return reply_error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
        "select the RESP protocol version at the same time");
  if (set_name) client_name_ = name;
  proto_ = proto;
  std::string r;
  auto field = [&](std::string_view key) { append_bulk(r, key); };
  if (proto_ == 3)
    r += "%7\r\n";
  else
    append_array_header(r, 14);
  field("server");
  append_bulk(r, "redis");
  field("version");
  append_bulk(r, d_.redis_version());
  field("proto");
  append_integer(r, proto_);
  field("id");
  append_integer(r, static_cast<long long>(id_));
  field("mode");
  append_bulk(r, "standalone");
  field("role");
  append_bulk(r, "master");
  field("modules");
  r += "*0\r\n";
  reply_now(std::move(r));
}

std::string Session::null_reply() const { return proto_ == 3 ? "_\r\n" : "$-1\r\n"; }

void Session::handle_watch() {
  if (in_multi_) return reply_error("ERR WATCH inside MULTI is not allowed");
  if (parser_.size() < 2) return reply_error("ERR wrong number of arguments for 'watch' command");
  for (std::size_t i = 1; i < parser_.size(); ++i) watched_.emplace(parser_.element(i));
  d_.watch(this);
  // The reply waits for a PING sent like a write (secondary, then primary):
  // every write routed before this WATCH has then reached the primary link,
  // so this client's later reads see it; every write routed after it is
  // checked against the watched keys (touch_watch).
  auto op = new_op(OpKind::write);
  op->request = kPingCommand;
  op->barrier = true;
  d_.route_write(op);
}

void Session::unwatch() {
  if (watched_.empty() && !watch_dirty_) return;
  watched_.clear();
  watch_dirty_ = false;
  d_.unwatch(this);
}

void Session::touch_watch(const IntentKeys& keys) {
  if (watch_dirty_) return;
  if (keys.all) {
    watch_dirty_ = true;
    return;
  }
  watch_dirty_ = keys.any_of([&](std::string_view key) { return watched_.count(std::string(key)) > 0; });
}

namespace {
// Parses a blocking command's timeout (seconds, may be fractional) as Redis
// does; nullopt with the error text otherwise. 0 = forever.
std::optional<std::chrono::milliseconds> parse_block_timeout(std::string_view text, std::string& error) {
  double seconds = 0;
  std::string t(text);
  char* end = nullptr;
  errno = 0;
  seconds = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || errno == ERANGE || std::isnan(seconds) || std::isinf(seconds)) {
    error = "ERR timeout is not a float or out of range";
    return std::nullopt;
  }
  if (seconds < 0) {
    error = "ERR timeout is negative";
    return std::nullopt;
  }
  if (seconds > 1e12) {
    error = "ERR timeout is out of range";
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000 + 0.5));
}
}  // namespace

void Session::handle_blocking(std::string_view name) {
  const std::size_t argc = parser_.size();
  std::vector<std::string_view> argv;  // the non-blocking form
  std::string_view timeout;
  BlockKind kind = BlockKind::mpop;
  auto arity = [&] { return reply_error("ERR wrong number of arguments for '" + to_lower(name) + "' command"); };
  if (name == "BLPOP" || name == "BRPOP" || name == "BZPOPMIN" || name == "BZPOPMAX") {
    if (argc < 3) return arity();
    const bool list = name[1] == 'L' || name[1] == 'R';
    kind = list ? BlockKind::list_pop : BlockKind::zset_pop;
    argv.push_back(list ? "LMPOP" : "ZMPOP");
    std::string count = std::to_string(argc - 2);
    block_scratch_ = count;
    argv.push_back(block_scratch_);
    for (std::size_t i = 1; i + 1 < argc; ++i) argv.push_back(parser_.element(i));
    argv.push_back(name == "BLPOP" ? "LEFT" : name == "BRPOP" ? "RIGHT" : name == "BZPOPMIN" ? "MIN" : "MAX");
    timeout = parser_.element(argc - 1);
  } else if (name == "BLMPOP" || name == "BZMPOP") {
    if (argc < 5) return arity();
    argv.push_back(name == "BLMPOP" ? "LMPOP" : "ZMPOP");
    for (std::size_t i = 2; i < argc; ++i) argv.push_back(parser_.element(i));
    timeout = parser_.element(1);
  } else if (name == "BLMOVE") {
    if (argc != 6) return arity();
    kind = BlockKind::move;
    argv = {"LMOVE", parser_.element(1), parser_.element(2), parser_.element(3), parser_.element(4)};
    timeout = parser_.element(5);
  } else {  // BRPOPLPUSH
    if (argc != 4) return arity();
    kind = BlockKind::move;
    argv = {"RPOPLPUSH", parser_.element(1), parser_.element(2)};
    timeout = parser_.element(3);
  }
  std::string error;
  auto wait = parse_block_timeout(timeout, error);
  if (!wait) return reply_error(error);
  auto op = new_write_op();
  if (!op) return;
  append_command(op->request, argv);
  op->block = kind;
  // Like Redis, a blocked client's next commands wait until it is served.
  blocked_op_ = op;
  d_.add_blocking(op);
  if (wait->count() > 0) {
    block_timer_.expires_after(*wait);
    block_timer_.async_wait([weak = weak_from_this(), op](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->blocked_op_ != op) return;
      self->block_timed_out();
    });
  }
  d_.route_write(op);
}

// XREAD [COUNT n] BLOCK ms STREAMS key... id...: emulated like the blocking
// pops (it would otherwise hold a shared link): the XREAD without BLOCK goes
// through both servers like a write (it changes nothing), parked while it
// reads nothing, retried after each write to its streams. A '$' id means "after
// the stream's last entry when it blocked": the first try reads each such
// stream's last entry (XREVRANGE + - COUNT 1 in a MULTI) instead, whose id
// replaces the '$' (a later XADD's id is above it; none for a missing stream: 0-0).
void Session::handle_xread_block() {
  const std::size_t argc = parser_.size();
  std::vector<std::string> argv{"XREAD"};
  std::string_view timeout;
  std::size_t i = 1;
  for (; i < argc && !iequals(parser_.element(i), "STREAMS"); ++i) {
    if (iequals(parser_.element(i), "BLOCK") && i + 1 < argc) {
      timeout = parser_.element(++i);
    } else if (iequals(parser_.element(i), "COUNT") && i + 1 < argc) {
      argv.emplace_back("COUNT");
      argv.emplace_back(parser_.element(++i));
    } else {
      return reply_error("ERR syntax error");
    }
  }
  std::size_t n = i < argc ? (argc - i - 1) / 2 : 0;
  if (i >= argc || n == 0 || (argc - i - 1) % 2 != 0)
    return reply_error("ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.");
  long long ms = 0;
  auto [end, ec] = std::from_chars(timeout.data(), timeout.data() + timeout.size(), ms);
  if (ec != std::errc() || end != timeout.data() + timeout.size())
    return reply_error("ERR timeout is not an integer or out of range");
  if (ms < 0) return reply_error("ERR timeout is negative");
  auto op = new_op(OpKind::write);  // through both links in write order; read-only, so nothing to journal
  argv.emplace_back("STREAMS");
  const std::size_t first_key = argv.size();
  for (std::size_t k = i + 1; k < argc; ++k) argv.emplace_back(parser_.element(k));
  for (std::size_t k = 0; k < n; ++k) {
    op->keys.add(argv[first_key + k]);
    if (argv[first_key + n + k] == "$") op->xread_dollar.push_back(first_key + n + k);
  }
  op->block = BlockKind::xread;
  op->xread_argv = std::move(argv);
  std::vector<std::string_view> view;
  if (op->xread_dollar.empty()) {
    for (auto& a : op->xread_argv) view.push_back(a);
    append_command(op->request, view);
  } else {
    op->request = kMultiCommand;
    for (auto idx : op->xread_dollar) {
      view = {"XREVRANGE", op->xread_argv[idx - n], "+", "-", "COUNT", "1"};
      append_command(op->request, view);
    }
    op->request += kExecCommand;
    op->replies = static_cast<std::uint32_t>(op->xread_dollar.size() + 2);
  }
  blocked_op_ = op;
  d_.add_blocking(op);
  if (ms > 0) {
    block_timer_.expires_after(std::chrono::milliseconds(ms));
    block_timer_.async_wait([weak = weak_from_this(), op](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->blocked_op_ != op) return;
      self->block_timed_out();
    });
  }
  d_.route_write(op);
}

void Session::block_timed_out() {
  auto op = blocked_op_;
  if (!d_.unpark(op.get())) {
    op->block_expired = true;  // a retry is in flight: it completes with the timeout reply if it pops nothing
    return;
  }
  op->reply = blocking_timeout_reply(*op);
  op->done = true;
  pump();
}

void Session::on_parked() {
  // The parked op is the last one of this session (nothing is parsed after
  // a blocking command): if it had been forwarded, it is not any more.
  if (cursor_ == ops_.size()) --cursor_;
}

std::string Session::config_set_refusal() const {
  if (!(parser_.size() >= 2 && iequals(parser_.element(1), "SET")))
    return "ERR CONFIG " + to_upper(parser_.size() >= 2 ? parser_.element(1) : "") +
           " is not supported by the tandem endpoint: server administration is done on each Redis directly";
  if (parser_.size() < 4 || parser_.size() % 2 != 0) return "ERR wrong number of arguments for 'config|set' command";
  for (std::size_t i = 2; i < parser_.size(); i += 2)
    if (!config_settable(parser_.element(i)))
      return "ERR CONFIG SET '" + std::string(parser_.element(i)) +
             "' is not supported by the tandem endpoint: only the encoding limits (hash-max-*, list-max-*, "
             "set-max-*, zset-max-*, stream-node-max-*, list-compress-depth) and notify-keyspace-events are set "
             "through it, on both Redis servers; change the others on each Redis directly";
  return "";
}

void Session::fail_auth_slowly() {
  // The reply waits auth_failure_delay and nothing more is parsed meanwhile:
  // a pipelined burst of guesses runs at one per delay.
  auto op = new_op(OpKind::local);
  append_error(op->reply, "WRONGPASS invalid username-password pair or user is disabled.");
  d_.auth_failed(remote_);
  auth_delay_pending_ = true;
  auth_delay_timer_.expires_after(d_.settings().auth_failure_delay);
  auth_delay_timer_.async_wait([self = shared_from_this(), op](const boost::system::error_code&) {
    self->auth_delay_pending_ = false;
    op->done = true;
    self->pump();
  });
}

void Session::handle_in_multi(const CommandInfo* info, std::string_view name) {
  auto refuse = [&](const std::string& why) {
    multi_failed_ = true;
    reply_error(why);
  };
  if (!info) return refuse(unknown_command_error(parser_));
  if (multi_failed_ && info->cls != CommandClass::multi) return reply_now("+QUEUED\r\n");  // EXEC aborts anyway
  if (multi_buf_.size() + parser_.bytes().size() > d_.settings().max_transaction_size) {
    std::string().swap(multi_buf_);  // EXEC fails anyway: free it now
    return refuse("ERR transaction larger than max_transaction_size (" +
                  std::to_string(d_.settings().max_transaction_size) + " bytes); EXEC will fail with EXECABORT");
  }
  switch (info->cls) {
    case CommandClass::unsupported:
      return refuse("ERR '" + to_upper(name) +
                    "' is not supported by the tandem endpoint: " + std::string(info->reason));
    case CommandClass::pubsub:
      return refuse("ERR '" + to_upper(name) + "' inside MULTI is not supported by the tandem endpoint");
    case CommandClass::effect: {
      // Queued as is; the primary's copy of the block gets its effect from
      // the secondary's EXEC reply (block_with_effects).
      collect_write_keys(parser_, multi_keys_);
      if (multi_keys_.has_prefix(kReservedPrefix)) return refuse(std::string(kReservedError));
      std::vector<std::string_view> argv;
      for (std::size_t i = 0; i < parser_.size(); ++i) argv.push_back(parser_.element(i));
      QueuedEffect q;
      q.index = multi_count_;
      if (info->name == "SPOP" && argv.size() >= 2) {
        q.effect.kind = Effect::srem_popped;
        q.effect.argv = {"SREM", std::string(argv[1])};
      } else if (info->name == "XADD") {
        std::size_t id = xadd_id_index(argv);
        if (id != 0 && xadd_id_is_generated(argv[id])) {
          q.effect.kind = Effect::xadd_id;
          q.effect.argv.assign(argv.begin(), argv.end());
          q.effect.slot = id;
        }
      }
      q.begin = multi_buf_.size();
      multi_buf_.append(parser_.bytes());
      q.end = multi_buf_.size();
      if (q.effect.kind != Effect::none) multi_effects_.push_back(std::move(q));
      multi_has_write_ = true;
      break;
    }
    case CommandClass::local:
      if (info->name != "PING" && info->name != "ECHO")
        return refuse("ERR '" + to_upper(name) + "' inside MULTI is not supported by the tandem endpoint");
      multi_buf_.append(parser_.bytes());
      break;
    case CommandClass::read:
      if (info->name == "CONFIG") return refuse("ERR CONFIG inside MULTI is not supported by the tandem endpoint");
      if (publishes_reserved(*info, parser_)) return refuse(std::string(kReservedChannelError));
      multi_buf_.append(parser_.bytes());
      break;
    case CommandClass::write:
      collect_write_keys(parser_, multi_keys_);
      if (multi_keys_.has_prefix(kReservedPrefix)) return refuse(std::string(kReservedError));
      if (info->name == "FLUSHALL")
        append_as_flushdb(parser_, multi_buf_);
      else
        multi_buf_.append(parser_.bytes());
      multi_has_write_ = true;
      break;
    case CommandClass::expiry: {
      collect_write_keys(parser_, multi_keys_);
      if (multi_keys_.has_prefix(kReservedPrefix)) return refuse(std::string(kReservedError));
      std::vector<std::string_view> argv;
      for (std::size_t i = 0; i < parser_.size(); ++i) argv.push_back(parser_.element(i));
      if (rewrite_expiry(argv, unix_ms(), multi_buf_) == RewriteOutcome::unchanged) multi_buf_.append(parser_.bytes());
      multi_has_write_ = true;
      break;
    }
    case CommandClass::multi:
      if (info->name == "UNWATCH") {  // queued, as Redis does (a no-op on the backends)
        multi_buf_.append(parser_.bytes());
        break;
      }
      return refuse("ERR " + to_upper(name) + " inside MULTI is not allowed");
    case CommandClass::script:
      // The whole block becomes a script op: its effects, all of them, come
      // from the secondary's replication stream (SPOP/XADD '*' in it too).
      if (std::string refusal = script_refusal(info->name, parser_); !refusal.empty()) return refuse(refusal);
      collect_write_keys(parser_, multi_keys_);
      if (multi_keys_.has_prefix(kReservedPrefix)) return refuse(std::string(kReservedError));
      if (info->name == "EVAL") multi_scripts_.emplace_back(parser_.element(1));
      multi_buf_.append(parser_.bytes());
      multi_has_write_ = multi_has_script_ = true;
      break;
    case CommandClass::script_admin: {
      auto kind = classify_script_admin(parser_);
      if (kind == ScriptAdmin::refused) return refuse(script_admin_refusal(parser_));
      multi_buf_.append(parser_.bytes());
      if (kind == ScriptAdmin::write) multi_has_write_ = true;
      break;
    }
    case CommandClass::blocking:
      // Inside MULTI, Redis runs a blocking pop as a non-blocking one: the
      // same deterministic write on both servers.
      collect_write_keys(parser_, multi_keys_);
      if (multi_keys_.has_prefix(kReservedPrefix)) return refuse(std::string(kReservedError));
      multi_buf_.append(parser_.bytes());
      multi_has_write_ = true;
      break;
  }
  ++multi_count_;
  reply_now("+QUEUED\r\n");
}

void Session::handle_exec() {
  const bool watch_failed = watch_dirty_;
  unwatch();
  if (multi_failed_) {
    reset_multi();
    return reply_error("EXECABORT Transaction discarded because of previous errors.");
  }
  if (watch_failed) {
    // A write routed after WATCH touched a watched key: nothing is sent.
    reset_multi();
    return reply_now(proto_ == 3 ? "_\r\n" : "*-1\r\n");
  }
  if (multi_count_ == 0) {
    reset_multi();
    return reply_now("*0\r\n");
  }
  if (multi_has_script_) {
    // Framed by the dispatcher (dual: MULTI; PUBLISH marker; ...; EXEC).
    auto op = new_op(OpKind::script);
    op->fx_block = true;
    op->request.swap(multi_buf_);
    op->replies = multi_count_;
    std::swap(op->keys, multi_keys_);
    std::swap(op->fx_scripts, multi_scripts_);
    reset_multi();
    d_.route_write(op);
    return;
  }
  auto op = new_op(multi_has_write_ ? OpKind::exec_write : OpKind::exec_read);
  op->request.reserve(multi_buf_.size() + 32);
  op->request = kMultiCommand;
  op->request += multi_buf_;
  op->request += kExecCommand;
  op->replies = multi_count_ + 2;
  std::swap(op->keys, multi_keys_);
  for (auto& q : multi_effects_) {
    q.begin += kMultiCommand.size();
    q.end += kMultiCommand.size();
  }
  std::swap(op->queued_effects, multi_effects_);
  reset_multi();
  if (op->kind == OpKind::exec_write) {
    d_.route_write(op);
  } else {
    op->ready = true;
    d_.count_read();
  }
}

void Session::reset_multi() {
  in_multi_ = false;
  multi_failed_ = false;
  multi_has_write_ = false;
  multi_has_script_ = false;
  multi_scripts_.clear();
  multi_count_ = 0;
  multi_buf_.clear();
  multi_keys_.clear();
  multi_effects_.clear();
}

void Session::forward_ready() {
  while (cursor_ < ops_.size()) {
    auto& op = ops_[cursor_];
    if (!op->done && !op->own_connection) {  // one answered on the session's own connection needs nothing sent
      if (!op->ready) break;                 // a write still waiting for the secondary (or held)
      if (closed_ && !op->is_write()) {
        op->ready = false;
        op->done = true;  // nobody reads it; writes still go on (both servers must apply them)
      } else if (!d_.send_primary(op)) {
        break;  // a read waiting for this session's lane to drain (dispatcher.h "Local links")
      }
    }
    ++cursor_;
  }
}

void Session::pump() {
  auto self = shared_from_this();  // finishing the last op may drop the last other reference
  forward_ready();
  bool wrote = false;
  while (!ops_.empty() && ops_.front()->done) {
    auto op = std::move(ops_.front());
    ops_.pop_front();
    // A silenced reply is dropped (a subscription's frames are never silenced: keep_pushes).
    if (op->silent) op->reply.clear();
    if (!closed_) {
      const std::size_t n = op->reply.size();
      queue_out(op->reply);
      reply_estimate_ = decaying_max(reply_estimate_, n);
      recent_reply_max_ = decaying_max(recent_reply_max_, n);
      if (op->kind != OpKind::local) reply_seen_ = true;  // a CLIENT SETNAME's +OK says nothing of its GETs
    }
    if (op->intent_seq) d_.intent_settled(op->intent_seq);
    if (op == blocked_op_) {
      d_.forget_blocking(op.get());
      blocked_op_.reset();
      block_timer_.cancel();
    }
    op->reset();  // also breaks the cycle session -> op -> session
    if (spare_ops_.size() < 256) spare_ops_.push_back(std::move(op));
    --cursor_;
    d_.op_finished();
    wrote = true;
  }
  if (enforce_output_limit(0)) return;
  if (!paced_noted_ && paced()) {
    paced_noted_ = true;  // one pause, until it reads below its soft limit
    d_.count_paced();
  }
  if (wrote) schedule_flush();
  if (!closed_ && can_take_more() && (parser_.buffered() > 0 || parser_.has_unread()) && process_input()) {
    // Input left unparsed while this client was at its in-flight bound made
    // new operations: forward them (posted, so no recursion).
    asio::post(socket_.get_executor(), [self] { self->pump(); });
  }
  if (!reading_) read_more();
}

void Session::queue_out(std::string& reply) {
  const std::size_t n = reply.size();
  if (n >= kOwnPiece) {
    out_.push_back(std::move(reply));
  } else {
    if (out_.empty() || out_.back().size() >= kOwnPiece) {
      out_.push_back(std::move(spare_piece_));
      spare_piece_.clear();
    }
    out_.back() += reply;
  }
  out_bytes_ += n;
}

void Session::schedule_flush() {
  if (flush_posted_ || closed_) return;
  flush_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void Session::flush() {
  if (closed_) return;
  if (write_in_progress_) return;
  if (out_.empty()) {
    if (closing_ && ops_.empty()) linger_close();
    return;
  }
  std::swap(out_, writing_);
  writing_bytes_ = std::exchange(out_bytes_, 0);
  write_buffers_.clear();
  for (auto& piece : writing_) write_buffers_.push_back(asio::buffer(piece));
  write_in_progress_ = true;
  // The completion condition sees each step of the write (64 KiB at most):
  // what the client has taken counts at once (its soft limit, its pacing),
  // not only when the whole batch is out. It runs inside the write, whose
  // handler holds the session.
  const std::size_t total = writing_bytes_;
  asio::async_write(
      socket_, write_buffers_,
      [this, total](const boost::system::error_code& ec, std::size_t written) {
        on_write_progress(total - written);
        return asio::transfer_all()(ec, written);
      },
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        self->write_in_progress_ = false;
        self->writing_bytes_ = 0;
        if (self->closed_) {
          self->d_.release_later(self->writing_);
        } else {
          auto& first = self->writing_.front();  // a gathered piece, unless a large reply
          if (first.capacity() < 2 * kOwnPiece) {
            self->spare_piece_ = std::move(first);
            self->spare_piece_.clear();
          }
          self->writing_.clear();
        }
        if (ec) {
          self->close();
          return;
        }
        self->flush();
      });
}

void Session::linger_close() {
  // Half-close and discard what the client still sends until it closes: closing
  // with unread input would reset the connection and could destroy our error
  // reply before the client read it.
  if (closed_ || lingering_) return;
  lingering_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  discard_input(0);
}

void Session::discard_input(std::size_t discarded) {
  socket_.async_read_some(asio::buffer(in_),
                          [self = shared_from_this(), discarded](const boost::system::error_code& ec, std::size_t n) {
                            if (ec || self->closed_ || discarded + n > (64u << 20)) return self->close();
                            self->discard_input(discarded + n);
                          });
}

void Session::close_after_flush() {
  closing_ = true;
  schedule_flush();
}

}  // namespace tandem::kv
