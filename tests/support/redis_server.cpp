#include "support/redis_server.h"

#include "support/netns_scope.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

namespace tandem::testsupport {

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  temp_ = std::make_unique<sdk::testing::TempDir>("tandem-redis");
  dir_ = temp_->path();
  port_ = options_.port ? options_.port : sdk::testing::free_port();
  launch();
}

RedisServer::~RedisServer() { process_.stop(std::chrono::seconds(5)); }

void RedisServer::launch() {
  sdk::ChildSpec spec;
  const std::string bind = options_.bind == "127.0.0.1" ? "127.0.0.1" : "127.0.0.1 " + options_.bind;
  spec.argv = {"redis-server", "--port", std::to_string(port_), "--bind", bind, "--dir", dir_.string(), "--save", "",
               "--daemonize",  "no",     "--protected-mode",    "no"};
  if (options_.appendonly) {
    for (const char* a : {"--appendonly", "yes", "--appendfsync", "always"}) spec.argv.push_back(a);
  }
  if (options_.password) {
    spec.argv.push_back("--requirepass");
    spec.argv.push_back(*options_.password);
  }
  for (auto& a : options_.extra_args) spec.argv.push_back(a);
  spec.log_file = dir_ / "redis.log";
  NetnsScope in(options_.netns);  // the server and the readiness probe, on the server's host
  process_ = start_background(spec);
  // Ready means it answers (AOF loading replies -LOADING, which we wait out).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_.running()) break;
    try {
      RedisClient probe("127.0.0.1", port_, std::chrono::milliseconds(500));
      if (options_.password) probe.command({"AUTH", *options_.password});
      auto pong = probe.command({"PING"});
      if (pong.type == RedisValue::Type::status) return;
    } catch (const std::exception&) {}
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("redis-server on port " + std::to_string(port_) + " did not start: " + process_.log_tail());
}

void RedisServer::restart() {
  process_.stop(std::chrono::seconds(5));
  launch();
}

std::string RedisValue::describe() const {
  switch (type) {
    case Type::string: return "\"" + str + "\"";
    case Type::status: return "+" + str;
    case Type::error: return "-" + str;
    case Type::integer: return std::to_string(integer);
    case Type::nil: return "(nil)";
    case Type::array: {
      std::string s = "[";
      for (size_t i = 0; i < elements.size(); ++i) s += (i ? ", " : "") + elements[i].describe();
      return s + "]";
    }
  }
  return "?";
}

namespace {
RedisValue convert(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      v.type = RedisValue::Type::string;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = RedisValue::Type::status;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = RedisValue::Type::error;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::Type::integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::array;
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(convert(r->element[i]));
      break;
    default: v.type = RedisValue::Type::nil; break;
  }
  return v;
}
}  // namespace

RedisClient::RedisClient(const std::string& host, int port, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ctx_ = redisConnectWithTimeout(host.c_str(), port, tv);
  if (!ctx_ || ctx_->err) {
    std::string why = ctx_ ? ctx_->errstr : "allocation failed";
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    throw std::runtime_error("cannot connect to redis " + host + ":" + std::to_string(port) + ": " + why);
  }
  redisSetTimeout(ctx_, tv);
}

RedisClient::~RedisClient() {
  if (ctx_) redisFree(ctx_);
}

bool RedisClient::connected() const { return ctx_ && !ctx_->err; }

static void append_argv(redisContext* ctx, const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), ptrs.data(), lens.data()) != REDIS_OK)
    throw std::runtime_error(std::string("redis append failed: ") + ctx->errstr);
}

RedisValue RedisClient::read_reply() {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw)
    throw std::runtime_error(std::string("redis read failed: ") + (ctx_->err ? ctx_->errstr : "no reply"));
  auto* reply = static_cast<redisReply*>(raw);
  RedisValue v = convert(reply);
  freeReplyObject(reply);
  return v;
}

RedisValue RedisClient::command(const std::vector<std::string>& argv) {
  append_argv(ctx_, argv);
  return read_reply();
}

std::vector<RedisValue> RedisClient::pipeline(const std::vector<std::vector<std::string>>& commands) {
  for (auto& c : commands) append_argv(ctx_, c);
  std::vector<RedisValue> out;
  for (size_t i = 0; i < commands.size(); ++i) out.push_back(read_reply());
  return out;
}

void RedisClient::send_raw(const std::string& bytes) {
  // Written by the next read; hiredis flushes its output buffer on redisGetReply.
  if (redisAppendFormattedCommand(ctx_, bytes.data(), bytes.size()) != REDIS_OK)
    throw std::runtime_error(std::string("redis raw append failed: ") + ctx_->errstr);
}

std::map<std::string, std::string> redis_snapshot(RedisClient& client) {
  std::map<std::string, std::string> out;
  std::string cursor = "0";
  std::vector<std::string> keys;
  do {
    auto r = client.command({"SCAN", cursor, "COUNT", "1000"});
    if (r.type != RedisValue::Type::array || r.elements.size() != 2)
      throw std::runtime_error("bad SCAN reply " + r.describe());
    cursor = r.elements[0].str;
    for (auto& k : r.elements[1].elements) keys.push_back(k.str);
  } while (cursor != "0");
  for (auto& key : keys) {
    auto type = client.command({"TYPE", key}).str;
    std::string content;
    if (type == "string") {
      content = client.command({"GET", key}).describe();
    } else if (type == "list") {
      content = client.command({"LRANGE", key, "0", "-1"}).describe();
    } else if (type == "hash" || type == "set") {
      auto r = client.command({type == "hash" ? "HGETALL" : "SMEMBERS", key});
      std::vector<std::string> parts;
      if (type == "hash") {
        for (size_t i = 0; i + 1 < r.elements.size(); i += 2)
          parts.push_back(r.elements[i].str + "=" + r.elements[i + 1].str);
      } else {
        for (auto& e : r.elements) parts.push_back(e.str);
      }
      std::sort(parts.begin(), parts.end());
      for (auto& p : parts) content += p + "\n";
    } else if (type == "zset") {
      content = client.command({"ZRANGE", key, "0", "-1", "WITHSCORES"}).describe();
    } else if (type == "stream") {
      // The entries with their ids, and the ids a later XADD '*' continues from.
      content = client.command({"XRANGE", key, "-", "+"}).describe();
      auto info = client.command({"XINFO", "STREAM", key});
      for (size_t i = 0; i + 1 < info.elements.size(); i += 2) {
        const auto& field = info.elements[i].str;
        if (field == "last-generated-id" || field == "entries-added" || field == "max-deleted-entry-id")
          content += "|" + field + "=" + info.elements[i + 1].describe();
      }
    } else if (type == "none") {
      continue;  // expired between SCAN and TYPE
    } else {
      content = "(type " + type + ")";
    }
    auto expire_at = client.command({"PEXPIRETIME", key});
    out[key] = type + "|" + std::to_string(expire_at.integer) + "|" + content;
  }
  return out;
}

}  // namespace tandem::testsupport
