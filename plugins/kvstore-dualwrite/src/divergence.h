// Measuring how far the two Redis servers differ: per-key digests (type,
// absolute expiry, and content in a canonical order) compared on both sides.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "redis_sync_client.h"

namespace tandem::kv {

// A canonical description of one key ("none" when it does not exist).
std::string key_digest(RedisSyncClient& redis, const std::string& key);

struct KeyDifference {
  std::string key;
  std::string local;  // short description of each side
  std::string peer;
};

// Compares `keys` on both servers; a key that differs is re-checked once after
// a short pause (a write may have been between the two reads).
std::vector<KeyDifference> compare_keys(RedisSyncClient& local, RedisSyncClient& peer,
                                        const std::vector<std::string>& keys);

// The Lua script (EVAL ... 1 key) that computes the same kind of canonical
// digest inside Redis, in one command: "none", or "<type> expire_at_ms=<ms>
// items=<n> sha1=<hex>". The endpoint's ordered probes use it (one reply per
// key on each link).
const std::string& key_digest_script();

// Whether two digests of one key, read at the same point of the write order,
// show a real difference. A key that expires within a second (or just did) is
// not counted: expiry is driven by each server's clock, not by the write
// order, so the two reads may straddle the expiry; it is probed again later.
bool digests_conflict(const std::string& local, const std::string& peer, std::int64_t now_ms);

// The background sampler's state: a SCAN cursor over each Redis, so keys that
// exist on one side only are found too, and the keys known to differ.
class DivergenceSampler {
 public:
  struct Round {
    std::uint64_t compared = 0;
    std::vector<KeyDifference> differing;  // newly found this round
  };
  // (local, peer) digests of `keys`, read at the same point of the write
  // order; throws when it cannot (then the round is skipped).
  using Probe = std::function<std::vector<std::pair<std::string, std::string>>(const std::vector<std::string>&)>;
  // Continues both SCANs for up to `budget` keys each, and re-checks the keys
  // known to differ (up to 100), all with one ordered probe.
  Round sample(RedisSyncClient& local, RedisSyncClient& peer, std::uint64_t budget, const Probe& probe);
  // Keys known to differ (bounded).
  const std::set<std::string>& differing() const { return differing_; }

 private:
  std::string local_cursor_ = "0";
  std::string peer_cursor_ = "0";
  std::set<std::string> differing_;
};

struct FullComparison {
  std::uint64_t local_keys = 0;
  std::uint64_t peer_keys = 0;
  std::uint64_t differing = 0;
  std::vector<KeyDifference> listed;  // at most `limit`
};
FullComparison compare_all(RedisSyncClient& local, RedisSyncClient& peer, std::size_t limit);

}  // namespace tandem::kv
