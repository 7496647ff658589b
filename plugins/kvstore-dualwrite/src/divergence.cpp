#include "divergence.h"

#include <algorithm>
#include <boost/crc.hpp>
#include <chrono>
#include <thread>

#include "fence.h"

namespace tandem::kv {
namespace {

std::string flatten(const Reply& r) {
  std::string s;
  if (r.type == Reply::Type::array) {
    for (auto& e : r.elements) {
      s += std::to_string(e.str.size());
      s += ':';
      s += e.str;
    }
  } else {
    s = r.str;
  }
  return s;
}

// Hash fields and set members come back in an order that depends on each
// server's internal encoding: sort them so equal contents digest equally.
std::string sorted_pairs(const Reply& r, bool pairs) {
  std::vector<std::string> items;
  for (std::size_t i = 0; i < r.elements.size(); i += pairs ? 2 : 1) {
    std::string item = std::to_string(r.elements[i].str.size()) + ":" + r.elements[i].str;
    if (pairs && i + 1 < r.elements.size())
      item += "=" + std::to_string(r.elements[i + 1].str.size()) + ":" + r.elements[i + 1].str;
    items.push_back(std::move(item));
  }
  std::sort(items.begin(), items.end());
  std::string s;
  for (auto& i : items) s += i;
  return s;
}

std::string crc_hex(const std::string& s) {
  boost::crc_32_type crc;
  crc.process_bytes(s.data(), s.size());
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", crc.checksum());
  return buf;
}

}  // namespace

std::string key_digest(RedisSyncClient& redis, const std::string& key) {
  auto head = redis.pipeline({{"TYPE", key}, {"PEXPIRETIME", key}});
  const std::string& type = head[0].str;
  if (type == "none") return "none";
  std::string content;
  if (type == "string")
    content = flatten(redis.command({"GET", key}));
  else if (type == "list")
    content = flatten(redis.command({"LRANGE", key, "0", "-1"}));
  else if (type == "hash")
    content = sorted_pairs(redis.command({"HGETALL", key}), true);
  else if (type == "set")
    content = sorted_pairs(redis.command({"SMEMBERS", key}), false);
  else if (type == "zset")
    content = flatten(redis.command({"ZRANGE", key, "0", "-1", "WITHSCORES"}));
  else
    content = flatten(redis.command({"DUMP", key}));  // other types: encoding-dependent, best effort
  return type + " expire_at_ms=" + std::to_string(head[1].integer) + " size=" + std::to_string(content.size()) +
         " crc=" + crc_hex(content);
}

std::vector<KeyDifference> compare_keys(RedisSyncClient& local, RedisSyncClient& peer,
                                        const std::vector<std::string>& keys) {
  std::vector<std::string> suspects;
  for (auto& k : keys)
    if (key_digest(local, k) != key_digest(peer, k)) suspects.push_back(k);
  std::vector<KeyDifference> out;
  if (suspects.empty()) return out;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (auto& k : suspects) {
    auto a = key_digest(local, k);
    auto b = key_digest(peer, k);
    if (a != b) out.push_back({k, a, b});
  }
  return out;
}

const std::string& key_digest_script() {
  // Same canonical order as key_digest(): hash fields and set members sorted,
  // every item length-prefixed.
  static const std::string script = R"lua(
local k = KEYS[1]
local t = redis.call('TYPE', k)['ok']
if t == 'none' then return 'none' end
local parts = {}
local function add(s) parts[#parts + 1] = #s .. ':' .. s end
if t == 'string' then add(redis.call('GET', k))
elseif t == 'list' then for _, v in ipairs(redis.call('LRANGE', k, 0, -1)) do add(v) end
elseif t == 'set' then
  local m = redis.call('SMEMBERS', k); table.sort(m); for _, v in ipairs(m) do add(v) end
elseif t == 'hash' then
  local h = redis.call('HGETALL', k); local f = {}
  for i = 1, #h, 2 do f[#f + 1] = #h[i] .. ':' .. h[i] .. '=' .. #h[i + 1] .. ':' .. h[i + 1] end
  table.sort(f); for _, v in ipairs(f) do add(v) end
elseif t == 'zset' then for _, v in ipairs(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')) do add(v) end
else add(redis.call('DUMP', k)) end
return t .. ' expire_at_ms=' .. redis.call('PEXPIRETIME', k) .. ' items=' .. #parts .. ' sha1=' ..
  redis.sha1hex(table.concat(parts))
)lua";
  return script;
}

namespace {
std::int64_t expire_at(const std::string& digest) {
  auto pos = digest.find("expire_at_ms=");
  if (pos == std::string::npos) return -1;
  try {
    return std::stoll(digest.substr(pos + 13));
  } catch (const std::exception&) {
    return -1;
  }
}
}  // namespace

bool digests_conflict(const std::string& local, const std::string& peer, std::int64_t now_ms) {
  if (local == peer) return false;
  for (auto* d : {&local, &peer}) {
    auto at = expire_at(*d);
    if (at > 0 && at < now_ms + 1000) return false;  // expiring: the reads may straddle it
  }
  return true;
}

DivergenceSampler::Round DivergenceSampler::sample(RedisSyncClient& local, RedisSyncClient& peer, std::uint64_t budget,
                                                   const Probe& probe) {
  Round round;
  std::set<std::string> keys;
  auto scan = [&](RedisSyncClient& c, std::string& cursor) {
    std::uint64_t taken = 0;
    while (taken < budget) {
      auto r = c.checked({"SCAN", cursor, "COUNT", std::to_string(std::min<std::uint64_t>(budget, 1000))});
      if (r.elements.size() != 2) break;
      cursor = r.elements[0].str;
      for (auto& k : r.elements[1].elements) {
        if (!reserved_key(k.str)) keys.insert(k.str);
        ++taken;
      }
      if (cursor == "0") break;  // a full pass ended; the next round starts over
    }
  };
  scan(local, local_cursor_);
  scan(peer, peer_cursor_);
  round.compared = keys.size();
  std::size_t rechecks = 0;
  for (auto& k : differing_) {
    if (++rechecks > 100) break;
    keys.insert(k);
  }
  std::vector<std::string> list(keys.begin(), keys.end());
  auto digests = probe(list);
  if (digests.size() != list.size()) throw std::runtime_error("ordered probe returned a short answer");
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count();
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto& [l, p] = digests[i];
    bool known = differing_.count(list[i]) > 0;
    if (digests_conflict(l, p, now)) {
      if (!known && differing_.size() < 10000) {
        differing_.insert(list[i]);
        round.differing.push_back({list[i], l, p});
      }
    } else if (known && l == p) {
      differing_.erase(list[i]);
    }
  }
  return round;
}

FullComparison compare_all(RedisSyncClient& local, RedisSyncClient& peer, std::size_t limit) {
  FullComparison result;
  auto a = scan_all_keys(local);
  auto b = scan_all_keys(peer);
  // tandem's own keys (the epoch marker) are not application data.
  std::erase_if(a, [](const std::string& k) { return reserved_key(k); });
  std::erase_if(b, [](const std::string& k) { return reserved_key(k); });
  result.local_keys = a.size();
  result.peer_keys = b.size();
  std::vector<std::string> all(a.begin(), a.end());
  for (auto& k : b)
    if (!a.count(k)) all.push_back(k);
  for (std::size_t i = 0; i < all.size(); i += 500) {
    std::vector<std::string> chunk(all.begin() + static_cast<long>(i),
                                   all.begin() + static_cast<long>(std::min(all.size(), i + 500)));
    for (auto& d : compare_keys(local, peer, chunk)) {
      ++result.differing;
      if (result.listed.size() < limit) result.listed.push_back(std::move(d));
    }
  }
  return result;
}

}  // namespace tandem::kv
