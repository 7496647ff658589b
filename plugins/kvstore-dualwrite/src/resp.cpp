#include "resp.h"

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace tandem::kv {
namespace {

void append_number_line(std::string& out, char prefix, long long v) {
  char buf[32];
  buf[0] = prefix;
  auto r = std::to_chars(buf + 1, buf + sizeof(buf) - 2, v);
  *r.ptr++ = '\r';
  *r.ptr++ = '\n';
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// An integer as Redis's string2ll reads it: optional '-', no '+', no leading
// zeros, no blanks, no overflow.
bool parse_ll(std::string_view s, long long& v) {
  if (s.empty() || s.size() > 20) return false;
  if (s == "0") {
    v = 0;
    return true;
  }
  std::size_t i = s[0] == '-' ? 1 : 0;
  if (i >= s.size() || s[i] < '1' || s[i] > '9') return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Redis's limits for a client's request (networking.c): multibulk length,
// bulk length (proto-max-bulk-len default), a header line without CRLF.
constexpr long long kMaxMultibulk = 1024 * 1024;
constexpr long long kMaxBulk = 512LL * 1024 * 1024;
constexpr std::size_t kMaxHeaderLine = 64 * 1024;
// A backend's bulk string this large gets its whole room reserved at its header.
constexpr std::size_t kReserveBulk = 64 * 1024;
// Aggregates nested deeper than this are refused (a reply of Redis's never is).
constexpr std::size_t kMaxDepth = 10000;

}  // namespace

bool split_inline(std::string_view line, std::vector<std::string>& args) {
  // Redis's rules for inline arguments: words separated by blanks; "double
  // quoted" with \n \r \t \b \a \\ \" and \xHH escapes; 'single quoted' with
  // only \' ; a closing quote must be followed by a blank or the end.
  std::size_t i = 0;
  const std::size_t n = line.size();
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  for (;;) {
    while (i < n && blank(line[i])) ++i;
    if (i >= n) return true;
    std::string arg;
    bool dq = false, sq = false;
    for (;;) {
      if (dq) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_digit(line[i + 2]) >= 0 &&
            hex_digit(line[i + 3]) >= 0) {
          arg.push_back(static_cast<char>(hex_digit(line[i + 2]) * 16 + hex_digit(line[i + 3])));
          i += 4;
          continue;
        }
        if (line[i] == '\\' && i + 1 < n) {
          char c = line[++i];
          switch (c) {
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'b': c = '\b'; break;
            case 'a': c = '\a'; break;
            default: break;
          }
          arg.push_back(c);
        } else if (line[i] == '"') {
          if (i + 1 < n && !blank(line[i + 1])) return false;
          dq = false;
          ++i;
          break;
        } else {
          arg.push_back(line[i]);
        }
        ++i;
      } else if (sq) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 1 < n && line[i + 1] == '\'') {
          arg.push_back('\'');
          i += 2;
          continue;
        }
        if (line[i] == '\'') {
          if (i + 1 < n && !blank(line[i + 1])) return false;
          sq = false;
          ++i;
          break;
        }
        arg.push_back(line[i++]);
      } else {
        if (i >= n || blank(line[i])) break;
        if (line[i] == '"')
          dq = true;
        else if (line[i] == '\'')
          sq = true;
        else
          arg.push_back(line[i]);
        ++i;
      }
    }
    args.push_back(std::move(arg));
  }
}

void RespParser::feed(const char* data, std::size_t n) { buf_.append(data, n); }

void RespParser::reserve_room(std::size_t need) {
  if (room_source_) {
    std::string room = room_source_(need);
    if (room.capacity() >= need) {
      room.assign(buf_);  // what arrived so far (less than a read): no fault, no regrowth
      buf_.swap(room);
      return;
    }
  }
  buf_.reserve(need);
}

std::string RespParser::take_message() {
  std::string out;
  if (inline_msg_ || msg_begin_ != 0) {
    out.assign(bytes());
    return out;
  }
  // The bytes after the message (the start of the next one, less than one
  // read) move to a fresh buffer; the message keeps the old one.
  std::string rest(std::string_view(buf_).substr(msg_end_));
  buf_.resize(msg_end_);
  out.swap(buf_);
  buf_ = std::move(rest);
  // As if the message had been consumed from a buffer starting at the rest.
  elements_.clear();
  msg_begin_ = msg_end_ = pos_ = scan_ = 0;
  payload_offset_ = payload_len_ = 0;
  return out;
}

