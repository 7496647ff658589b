#include "fence.h"

#include <charconv>
#include <vector>

#include "plugin_util.h"
#include "redis_sync_client.h"

namespace tandem::kv {
namespace {

// GET, compare as integers, SET when higher: one script, so two nodes raising
// the same marker never lower it.
constexpr const char* kRaiseScript =
    "local v = tonumber(redis.call('GET', KEYS[1]) or '0') or 0 "
    "local e = tonumber(ARGV[1]) "
    "if v < e then redis.call('SET', KEYS[1], ARGV[1]) end "
    "return v";

}  // namespace

std::uint64_t parse_epoch_marker(std::string_view value) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  return ec == std::errc() && p == value.data() + value.size() ? v : 0;
}

std::uint64_t read_epoch_marker(RedisSyncClient& redis) {
  auto r = redis.checked({"GET", std::string(kEpochKey)});
  return r.type == Reply::Type::string ? parse_epoch_marker(r.str) : 0;
}

void check_not_superseded(RedisSyncClient& redis, std::uint64_t epoch, const std::string& which) {
  auto marker = read_epoch_marker(redis);
  if (marker > epoch)
    throw SupersededError(which + " carries epoch " + std::to_string(marker) + ", newer than this node's " +
                          std::to_string(epoch) +
                          ": another node was promoted since; the endpoint does not start here until this node "
                          "rejoins");
}

std::uint64_t raise_epoch_marker(RedisSyncClient& redis, std::uint64_t epoch, const std::string& own_writer,
                                 const std::string& writer_suffix) {
  auto r = redis.checked({"EVAL", kRaiseScript, "1", std::string(kEpochKey), std::to_string(epoch)});
  auto before = r.type == Reply::Type::integer ? static_cast<std::uint64_t>(r.integer) : 0;
  if (before >= epoch) return before;
  // Connections that existed before the marker was raised have not seen it:
  // kill them (their reconnect does). Listed after the raise, so a connection
  // made in between saw the new marker in its own handshake.
  auto list = redis.command({"CLIENT", "LIST", "TYPE", "normal"});
  if (list.type != Reply::Type::string) return before;
  std::vector<std::vector<std::string>> kills;
  for (auto& id : client_ids_where(list.str, [&](std::string_view name) {
         return name != own_writer && name.substr(0, 7) == "tandem-" && name.size() > 7 + writer_suffix.size() &&
                name.substr(name.size() - writer_suffix.size()) == writer_suffix;
       }))
    kills.push_back({"CLIENT", "KILL", "ID", id});
  if (!kills.empty()) redis.pipeline(kills);
  return before;
}

}  // namespace tandem::kv
