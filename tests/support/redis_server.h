// A real redis-server for tests and benchmarks: loopback, a free port, its own
// temp dir, stopped when the object is destroyed. Optionally inside a network
// namespace (a host of tests/support/netns_world.h) and also bound to that
// host's address. Plus a small synchronous hiredis client for setting up and
// checking data.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/background_process.h"
#include "tandem/sdk/testing/temp_dir.h"

struct redisContext;
struct redisReply;

namespace tandem::testsupport {

struct RedisServerOptions {
  bool appendonly = false;              // --appendonly yes --appendfsync always when true
  std::optional<std::string> password;  // requirepass
  std::vector<std::string> extra_args;  // more redis-server arguments
  int port = 0;                         // 0: a free port
  std::string netns;                    // run inside this network namespace ("": where the caller is)
  std::string bind = "127.0.0.1";       // also listens here (loopback always)
};

class RedisServer {
 public:
  // Starts redis-server and waits until it answers PING; throws with the log tail otherwise.
  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  bool running() { return process_.running(); }
  // kill -9, as a crash would (data since the last fsync of the AOF is lost).
  void kill9() { process_.kill(); }
  // SIGTERM and wait.
  void stop() { process_.stop(); }
  // The server's pid (-1 when none runs): SIGSTOP makes it a silent peer.
  pid_t pid() const { return process_.pid(); }
  // Start again on the same port and dir (after kill9/stop), waiting for PING.
  void restart();
  std::string log_tail() const { return process_.log_tail(); }

 private:
  void launch();

  RedisServerOptions options_;
  std::filesystem::path dir_;
  std::unique_ptr<sdk::testing::TempDir> temp_;
  int port_ = 0;
  sdk::ChildProcess process_;
};

// One reply, copied out of hiredis so callers need not manage its memory.
struct RedisValue {
  enum class Type { string, array, integer, nil, status, error } type = Type::nil;
  std::string str;                   // string, status, error
  long long integer = 0;             // integer
  std::vector<RedisValue> elements;  // array

  bool is_error() const { return type == Type::error; }
  std::string describe() const;  // for test failure messages
};

// A blocking hiredis connection (RAII). Throws std::runtime_error on I/O errors.
class RedisClient {
 public:
  RedisClient(const std::string& host, int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  RedisValue command(const std::vector<std::string>& argv);
  // Pipelined: all commands written, then all replies read.
  std::vector<RedisValue> pipeline(const std::vector<std::vector<std::string>>& commands);
  // Raw bytes to the socket (for malformed-input tests); then read one reply.
  void send_raw(const std::string& bytes);
  RedisValue read_reply();
  bool connected() const;

 private:
  redisContext* ctx_ = nullptr;
};

// Every key of db 0 with its type, TTL presence and content, as one canonical
// string per key: equal maps mean identical data sets.
std::map<std::string, std::string> redis_snapshot(RedisClient& client);

}  // namespace tandem::testsupport
