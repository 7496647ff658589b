// RESP2 parsing (hiredis's reader, with object callbacks that re-encode each
// message canonically instead of building reply trees) and RESP encoding.
//
// One RespParser per byte stream (a client connection or a backend link).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace tandem::kv {

// Top-level and element types, as hiredis numbers them (REDIS_REPLY_*).
enum class RespType { string = 1, array = 2, integer = 3, nil = 4, status = 5, error = 6 };

class RespParser {
 public:
  RespParser();
  ~RespParser();
  RespParser(const RespParser&) = delete;
  RespParser& operator=(const RespParser&) = delete;

  enum class Next { message, incomplete, protocol_error };

  // Hands bytes to the reader (copied).
  void feed(const char* data, std::size_t n);
  // Parses the next complete message. After `message`, the accessors below
  // describe it until the next call. After `protocol_error` the stream is
  // unusable (error_text() says why).
  Next next();

  RespType type() const { return type_; }
  // The message's canonical RESP encoding (equal to the input for well-formed
  // client commands and Redis replies).
  std::string_view bytes() const { return std::string_view(out_).substr(0, msg_end_); }
  // Top-level array elements (depth 1 only): count, type and payload.
  std::size_t size() const { return elements_.size(); }
  RespType element_type(std::size_t i) const { return elements_[i].type; }
  std::string_view element(std::size_t i) const {
    return std::string_view(out_).substr(elements_[i].offset, elements_[i].len);
  }
  long long element_integer(std::size_t i) const { return elements_[i].integer; }
  // Payload of a top-level string/status/error message.
  std::string_view payload() const { return std::string_view(out_).substr(payload_offset_, payload_len_); }
  // Value of a top-level integer message.
  long long integer() const { return integer_; }
  bool is_error() const { return type_ == RespType::error; }
  const std::string& error_text() const { return error_; }
  // Bytes held for the message not yet complete (for request size limits).
  std::size_t buffered() const;

  // Reader callbacks (internal; public for the C trampolines).
  void on_value(int task_type, bool top_level, bool depth_one, RespType kind, const char* data, std::size_t len,
                long long integer, int elements);

 private:
  struct Element {
    RespType type;
    std::size_t offset;
    std::size_t len;
    long long integer;
  };
  redisReader* reader_ = nullptr;
  std::string out_;
  std::size_t msg_end_ = 0;
  bool complete_ = false;
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

// Encoding helpers (append to `out`).
void append_bulk(std::string& out, std::string_view s);
void append_array_header(std::string& out, std::size_t n);
void append_command(std::string& out, const std::vector<std::string_view>& argv);
void append_status(std::string& out, std::string_view s);
void append_integer(std::string& out, long long v);
// "-<text>\r\n"; CR/LF inside text are replaced by spaces.
void append_error(std::string& out, std::string_view text);

}  // namespace tandem::kv
