#include "divergence.h"

#include <algorithm>
#include <boost/crc.hpp>
#include <chrono>
#include <thread>

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

DivergenceSampler::Round DivergenceSampler::sample(RedisSyncClient& local, RedisSyncClient& peer,
                                                   std::uint64_t budget) {
  Round round;
  std::vector<std::string> keys;
  while (keys.size() < budget) {
    auto r = local.checked({"SCAN", cursor_, "COUNT", std::to_string(std::min<std::uint64_t>(budget, 1000))});
    if (r.elements.size() != 2) break;
    cursor_ = r.elements[0].str;
    for (auto& k : r.elements[1].elements) keys.push_back(k.str);
    if (cursor_ == "0") break;  // a full pass ended; the next round starts over
  }
  if (keys.size() > budget) keys.resize(budget);
  round.compared = keys.size();
  round.differing = compare_keys(local, peer, keys);
  for (auto& k : keys) differing_.erase(k);
  for (auto& d : round.differing)
    if (differing_.size() < 10000) differing_.insert(d.key);
  return round;
}

void DivergenceSampler::recheck_known(RedisSyncClient& local, RedisSyncClient& peer) {
  std::vector<std::string> known(differing_.begin(), differing_.end());
  if (known.size() > 100) known.resize(100);
  auto still = compare_keys(local, peer, known);
  for (auto& k : known) differing_.erase(k);
  for (auto& d : still) differing_.insert(d.key);
}

FullComparison compare_all(RedisSyncClient& local, RedisSyncClient& peer, std::size_t limit) {
  FullComparison result;
  auto scan_all = [](RedisSyncClient& c) {
    std::set<std::string> keys;
    std::string cursor = "0";
    do {
      auto r = c.checked({"SCAN", cursor, "COUNT", "1000"});
      if (r.elements.size() != 2) break;
      cursor = r.elements[0].str;
      for (auto& k : r.elements[1].elements) keys.insert(k.str);
    } while (cursor != "0");
    return keys;
  };
  auto a = scan_all(local);
  auto b = scan_all(peer);
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
