// RESP parsing (RESP2 and RESP3, and inline commands for client
// connections) and RESP encoding.
//
// The parser keeps the bytes it was fed and describes each complete message
// in place: its encoding is exactly the bytes received (no re-encoding), so a
// RESP3 reply reaches a RESP3 client unchanged. Client requests are checked
// as strictly as Redis checks them (lengths as Redis parses integers, bulk
// payloads followed by CRLF), so what the endpoint forwards is always valid
// protocol for Redis: one client's malformed bytes never reach a shared link.
//
// One RespParser per byte stream (a client connection or a backend link).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::kv {

// Message and element types. RESP3 scalars other than null (double, boolean,
// big number) are `other`; RESP3 aggregates (map, set, push) are `array` with
// their flat elements (a map's keys and values in turn); its null is `nil`.
enum class RespType { string = 1, array = 2, integer = 3, nil = 4, status = 5, error = 6, other = 7 };

class RespParser {
 public:
  RespParser() = default;
  RespParser(const RespParser&) = delete;
  RespParser& operator=(const RespParser&) = delete;

  enum class Next { message, incomplete, protocol_error };

  // Hands bytes to the parser (copied).
  void feed(const char* data, std::size_t n);
  // Client connections: also accept inline commands (a line of words, as
  // telnet and redis-cli piping send them), parsed as Redis does (quotes and
  // escapes) into the canonical array of bulk strings.
  void accept_inline() { inline_ok_ = true; }
  // Parses the next complete message. After `message`, the accessors below
  // describe it until the next call to next() or feed(). After
  // `protocol_error` the stream is unusable (error_text() says why).
  Next next();
  // Hands the message just parsed back: the next call to next() returns it
  // again (a client's command that must wait; feed() may run meanwhile).
  // Precondition: the last next() returned `message`.
  void unread() { unread_ = true; }
  bool has_unread() const { return unread_; }

  RespType type() const { return type_; }
  // The first byte of the message's encoding ('*', '%', '>', '$', ...).
  char type_byte() const { return bytes().empty() ? '\0' : bytes()[0]; }
  // The message's encoding: the bytes received (an inline command: its
  // canonical array of bulk strings).
  std::string_view bytes() const { return std::string_view(base() + msg_begin_, msg_end_ - msg_begin_); }
  // Top-level aggregate elements (depth 1 only): count, type and payload
  // (for a nested aggregate: its whole encoding).
  std::size_t size() const { return elements_.size(); }
  RespType element_type(std::size_t i) const { return elements_[i].type; }
  std::string_view element(std::size_t i) const {
    return std::string_view(base() + elements_[i].offset, elements_[i].len);
  }
  long long element_integer(std::size_t i) const { return elements_[i].integer; }
  // Payload of a top-level string/status/error message.
  std::string_view payload() const { return std::string_view(base() + payload_offset_, payload_len_); }
  // Value of a top-level integer message.
  long long integer() const { return integer_; }
  bool is_error() const { return type_ == RespType::error; }
  // Moves the message just parsed (its bytes()) out of the parser instead of
  // copying it: a large reply handed on (the endpoint's links) is then never
  // copied, nor touched in one go, by the io thread. Without a copy when the
  // message starts the buffer (the usual case for a large one); bytes that
  // follow it stay, and parsing goes on with them. The accessors describe
  // nothing until the next call to next(). Precondition: the last next()
  // returned `message`, not unread().
  std::string take_message();
  // Where the room for a backend's large bulk comes from (instead of a plain
  // reserve): `source(n)` returns a buffer with capacity >= n (its pages
  // faulted in elsewhere: background_release.h), or one too small to use.
  void set_room_source(std::function<std::string(std::size_t)> source) { room_source_ = std::move(source); }
  // Room held for the message being received (a backend's large bulk string
  // reserves its whole size once, at its header: no regrowth copies).
  std::size_t capacity() const { return buf_.capacity(); }
  const std::string& error_text() const { return error_; }
  // Bytes held for the message not yet complete (for request size limits).
  std::size_t buffered() const { return buf_.size() - (complete_ ? msg_end_ : pos_); }

 private:
  struct Element {
    RespType type;
    std::size_t offset;
    std::size_t len;
    long long integer;
  };
  enum class Step { done, incomplete, error };
  Next next_inline();
  Step parse_from_scan();
  Next fail(std::string text);
  const char* base() const { return inline_msg_ ? inline_out_.data() : buf_.data(); }
  void reset_message();

  void reserve_room(std::size_t need);
  std::function<std::string(std::size_t)> room_source_;
  std::string buf_;
  std::size_t pos_ = 0;   // start of the message being parsed
  std::size_t scan_ = 0;  // where parsing continues (after the values already complete)
  // Aggregates open at scan_: elements still expected in each.
  std::vector<long long> open_;
  bool inline_ok_ = false;
  bool inline_msg_ = false;
  std::string inline_out_;
  bool complete_ = false;
  bool unread_ = false;
  std::size_t msg_begin_ = 0;
  std::size_t msg_end_ = 0;
  RespType type_ = RespType::nil;
  std::size_t payload_offset_ = 0;
  std::size_t payload_len_ = 0;
  long long integer_ = 0;
  std::vector<Element> elements_;
  std::string error_;
};

// The canonical encodings of MULTI and EXEC (how the endpoint frames a
// transaction, and how a journal record holding one begins and ends).
inline constexpr std::string_view kMultiCommand = "*1\r\n$5\r\nMULTI\r\n";
inline constexpr std::string_view kExecCommand = "*1\r\n$4\r\nEXEC\r\n";
inline constexpr std::string_view kPingCommand = "*1\r\n$4\r\nPING\r\n";

// Splits an inline command line into its arguments as Redis does; false on
// unbalanced quotes.
bool split_inline(std::string_view line, std::vector<std::string>& args);

// Encoding helpers (append to `out`).
void append_bulk(std::string& out, std::string_view s);
void append_array_header(std::string& out, std::size_t n);
void append_command(std::string& out, const std::vector<std::string_view>& argv);
void append_status(std::string& out, std::string_view s);
void append_integer(std::string& out, long long v);
// "-<text>\r\n"; CR/LF inside text are replaced by spaces.
void append_error(std::string& out, std::string_view text);

}  // namespace tandem::kv
