#include "command_table.h"

#include <cctype>
#include <string>
#include <unordered_map>

namespace tandem::kv {
namespace {

using C = CommandClass;

constexpr std::string_view kBlocking =
    "sent as the non-blocking form (a write); while it pops nothing the endpoint waits for a write to its keys";
constexpr std::string_view kSubscribe = "the client's own connection to the primary's Redis";
constexpr std::string_view kPublish = "the primary's Redis only, where every subscriber of the endpoint is";
constexpr std::string_view kCluster = "the endpoint fronts a pair of standalone Redis servers, not a cluster";
constexpr std::string_view kScript =
    "runs on the secondary; the primary gets its effects from the secondary's replication stream";
constexpr std::string_view kScriptAdmin =
    "LOAD, FLUSH, DELETE, RESTORE: a write to both servers; EXISTS, LIST, DUMP, STATS: a read; KILL, DEBUG refused";
constexpr std::string_view kScriptRead = "read-only script: runs on the primary's Redis only";
constexpr std::string_view kOtherDb = "the endpoint serves exactly one database (config key db)";
constexpr std::string_view kAdmin = "server administration is done on each Redis directly, not through the endpoint";
constexpr std::string_view kStreamGroup =
    "runs on the secondary; the primary gets its effects (XCLAIM with the secondary's delivery time, XGROUP SETID) "
    "from the secondary's replication stream, as a script's; BLOCK refused";

const std::vector<CommandInfo> kTable = {
    // strings
    {"GET", C::read, ""},
    {"MGET", C::read, ""},
    {"STRLEN", C::read, ""},
    {"GETRANGE", C::read, ""},
    {"SUBSTR", C::read, ""},
    {"LCS", C::read, ""},
    {"GETBIT", C::read, ""},
    {"BITCOUNT", C::read, ""},
    {"BITPOS", C::read, ""},
    {"BITFIELD_RO", C::read, ""},
    {"SET", C::expiry, "EX/PX become PXAT (absolute)"},
    {"SETEX", C::expiry, "becomes SET ... PXAT"},
    {"PSETEX", C::expiry, "becomes SET ... PXAT"},
    {"GETEX", C::expiry, "EX/PX become PXAT"},
    {"SETNX", C::write, ""},
    {"MSET", C::write, ""},
    {"MSETNX", C::write, ""},
    {"GETSET", C::write, ""},
    {"GETDEL", C::write, ""},
    {"APPEND", C::write, ""},
    {"SETRANGE", C::write, ""},
    {"SETBIT", C::write, ""},
    {"BITOP", C::write, ""},
    {"BITFIELD", C::write, ""},
    // counters
    {"INCR", C::write, ""},
    {"DECR", C::write, ""},
    {"INCRBY", C::write, ""},
    {"DECRBY", C::write, ""},
    {"INCRBYFLOAT", C::write, "same binary arithmetic on both servers"},
    // hashes
    {"HGET", C::read, ""},
    {"HMGET", C::read, ""},
    {"HGETALL", C::read, ""},
    {"HKEYS", C::read, ""},
    {"HVALS", C::read, ""},
    {"HLEN", C::read, ""},
    {"HEXISTS", C::read, ""},
    {"HSTRLEN", C::read, ""},
    {"HSCAN", C::read, ""},
    {"HRANDFIELD", C::read, "randomness only in the reply"},
    {"HSET", C::write, ""},
    {"HSETNX", C::write, ""},
    {"HMSET", C::write, ""},
    {"HDEL", C::write, ""},
    {"HINCRBY", C::write, ""},
    {"HINCRBYFLOAT", C::write, ""},
    // lists
    {"LRANGE", C::read, ""},
    {"LLEN", C::read, ""},
    {"LINDEX", C::read, ""},
    {"LPOS", C::read, ""},
    {"LPUSH", C::write, ""},
    {"RPUSH", C::write, ""},
    {"LPUSHX", C::write, ""},
    {"RPUSHX", C::write, ""},
    {"LPOP", C::write, ""},
    {"RPOP", C::write, ""},
    {"LINSERT", C::write, ""},
    {"LSET", C::write, ""},
    {"LREM", C::write, ""},
    {"LTRIM", C::write, ""},
    {"LMOVE", C::write, ""},
    {"RPOPLPUSH", C::write, ""},
    {"LMPOP", C::write, ""},
    {"BLPOP", C::blocking, kBlocking},
    {"BRPOP", C::blocking, kBlocking},
    {"BLMOVE", C::blocking, kBlocking},
    {"BRPOPLPUSH", C::blocking, kBlocking},
    {"BLMPOP", C::blocking, kBlocking},
    // sets
    {"SMEMBERS", C::read, ""},
    {"SISMEMBER", C::read, ""},
    {"SMISMEMBER", C::read, ""},
    {"SCARD", C::read, ""},
    {"SINTER", C::read, ""},
    {"SUNION", C::read, ""},
    {"SDIFF", C::read, ""},
    {"SINTERCARD", C::read, ""},
    {"SSCAN", C::read, ""},
    {"SRANDMEMBER", C::read, "randomness only in the reply"},
    {"SADD", C::write, ""},
    {"SREM", C::write, ""},
    {"SMOVE", C::write, ""},
    {"SINTERSTORE", C::write, ""},
    {"SUNIONSTORE", C::write, ""},
    {"SDIFFSTORE", C::write, ""},
    {"SPOP", C::effect, "runs on the secondary; the primary gets SREM of the popped members"},
    // sorted sets
    {"ZRANGE", C::read, ""},
    {"ZRANGEBYSCORE", C::read, ""},
    {"ZREVRANGE", C::read, ""},
    {"ZREVRANGEBYSCORE", C::read, ""},
    {"ZRANGEBYLEX", C::read, ""},
    {"ZREVRANGEBYLEX", C::read, ""},
    {"ZCARD", C::read, ""},
    {"ZCOUNT", C::read, ""},
    {"ZLEXCOUNT", C::read, ""},
    {"ZSCORE", C::read, ""},
    {"ZMSCORE", C::read, ""},
    {"ZRANK", C::read, ""},
    {"ZREVRANK", C::read, ""},
    {"ZSCAN", C::read, ""},
    {"ZRANDMEMBER", C::read, "randomness only in the reply"},
    {"ZINTER", C::read, ""},
    {"ZUNION", C::read, ""},
    {"ZDIFF", C::read, ""},
    {"ZINTERCARD", C::read, ""},
    {"ZADD", C::write, ""},
    {"ZINCRBY", C::write, ""},
    {"ZREM", C::write, ""},
    {"ZREMRANGEBYSCORE", C::write, ""},
    {"ZREMRANGEBYRANK", C::write, ""},
    {"ZREMRANGEBYLEX", C::write, ""},
    {"ZPOPMIN", C::write, ""},
    {"ZPOPMAX", C::write, ""},
    {"ZMPOP", C::write, ""},
    {"ZRANGESTORE", C::write, ""},
    {"ZUNIONSTORE", C::write, ""},
    {"ZINTERSTORE", C::write, ""},
    {"ZDIFFSTORE", C::write, ""},
    {"BZPOPMIN", C::blocking, kBlocking},
    {"BZPOPMAX", C::blocking, kBlocking},
    {"BZMPOP", C::blocking, kBlocking},
    // hyperloglog
    {"PFADD", C::write, ""},
    {"PFMERGE", C::write, ""},
    {"PFCOUNT", C::write, "updates the cached cardinality"},
    // key space and expiry
    {"EXISTS", C::read, ""},
    {"TYPE", C::read, ""},
    {"TTL", C::read, ""},
    {"PTTL", C::read, ""},
    {"EXPIRETIME", C::read, ""},
    {"PEXPIRETIME", C::read, ""},
    {"KEYS", C::read, ""},
    {"SCAN", C::read, ""},
    {"DBSIZE", C::read, ""},
    {"RANDOMKEY", C::read, "randomness only in the reply"},
    {"TOUCH", C::read, "only the access time"},
    {"DUMP", C::read, ""},
    {"OBJECT", C::read, ""},
    {"SORT_RO", C::read, ""},
    {"DEL", C::write, ""},
    {"UNLINK", C::write, ""},
    {"EXPIREAT", C::write, ""},
    {"PEXPIREAT", C::write, ""},
    {"PERSIST", C::write, ""},
    {"RENAME", C::write, ""},
    {"RENAMENX", C::write, ""},
    {"COPY", C::write, "without DB"},
    {"SORT", C::write, "may STORE"},
    {"FLUSHDB", C::write, "empties the configured db on both"},
    {"FLUSHALL", C::write,
     "sent as FLUSHDB: empties the configured db on both (the servers' other dbs are not the endpoint's)"},
    {"EXPIRE", C::expiry, "becomes PEXPIREAT (absolute)"},
    {"PEXPIRE", C::expiry, "becomes PEXPIREAT (absolute)"},
    {"RESTORE", C::expiry, "relative TTL becomes ABSTTL"},
    {"MOVE", C::unsupported, kOtherDb},
    {"SWAPDB", C::unsupported, kOtherDb},
    {"MIGRATE", C::unsupported, kOtherDb},
    // transactions
    {"MULTI", C::multi, "queued by the endpoint"},
    {"EXEC", C::multi, "whole block to the secondary, then the primary"},
    {"DISCARD", C::multi, ""},
    {"WATCH", C::multi, "watched by the endpoint, which sees every write"},
    {"UNWATCH", C::multi, ""},
    // connection and server
    {"PING", C::local, ""},
    {"ECHO", C::local, ""},
    {"AUTH", C::local, "the endpoint's own password"},
    {"SELECT", C::local, "only the configured db"},
    {"QUIT", C::local, ""},
    {"HELLO", C::local, "RESP2 only"},
    {"CLIENT", C::local, "SETNAME/GETNAME/SETINFO/ID/REPLY accepted; LIST/INFO list the endpoint's own clients"},
    {"COMMAND", C::local, "empty reply; GETKEYS, GETKEYSANDFLAGS: the primary's Redis answers"},
    {"RESET", C::local, ""},
    {"INFO", C::read, "the primary's Redis"},
    {"TIME", C::read, ""},
    {"LASTSAVE", C::read, ""},
    {"MEMORY", C::read, ""},
    {"CONFIG", C::read, "GET only; the backends' secrets are removed from the reply"},
    {"EVAL", C::script, kScript},
    {"EVALSHA", C::script, kScript},
    {"EVAL_RO", C::read, kScriptRead},
    {"EVALSHA_RO", C::read, kScriptRead},
    {"SCRIPT", C::script_admin, kScriptAdmin},
    {"FCALL", C::script, kScript},
    {"FCALL_RO", C::read, kScriptRead},
    {"FUNCTION", C::script_admin, kScriptAdmin},
    {"SUBSCRIBE", C::pubsub, kSubscribe},
    {"PSUBSCRIBE", C::pubsub, kSubscribe},
    {"SSUBSCRIBE", C::pubsub, kSubscribe},
    {"UNSUBSCRIBE", C::pubsub, kSubscribe},
    {"PUNSUBSCRIBE", C::pubsub, kSubscribe},
    {"SUNSUBSCRIBE", C::pubsub, kSubscribe},
    {"PUBLISH", C::read, kPublish},
    {"SPUBLISH", C::read, kPublish},
    {"PUBSUB", C::read, "the primary's Redis (its subscribers are the endpoint's)"},
    {"CLUSTER", C::unsupported, kCluster},
    {"READONLY", C::unsupported, kCluster},
    {"READWRITE", C::unsupported, kCluster},
    {"ASKING", C::unsupported, kCluster},
    {"XADD", C::effect, "a generated id ('*', '<ms>-*') comes from the secondary; the primary gets that explicit id"},
    {"XLEN", C::read, ""},
    {"XRANGE", C::read, ""},
    {"XREVRANGE", C::read, ""},
    {"XREAD", C::read, "BLOCK: emulated like the blocking pops (below)"},
    {"XINFO", C::read, ""},
    {"XDEL", C::write, ""},
    {"XTRIM", C::write, "both streams hold the same entries, so '~' trims the same whole nodes"},
    {"XSETID", C::write, ""},
    {"XGROUP", C::write, "CREATE ... $ names the same last entry on both (both streams hold the same entries)"},
    {"XREADGROUP", C::script, kStreamGroup},
    {"XACK", C::write, ""},
    {"XCLAIM", C::script, kStreamGroup},
    {"XAUTOCLAIM", C::script, kStreamGroup},
    {"XPENDING", C::read, ""},
    {"SHUTDOWN", C::unsupported, kAdmin},
    {"DEBUG", C::unsupported, kAdmin},
    {"REPLICAOF", C::unsupported, kAdmin},
    {"SLAVEOF", C::unsupported, kAdmin},
    {"SAVE", C::unsupported, kAdmin},
    {"BGSAVE", C::unsupported, kAdmin},
    {"BGREWRITEAOF", C::unsupported, kAdmin},
    {"ACL", C::unsupported, kAdmin},
    {"MONITOR", C::unsupported, kAdmin},
    {"SYNC", C::unsupported, kAdmin},
    {"PSYNC", C::unsupported, kAdmin},
    {"FAILOVER", C::unsupported, kAdmin},
    {"WAIT", C::unsupported, "the endpoint already waits for both servers before replying"},
    {"SLOWLOG", C::unsupported, kAdmin},
    {"LATENCY", C::unsupported, kAdmin},
    {"MODULE", C::unsupported, kAdmin},
};

}  // namespace

const std::vector<CommandInfo>& command_table() { return kTable; }

const CommandInfo* find_command(std::string_view name) {
  static const std::unordered_map<std::string_view, const CommandInfo*> index = [] {
    std::unordered_map<std::string_view, const CommandInfo*> m;
    for (auto& c : kTable) m.emplace(c.name, &c);
    return m;
  }();
  char upper[32];
  if (name.size() >= sizeof(upper)) return nullptr;
  for (std::size_t i = 0; i < name.size(); ++i)
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[i])));
  auto it = index.find(std::string_view(upper, name.size()));
  return it == index.end() ? nullptr : it->second;
}

std::string_view to_string(CommandClass c) {
  switch (c) {
    case C::read: return "read";
    case C::write: return "write";
    case C::expiry: return "write (expiry made absolute)";
    case C::effect: return "write (effect replicated)";
    case C::blocking: return "blocking (emulated)";
    case C::local: return "local";
    case C::multi: return "transaction";
    case C::pubsub: return "subscription";
    case C::script: return "script (effects replicated)";
    case C::script_admin: return "script/function library";
    case C::unsupported: return "refused";
  }
  return "?";
}

}  // namespace tandem::kv
