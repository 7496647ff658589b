#include "replication_tap.h"

#include <boost/asio/write.hpp>

#include <charconv>

#include "plugin_util.h"
#include "tcp_connect.h"

namespace tandem::kv {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kEofMarkLength = 40;  // "$EOF:<40 random bytes>" (diskless snapshot)
constexpr auto kAckInterval = std::chrono::seconds(1);

std::string command(std::initializer_list<std::string_view> argv) {
  std::string out;
  append_command(out, std::vector<std::string_view>(argv));
  return out;
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

ReplicationTap::ReplicationTap(asio::io_context& io, Options options, Callbacks callbacks)
    : options_(std::move(options)),
      cb_(std::move(callbacks)),
      socket_(io),
      resolver_(io),
      timer_(io),
      ack_timer_(io),
      silence_timer_(io),
      in_(new char[kReadChunk]) {}

ReplicationTap::~ReplicationTap() { stop(); }

void ReplicationTap::start() {
  if (state_ != State::stopped) return;
  connect();
}

void ReplicationTap::stop() {
  state_ = State::stopped;
  ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  resolver_.cancel();
  timer_.cancel();
  ack_timer_.cancel();
  silence_timer_.cancel();
}

void ReplicationTap::connect() {
  state_ = State::connecting;
  const auto gen = ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  buf_.clear();
  out_.clear();
  writing_.clear();
  write_in_progress_ = false;
  parser_ = std::make_unique<RespParser>();
  step_ = 0;
  timer_.expires_after(options_.connect_timeout);
  timer_.async_wait([this, self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (!ec && gen == generation_ && (state_ == State::connecting || state_ == State::handshake))
      fail("no connection within connect_timeout");
  });
  async_connect_tcp(resolver_, socket_, options_.host, options_.port,
                    [this, self = shared_from_this(), gen](const std::string& why) {
                      if (gen != generation_) return;
                      if (!why.empty()) return fail(why);
                      state_ = State::handshake;
                      arm_silence_timer();
                      read_more();
                      next_handshake_step();
                    });
}

void ReplicationTap::fail(const std::string& why) {
  if (state_ == State::stopped || state_ == State::waiting) return;
  last_error_ = why;
  state_ = State::waiting;
  const auto gen = ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  ack_timer_.cancel();
  silence_timer_.cancel();
  timer_.expires_after(options_.reconnect_interval);
  timer_.async_wait([this, self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (!ec && gen == generation_ && state_ == State::waiting) connect();
  });
  if (cb_.on_down) cb_.on_down(why);
}

void ReplicationTap::send(std::string bytes) {
  // One write at a time on the socket: an acknowledgement may be due while
  // another is being written.
  out_ += bytes;
  if (write_in_progress_) return;
  write_in_progress_ = true;
  writing_.swap(out_);
  const auto gen = generation_;
  asio::async_write(socket_, asio::buffer(writing_),
                    [this, self = shared_from_this(), gen](const boost::system::error_code& ec, std::size_t) {
                      if (gen != generation_) return;
                      write_in_progress_ = false;
                      writing_.clear();
                      if (ec) return fail("write failed: " + ec.message());
                      if (!out_.empty()) send({});
                    });
}

void ReplicationTap::read_more() {
  const auto gen = generation_;
  socket_.async_read_some(asio::buffer(in_.get(), kReadChunk), [this, self = shared_from_this(), gen](
                                                                   const boost::system::error_code& ec, std::size_t n) {
    if (gen != generation_) return;
    if (ec)
      return fail(ec == asio::error::eof ? "Redis closed the replica connection" : "read failed: " + ec.message());
    arm_silence_timer();
    if (state_ == State::streaming) {
      parser_->feed(in_.get(), n);
      if (!read_commands()) return;
    } else {
      buf_.append(in_.get(), n);
      on_bytes();
    }
    if (gen == generation_) read_more();
  });
}

void ReplicationTap::next_handshake_step() {
  // One request at a time: each is answered before the next is sent.
  switch (step_) {
    case 0:
      if (!options_.password.empty()) return send(command({"AUTH", options_.password}));
      ++step_;
      [[fallthrough]];
    case 1:
      if (options_.join_at_current) {
        info_left_ = -1;
        return send(command({"INFO", "replication"}));
      }
      ++step_;
      [[fallthrough]];
    case 2: return send(command({"REPLCONF", "listening-port", "0"}));
    case 3:
      if (!options_.diskless) return send(command({"REPLCONF", "capa", "psync2"}));
      return send(command({"REPLCONF", "capa", "eof", "capa", "psync2"}));
    case 4:
      if (synced_once_) return send(command({"PSYNC", replid_, std::to_string(offset_ + 1)}));
      return send(command({"PSYNC", "?", "-1"}));
  }
}

bool ReplicationTap::on_handshake_line(std::string_view line) {
  static constexpr const char* kStep[] = {"AUTH", "INFO replication", "REPLCONF listening-port", "REPLCONF capa",
                                          "PSYNC"};
  if (line.empty()) return true;  // a keepalive newline
  if (line[0] == '-') {
    fail(std::string(kStep[step_]) + " refused: " + std::string(line.substr(1)));
    return false;
  }
  if (step_ < 4) {
    ++step_;
    next_handshake_step();
    return true;
  }
  // "+FULLRESYNC <replid> <offset>" or "+CONTINUE [<new replid>]".
  std::vector<std::string> words;
  if (!split_inline(line.substr(1), words)) words.clear();
  if (words.size() == 3 && words[0] == "FULLRESYNC") {
    std::uint64_t offset = 0;
    if (!parse_u64(words[2], offset)) {
      fail("PSYNC: bad offset in '" + std::string(line) + "'");
      return false;
    }
    replid_ = words[1];
    offset_ = offset;
    state_ = State::snapshot_header;
    const auto gen = generation_;
    if (cb_.on_snapshot) cb_.on_snapshot();
    return gen == generation_;
  }
  if (!words.empty() && words[0] == "CONTINUE" && synced_once_) {
    if (words.size() == 2) replid_ = words[1];
    state_ = State::streaming;
    schedule_ack();
    const auto gen = generation_;
    if (cb_.on_synced) cb_.on_synced(false);
    return gen == generation_;
  }
  fail("PSYNC: unexpected answer '" + std::string(line) + "'");
  return false;
}

void ReplicationTap::on_bytes() {
  const auto gen = generation_;
  while (state_ == State::handshake) {
    if (step_ == 1 && options_.join_at_current) {  // the INFO reply: a bulk string, not a line
      if (!read_info_reply()) return;
      if (gen != generation_) return;
      continue;
    }
    auto eol = buf_.find('\n');
    if (eol == std::string::npos) return;
    std::string line = buf_.substr(0, eol);
    buf_.erase(0, eol + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!on_handshake_line(line) || gen != generation_) return;
  }
  if (state_ == State::snapshot_header || state_ == State::snapshot_body) {
    if (!skip_snapshot()) return;
    state_ = State::streaming;
    synced_once_ = true;
    schedule_ack();
    if (cb_.on_synced) cb_.on_synced(true);
    if (gen != generation_) return;
  }
  if (state_ == State::streaming && !buf_.empty()) {
    parser_->feed(buf_.data(), buf_.size());
    buf_.clear();
    read_commands();
  }
}

bool ReplicationTap::read_info_reply() {
  if (info_left_ < 0) {
    auto eol = buf_.find("\r\n");
    if (eol == std::string::npos) return false;
    std::string header = buf_.substr(0, eol);
    buf_.erase(0, eol + 2);
    if (!header.empty() && header[0] == '-') {
      fail("INFO replication refused: " + header.substr(1));
      return false;
    }
    std::uint64_t n = 0;
    if (header.empty() || header[0] != '$' || !parse_u64(std::string_view(header).substr(1), n)) {
      fail("INFO replication: unexpected reply '" + header.substr(0, 80) + "'");
      return false;
    }
    info_left_ = static_cast<long long>(n);
  }
  const auto n = static_cast<std::size_t>(info_left_);
  if (buf_.size() < n + 2) return false;
  // "master_replid:<40 hex>" and "master_repl_offset:<n>": continue from the
  // byte after the last one Redis has written to its stream.
  const auto info = parse_info(std::string_view(buf_.data(), n));
  std::uint64_t offset = 0;
  const std::string replid = field(info, "master_replid");
  if (replid.empty() || !parse_u64(field(info, "master_repl_offset"), offset)) {
    fail("INFO replication: no master_replid/master_repl_offset in the reply");
    return false;
  }
  replid_ = replid;
  offset_ = offset;
  synced_once_ = true;  // PSYNC asks to continue from there
  buf_.erase(0, n + 2);
  ++step_;
  next_handshake_step();
  return true;
}

bool ReplicationTap::skip_snapshot() {
  if (state_ == State::snapshot_header) {
    // Newlines are keepalives while Redis prepares the snapshot.
    buf_.erase(0, buf_.find_first_not_of('\n') == std::string::npos ? buf_.size() : buf_.find_first_not_of('\n'));
    auto eol = buf_.find("\r\n");
    if (eol == std::string::npos) return false;
    std::string_view header(buf_.data(), eol);
    if (header.size() == 5 + kEofMarkLength && header.substr(0, 5) == "$EOF:") {
      snapshot_mark_ = std::string(header.substr(5));
    } else if (header.empty() || header[0] != '$' || !parse_u64(header.substr(1), snapshot_left_)) {
      fail("PSYNC: bad snapshot header '" + std::string(header) + "'");
      return false;
    } else {
      snapshot_mark_.clear();
    }
    buf_.erase(0, eol + 2);
    state_ = State::snapshot_body;
  }
  if (snapshot_mark_.empty()) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(snapshot_left_, buf_.size()));
    buf_.erase(0, n);
    snapshot_left_ -= n;
    return snapshot_left_ == 0;
  }
  auto at = buf_.find(snapshot_mark_);
  if (at == std::string::npos) {
    // Keep what could be the start of the mark.
    if (buf_.size() >= kEofMarkLength) buf_.erase(0, buf_.size() - (kEofMarkLength - 1));
    return false;
  }
  buf_.erase(0, at + kEofMarkLength);
  return true;
}