RespParser::Next RespParser::fail(std::string text) {
  error_ = std::move(text);
  return Next::protocol_error;
}

void RespParser::reset_message() {
  if (!inline_msg_) pos_ = msg_end_;
  inline_msg_ = false;
  scan_ = pos_;
  elements_.clear();
  complete_ = false;
  type_ = RespType::nil;
  payload_offset_ = payload_len_ = 0;
  integer_ = 0;
}

RespParser::Next RespParser::next() {
  if (unread_) {
    unread_ = false;
    return Next::message;
  }
  if (complete_) reset_message();
  // Drop consumed bytes now and then (offsets of a message in progress move along).
  if (pos_ > 0 && (pos_ == buf_.size() || (pos_ >= 16 * 1024 && pos_ * 2 >= buf_.size()))) {
    buf_.erase(0, pos_);
    for (auto& e : elements_) e.offset -= pos_;
    scan_ -= pos_;
    pos_ = 0;
  }
  // Between messages a client request that does not start with '*' is an
  // inline command.
  if (inline_ok_ && open_.empty() && scan_ == pos_ && pos_ < buf_.size() && buf_[pos_] != '*') return next_inline();
  switch (parse_from_scan()) {
    case Step::incomplete: return Next::incomplete;
    case Step::error: return Next::protocol_error;
    case Step::done: break;
  }
  complete_ = true;
  msg_begin_ = pos_;
  msg_end_ = scan_;
  return Next::message;
}

RespParser::Step RespParser::parse_from_scan() {
  const bool client = inline_ok_;
  for (;;) {
    if (scan_ >= buf_.size()) return Step::incomplete;
    const char* data = buf_.data();
    const std::size_t size = buf_.size();
    const char* line = data + scan_;
    const char* cr = static_cast<const char*>(std::memchr(line, '\r', size - scan_));
    if (!cr || cr + 1 >= data + size) {
      if (client && size - scan_ > kMaxHeaderLine) {
        fail(*line == '*' ? "too big mbulk count string" : "too big bulk count string");
        return Step::error;
      }
      return Step::incomplete;
    }
    if (cr[1] != '\n') {
      fail("invalid line ending (CR not followed by LF)");
      return Step::error;
    }
    const char t = *line;
    const std::string_view rest(line + 1, static_cast<std::size_t>(cr - line - 1));
    const std::size_t after = static_cast<std::size_t>(cr + 2 - data);
    const std::size_t value_start = scan_;
    const bool top = open_.empty();
    const bool depth_one = open_.size() == 1;
    if (client && top && t != '*') {
      fail(std::string("expected '*', got '") + t + "'");
      return Step::error;
    }
    if (client && !top && t != '$') {
      fail(std::string("expected '$', got '") + t + "'");
      return Step::error;
    }
    RespType kind = RespType::nil;
    std::size_t payload_at = 0, payload_len = 0;
    long long number = 0;
    switch (t) {
      case '$':
      case '=':
      case '!': {
        long long len = 0;
        if (!parse_ll(rest, len) || len < -1 || (len == -1 && t != '$') || (client && len > kMaxBulk)) {
          fail("invalid bulk length");
          return Step::error;
        }
        if (len == -1) {
          kind = RespType::nil;
          scan_ = after;
          break;
        }
        const std::size_t n = static_cast<std::size_t>(len);
        if (size - after < n + 2) {
          // A backend's large bulk (its length is trusted; a client's is not,
          // it would reserve memory it never sends): room for all of it now,
          // so the buffer is not regrown (copied) several times as it arrives.
          if (!client && n >= kReserveBulk && buf_.capacity() < after + n + 2) reserve_room(after + n + 2);
          return Step::incomplete;
        }
        if (data[after + n] != '\r' || data[after + n + 1] != '\n') {
          fail("bulk string not followed by CRLF");
          return Step::error;
        }
        kind = t == '!' ? RespType::error : RespType::string;
        payload_at = after;
        payload_len = n;
        scan_ = after + n + 2;
        break;
      }
      case '+':
      case '-':
        kind = t == '+' ? RespType::status : RespType::error;
        payload_at = scan_ + 1;
        payload_len = rest.size();
        scan_ = after;
        break;
      case ':':
        if (!parse_ll(rest, number)) {
          fail("invalid integer");
          return Step::error;
        }
        kind = RespType::integer;
        scan_ = after;
        break;
      case ',':
      case '(':
      case '#':
        kind = RespType::other;
        payload_at = scan_ + 1;
        payload_len = rest.size();
        scan_ = after;
        break;
      case '_':
        kind = RespType::nil;
        scan_ = after;
        break;
      case '*':
      case '~':
      case '>':
      case '%': {
        long long n = 0;
        if (!parse_ll(rest, n) || n < -1 || (n == -1 && t != '*') || (client && n > kMaxMultibulk)) {
          fail("invalid multibulk length");
          return Step::error;
        }
        scan_ = after;
        if (n == -1) {
          kind = RespType::nil;  // RESP2's null array
          break;
        }
        const long long count = t == '%' ? 2 * n : n;
        if (depth_one) elements_.push_back(Element{RespType::array, value_start, 0, 0});
        if (top) type_ = RespType::array;
        if (count == 0) {
          kind = RespType::array;  // complete: not pushed again as a scalar below
          if (depth_one) elements_.back().len = scan_ - value_start;
          if (top) return Step::done;
          break;  // an empty aggregate is a complete value
        }
        if (open_.size() >= kMaxDepth) {
          fail("aggregates nested too deep");
          return Step::error;
        }
        open_.push_back(count);
        continue;  // its elements follow
      }
      default: fail(std::string("unexpected type byte '") + t + "'"); return Step::error;
    }
    // A value is complete at scan_ (a scalar, or an empty aggregate above).
    const bool was_aggregate = (t == '*' || t == '~' || t == '>' || t == '%') && kind != RespType::nil;
    if (top) {
      type_ = kind;
      payload_offset_ = payload_at;
      payload_len_ = payload_len;
      integer_ = number;
      return Step::done;
    }
    if (depth_one && !was_aggregate)
      elements_.push_back(Element{kind, kind == RespType::nil ? value_start : payload_at, payload_len, number});
    // Close every aggregate this value completes.
    for (;;) {
      if (--open_.back() > 0) break;
      open_.pop_back();
      if (open_.empty()) return Step::done;
      if (open_.size() == 1) elements_.back().len = scan_ - elements_.back().offset;  // a depth-1 aggregate closed
    }
  }
}

