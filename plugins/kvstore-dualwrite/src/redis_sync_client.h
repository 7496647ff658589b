// A blocking Redis connection (hiredis) for the plugin's control work off the
// event loop: health probes, divergence sampling, rejoin. RAII.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "settings.h"

struct redisContext;

namespace tandem::kv {

struct Reply {
  enum class Type { string, array, integer, nil, status, error } type = Type::nil;
  std::string str;
  long long integer = 0;
  std::vector<Reply> elements;
  bool is_error() const { return type == Type::error; }
};

class RedisSyncClient {
 public:
  // Connects, AUTHs (password read from address.password_file) and SELECTs db.
  // Throws std::runtime_error saying which Redis and why.
  RedisSyncClient(const RedisAddress& address, int db, std::chrono::milliseconds timeout);
  ~RedisSyncClient();
  RedisSyncClient(const RedisSyncClient&) = delete;
  RedisSyncClient& operator=(const RedisSyncClient&) = delete;

  Reply command(const std::vector<std::string>& argv);
  // Throws when the reply is an error.
  Reply checked(const std::vector<std::string>& argv);
  std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& commands);
  // INFO <section> parsed into field -> value.
  std::map<std::string, std::string> info(const std::string& section);
  const std::string& name() const { return name_; }

 private:
  // Why the last call failed, in words an operator can act on.
  std::string failure() const;

  redisContext* ctx_ = nullptr;
  std::string name_;
  std::chrono::milliseconds timeout_;
};

// Every key of the selected db (a full SCAN).
std::set<std::string> scan_all_keys(RedisSyncClient& redis);

// Reads the password file of an address ("" when none is configured).
std::string read_password(const RedisAddress& address);

}  // namespace tandem::kv