bool ReplicationTap::read_commands() {
  const auto gen = generation_;
  for (;;) {
    auto next = parser_->next();
    if (next == RespParser::Next::incomplete) return true;
    if (next == RespParser::Next::protocol_error) {
      fail("protocol error in the replication stream: " + parser_->error_text());
      return false;
    }
    const std::uint64_t before = offset_;
    offset_ += parser_->bytes().size();
    if (parser_->type() == RespType::array && parser_->size() >= 2 && iequals(parser_->element(0), "REPLCONF") &&
        iequals(parser_->element(1), "GETACK")) {
      // As a replica: the offset before this request.
      send(command({"REPLCONF", "ACK", std::to_string(before)}));
      continue;
    }
    if (cb_.on_command) cb_.on_command(*parser_, offset_);
    if (gen != generation_) return false;
  }
}

void ReplicationTap::send_ack() { send(command({"REPLCONF", "ACK", std::to_string(offset_)})); }

void ReplicationTap::schedule_ack() {
  const auto gen = generation_;
  ack_timer_.expires_after(kAckInterval);
  ack_timer_.async_wait([this, self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (ec || gen != generation_ || state_ != State::streaming) return;
    send_ack();
    schedule_ack();
  });
}

void ReplicationTap::arm_silence_timer() {
  const auto gen = generation_;
  silence_timer_.expires_after(options_.silence_timeout);
  silence_timer_.async_wait([this, self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (!ec && gen == generation_) fail("nothing from Redis within silence_timeout");
  });
}

}  // namespace tandem::kv