RespParser::Next RespParser::next_inline() {
  // Redis's limit for an inline request (PROTO_INLINE_MAX_SIZE).
  constexpr std::size_t kInlineMax = 64 * 1024;
  for (;;) {
    if (pos_ >= buf_.size() || buf_[pos_] == '*') {
      scan_ = pos_;
      return pos_ >= buf_.size() ? Next::incomplete : next();
    }
    const char* begin = buf_.data() + pos_;
    const std::size_t avail = buf_.size() - pos_;
    const char* nl = static_cast<const char*>(std::memchr(begin, '\n', avail));
    if (!nl) {
      if (avail > kInlineMax) return fail("too big inline request");
      return Next::incomplete;
    }
    std::string_view line(begin, static_cast<std::size_t>(nl - begin));
    pos_ += line.size() + 1;
    scan_ = pos_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<std::string> args;
    if (!split_inline(line, args)) return fail("unbalanced quotes in request");
    if (args.empty()) continue;  // an empty line: Redis ignores it
    inline_out_.clear();
    elements_.clear();
    append_number_line(inline_out_, '*', static_cast<long long>(args.size()));
    for (auto& a : args) {
      append_number_line(inline_out_, '$', static_cast<long long>(a.size()));
      elements_.push_back(Element{RespType::string, inline_out_.size(), a.size(), 0});
      inline_out_.append(a);
      inline_out_.append("\r\n", 2);
    }
    inline_msg_ = true;
    type_ = RespType::array;
    complete_ = true;
    msg_begin_ = 0;
    msg_end_ = inline_out_.size();
    return Next::message;
  }
}

void append_bulk(std::string& out, std::string_view s) {
  append_number_line(out, '$', static_cast<long long>(s.size()));
  out.append(s);
  out.append("\r\n", 2);
}

void append_array_header(std::string& out, std::size_t n) { append_number_line(out, '*', static_cast<long long>(n)); }

void append_command(std::string& out, const std::vector<std::string_view>& argv) {
  append_array_header(out, argv.size());
  for (auto a : argv) append_bulk(out, a);
}

void append_status(std::string& out, std::string_view s) {
  out.push_back('+');
  out.append(s);
  out.append("\r\n", 2);
}

void append_integer(std::string& out, long long v) { append_number_line(out, ':', v); }

void append_error(std::string& out, std::string_view text) {
  out.push_back('-');
  for (char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  out.append("\r\n", 2);
}

}  // namespace tandem::kv
