#include "resp.h"

#include <hiredis/read.h>

#include <charconv>
#include <stdexcept>

namespace tandem::kv {
namespace {

// hiredis needs a non-null object per value; we keep none (the encoding is the result).
char g_object_token;

// The parser being driven; set around redisReaderGetReply (single thread per call).
thread_local RespParser* t_current = nullptr;

bool is_top(const redisReadTask* t) { return t->parent == nullptr; }
bool is_depth_one(const redisReadTask* t) { return t->parent != nullptr && t->parent->parent == nullptr; }

void* create_string(const redisReadTask* t, char* s, size_t len) {
  RespType kind = t->type == REDIS_REPLY_STATUS  ? RespType::status
                  : t->type == REDIS_REPLY_ERROR ? RespType::error
                                                 : RespType::string;
  t_current->on_value(t->type, is_top(t), is_depth_one(t), kind, s, len, 0, 0);
  return &g_object_token;
}
void* create_array(const redisReadTask* t, int elements) {
  t_current->on_value(t->type, is_top(t), is_depth_one(t), RespType::array, nullptr, 0, 0, elements);
  return &g_object_token;
}
void* create_integer(const redisReadTask* t, long long v) {
  t_current->on_value(t->type, is_top(t), is_depth_one(t), RespType::integer, nullptr, 0, v, 0);
  return &g_object_token;
}
void* create_nil(const redisReadTask* t) {
  t_current->on_value(t->type, is_top(t), is_depth_one(t), RespType::nil, nullptr, 0, 0, 0);
  return &g_object_token;
}
void free_object(void*) {}

redisReplyObjectFunctions g_functions{create_string, create_array, create_integer, create_nil, free_object};

void append_number_line(std::string& out, char prefix, long long v) {
  char buf[32];
  buf[0] = prefix;
  auto r = std::to_chars(buf + 1, buf + sizeof(buf) - 2, v);
  *r.ptr++ = '\r';
  *r.ptr++ = '\n';
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace

RespParser::RespParser() {
  reader_ = redisReaderCreateWithFunctions(&g_functions);
  if (!reader_) throw std::runtime_error("cannot create RESP reader (out of memory)");
}

RespParser::~RespParser() { redisReaderFree(reader_); }

void RespParser::feed(const char* data, std::size_t n) {
  if (redisReaderFeed(reader_, data, n) != 0) throw std::runtime_error("RESP reader out of memory");
}

std::size_t RespParser::buffered() const { return (complete_ ? 0 : out_.size()) + (reader_->len - reader_->pos); }

RespParser::Next RespParser::next() {
  if (complete_) {
    // The previous message was consumed; anything after it is not in out_ yet.
    out_.clear();
    elements_.clear();
    complete_ = false;
    msg_end_ = 0;
  }
  void* reply = nullptr;
  t_current = this;
  int rc = redisReaderGetReply(reader_, &reply);
  t_current = nullptr;
  if (rc != 0) {
    error_ = reader_->errstr;
    return Next::protocol_error;
  }
  if (!reply) return Next::incomplete;
  complete_ = true;
  msg_end_ = out_.size();
  return Next::message;
}

void RespParser::on_value(int task_type, bool top_level, bool depth_one, RespType kind, const char* data,
                          std::size_t len, long long integer, int elements) {
  std::size_t payload_at = 0;
  switch (kind) {
    case RespType::string:
      append_number_line(out_, '$', static_cast<long long>(len));
      payload_at = out_.size();
      out_.append(data, len);
      out_.append("\r\n", 2);
      break;
    case RespType::status:
    case RespType::error:
      out_.push_back(kind == RespType::status ? '+' : '-');
      payload_at = out_.size();
      out_.append(data, len);
      out_.append("\r\n", 2);
      break;
    case RespType::integer: append_number_line(out_, ':', integer); break;
    case RespType::array: append_number_line(out_, '*', elements); break;
    case RespType::nil:
      // A null array (e.g. an aborted EXEC) stays a null array.
      out_.append(task_type == REDIS_REPLY_ARRAY ? "*-1\r\n" : "$-1\r\n");
      break;
  }
  if (top_level) {
    type_ = kind;
    integer_ = integer;
    payload_offset_ = payload_at;
    payload_len_ = (kind == RespType::string || kind == RespType::status || kind == RespType::error) ? len : 0;
  } else if (depth_one) {
    elements_.push_back(
        Element{kind, payload_at, (kind == RespType::integer || kind == RespType::array) ? 0 : len, integer});
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
