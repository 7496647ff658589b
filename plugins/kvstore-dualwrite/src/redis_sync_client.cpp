#include "redis_sync_client.h"

#include <hiredis/hiredis.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include "plugin_util.h"

#include "tandem/sdk/file_util.h"

namespace tandem::kv {
namespace {
Reply convert(const redisReply* r) {
  Reply v;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      v.type = Reply::Type::string;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = Reply::Type::status;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = Reply::Type::error;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      v.type = Reply::Type::integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      v.type = Reply::Type::array;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(convert(r->element[i]));
      break;
    default: v.type = Reply::Type::nil; break;
  }
  return v;
}
}  // namespace

std::string read_password(const RedisAddress& address) {
  if (address.password_file.empty()) return {};
  return sdk::read_secret_file(address.password_file);
}

RedisSyncClient::RedisSyncClient(const RedisAddress& address, int db, std::chrono::milliseconds timeout)
    : name_("Redis " + address.describe()), timeout_(timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ctx_ = redisConnectWithTimeout(address.host.c_str(), address.port, tv);
  if (!ctx_ || ctx_->err) {
    std::string why = ctx_ ? ctx_->errstr : "out of memory";
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    throw std::runtime_error("cannot connect to " + name_ + ": " + why);
  }
  redisSetTimeout(ctx_, tv);
  std::string password = read_password(address);
  if (!password.empty()) {
    auto r = command({"AUTH", password});
    if (r.is_error()) throw std::runtime_error(name_ + " refused AUTH: " + r.str + " (check its password file)");
  }
  if (db != 0) checked({"SELECT", std::to_string(db)});
}

RedisSyncClient::~RedisSyncClient() {
  if (ctx_) redisFree(ctx_);
}

std::vector<Reply> RedisSyncClient::pipeline(const std::vector<std::vector<std::string>>& commands) {
  for (auto& argv : commands) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) != REDIS_OK)
      throw std::runtime_error(name_ + ": " + failure());
  }
  std::vector<Reply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) throw std::runtime_error(name_ + ": " + failure());
    out.push_back(convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return out;
}

std::string RedisSyncClient::failure() const {
  if (!ctx_->err) return "no reply";
  std::string text = ctx_->errstr;
  // hiredis 0.14 reports a read past the timeout as the socket's EAGAIN text
  // ("Resource temporarily unavailable"), which says nothing about a timeout.
  if (ctx_->err == REDIS_ERR_IO && (text == std::strerror(EAGAIN) || text == std::strerror(EWOULDBLOCK)))
    return "no answer within " + std::to_string(timeout_.count()) + " ms (is it overloaded or stopped?)";
  return text;
}

Reply RedisSyncClient::command(const std::vector<std::string>& argv) { return std::move(pipeline({argv}).front()); }

Reply RedisSyncClient::checked(const std::vector<std::string>& argv) {
  auto r = command(argv);
  if (r.is_error()) throw std::runtime_error(name_ + " answered " + argv.front() + " with: " + r.str);
  return r;
}

std::map<std::string, std::string> RedisSyncClient::info(const std::string& section) {
  return parse_info(checked({"INFO", section}).str);
}

std::set<std::string> scan_all_keys(RedisSyncClient& redis) {
  std::set<std::string> keys;
  std::string cursor = "0";
  do {
    auto r = redis.checked({"SCAN", cursor, "COUNT", "1000"});
    if (r.elements.size() != 2) break;
    cursor = r.elements[0].str;
    for (auto& k : r.elements[1].elements) keys.insert(k.str);
  } while (cursor != "0");
  return keys;
}

}  // namespace tandem::kv
