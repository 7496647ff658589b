// The epoch marker: the fence a promotion leaves in the Redis servers
// themselves, so that a former primary that is cut off (and does not know yet
// that it was superseded: the host's peer poll lags by an interval) cannot
// write into them once it reaches them again.
//
// A promotion raises the key kEpochKey on its local Redis to its new epoch
// *before* its endpoint takes a write, then kills every other tandem writer
// link of this store there; later (sync) it does the same on the peer's Redis
// when that is reachable. Every endpoint link checks the marker in its
// handshake, before it sends anything: a marker above the endpoint's own epoch
// means another node was promoted since, and the link refuses to carry writes
// (no dual write, no journal replay; dispatcher.h "superseded"). A link that
// was connected before the marker was raised is killed right after it, so its
// reconnect sees the marker too.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tandem::kv {

class RedisSyncClient;

// A Redis carries an epoch marker above the endpoint's epoch.
struct SupersededError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws SupersededError (saying which Redis and both epochs) when `redis`
// carries a marker above `epoch`.
void check_not_superseded(RedisSyncClient& redis, std::uint64_t epoch, const std::string& which);

// Keys with this prefix are tandem's own (not compared, not application data).
inline constexpr std::string_view kReservedPrefix = "__tandem:";
inline constexpr std::string_view kEpochKey = "__tandem:epoch";

inline bool reserved_key(std::string_view key) { return key.substr(0, kReservedPrefix.size()) == kReservedPrefix; }

// The marker's epoch on `redis` (0 when absent or not a number).
std::uint64_t read_epoch_marker(RedisSyncClient& redis);
// The marker's epoch parsed from a GET reply payload (0 when absent or malformed).
std::uint64_t parse_epoch_marker(std::string_view value);

// Raises the marker to `epoch` if it is lower (atomically, one script) and, if
// it was raised, kills the connections of every other tandem writer of this
// store (named "tandem-<node><writer_suffix>", writer_suffix() of
// dispatcher.h; except `own_writer`).
// Returns the marker's value before. Throws std::runtime_error (e.g. the
// server is a read-only replica).
std::uint64_t raise_epoch_marker(RedisSyncClient& redis, std::uint64_t epoch, const std::string& own_writer,
                                 const std::string& writer_suffix);

}  // namespace tandem::kv
