// Measuring how far the two Redis servers differ: per-key digests (type,
// absolute expiry, and content in a canonical order) compared on both sides.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
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

// The background sampler's state: a SCAN cursor over the local Redis.
class DivergenceSampler {
 public:
  struct Round {
    std::uint64_t compared = 0;
    std::vector<KeyDifference> differing;
  };
  // Compares up to `budget` keys continuing the SCAN.
  Round sample(RedisSyncClient& local, RedisSyncClient& peer, std::uint64_t budget);
  // Keys known to differ (re-checked each round they are sampled; bounded).
  const std::set<std::string>& differing() const { return differing_; }
  void recheck_known(RedisSyncClient& local, RedisSyncClient& peer);

 private:
  std::string cursor_ = "0";
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
