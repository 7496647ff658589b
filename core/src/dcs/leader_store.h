// The leader key and the epoch on etcd: the only writes automatic failover
// makes there, each one transaction (compare-and-swap), so the leader key
// and the epoch move together (issue 16).
//
//   <prefix>/leader  {"node":"alpha","epoch":7}, bound to the holder's lease
//   <prefix>/epoch   "7": the highest epoch any node was promoted to
//
// Blocking (EtcdClient); one owner thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "dcs/etcd_client.h"
#include "dcs/leader_lease.h"

namespace tandem::core::dcs {

// What a read of the leader key found.
struct LeaderRead {
  std::optional<LeaderValue> leader;  // nullopt: no leader key
  std::uint64_t etcd_epoch = 0;       // <prefix>/epoch (0 when absent)
};

// The outcome of an attempt to take or keep the key.
enum class Claim {
  won,            // this node holds the key (with the lease in held())
  held_by_other,  // another node holds it: leave it
  superseded,     // etcd's epoch is above this node's: another node was promoted since
};

class LeaderStore {
 public:
  LeaderStore(EtcdClient& client, std::string prefix, std::chrono::seconds ttl);

  sdk::Result<LeaderRead> read();

  // The primary at `epoch` takes the key (at start, after a promote, or when
  // its lease was lost). Won when the key is absent and etcd's epoch is not
  // above `epoch` (a lower one is raised to it in the same transaction), or
  // when the key already names this node at this epoch (a restarted daemon).
  sdk::Result<Claim> claim(const std::string& node, std::uint64_t epoch);

  // The secondary takes over: the key absent, it writes the key and the next
  // epoch, max(etcd's, `local_epoch`) + 1, in one transaction that fails if
  // anyone moved either in between. The new epoch when won.
  struct Takeover {
    Claim claim = Claim::held_by_other;
    std::uint64_t new_epoch = 0;
  };
  sdk::Result<Takeover> take_over(const std::string& node, std::uint64_t local_epoch);

  // A switchover to `node` (its peer, the old primary, already demoted):
  // the key, whoever it names or absent, and etcd's epoch move to `node` at
  // `new_epoch` in one transaction that fails if either moved in between.
  // superseded when etcd's epoch is already at or above `new_epoch`; won
  // too when the key already names `node` at `new_epoch` (a resumed step).
  sdk::Result<Claim> move_to(const std::string& node, std::uint64_t new_epoch);

  // One keep-alive of the held lease, then a read of the key: false when the
  // key no longer names this node as this store wrote it (a switchover or a
  // forced promote moved it elsewhere, though the lease lives on);
  // lease_not_found when the lease is gone.
  sdk::Result<bool> renew();
  // Revokes the held lease (the key goes with it): a clean step-down.
  sdk::Status release();

  // Whom the key named when the last claim() or renew() found it naming
  // someone else (nullopt otherwise, or unreadable): the caller tells a
  // stale key from a live one by its epoch.
  const std::optional<LeaderValue>& other_holder() const { return other_holder_; }

  std::int64_t lease_id() const { return lease_id_; }
  const std::string& leader_key() const { return leader_key_; }
  const std::string& epoch_key() const { return epoch_key_; }

 private:
  sdk::Result<std::int64_t> fresh_lease();
  // Both keys as of one revision: {leader, epoch}.
  sdk::Result<std::pair<std::optional<KeyValue>, std::optional<KeyValue>>> read_both();
  // Writes the key for `node` at `epoch` on a fresh lease, and the epoch,
  // if both keys are still as seen; false when one moved.
  sdk::Result<bool> replace(const std::string& node, std::uint64_t epoch, const std::optional<KeyValue>& seen_leader,
                            const std::optional<KeyValue>& seen_epoch);

  EtcdClient& client_;
  std::string leader_key_;
  std::string epoch_key_;
  std::chrono::seconds ttl_;
  std::int64_t lease_id_ = 0;
  std::string held_value_;  // the key's value as this store last wrote it
  std::optional<LeaderValue> other_holder_;
};

}  // namespace tandem::core::dcs
