#include "dcs/leader_store.h"

#include <algorithm>

namespace tandem::core::dcs {
namespace {

std::optional<std::uint64_t> parse_epoch(const std::string& text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// The epoch key as a transaction condition: absent (version 0), or holding
// exactly `text`.
Compare epoch_is(const std::string& key, const std::optional<KeyValue>& seen) {
  if (!seen) return Compare{key, Compare::Target::version, Compare::Op::equal, 0, ""};
  return Compare{key, Compare::Target::value, Compare::Op::equal, 0, seen->value};
}

Compare key_absent(const std::string& key) {
  return Compare{key, Compare::Target::create_revision, Compare::Op::equal, 0, ""};
}

}  // namespace

LeaderStore::LeaderStore(EtcdClient& client, std::string prefix, std::chrono::seconds ttl)
    : client_(client), leader_key_(prefix + "/leader"), epoch_key_(prefix + "/epoch"), ttl_(ttl) {}

sdk::Result<LeaderRead> LeaderStore::read() {
  // Both keys in one transaction without conditions: one consistent revision.
  auto r = client_.txn({}, {TxnOp{TxnOp::Kind::get, leader_key_, "", 0}, TxnOp{TxnOp::Kind::get, epoch_key_, "", 0}});
  TANDEM_TRY(r);
  LeaderRead out;
  if (r->gets.size() == 2) {
    if (r->gets[0]) {
      out.leader = decode_leader(r->gets[0]->value);
      // A key that is not ours to read is still a leader: never treat it as absent.
      if (!out.leader) out.leader = LeaderValue{"(unreadable: " + r->gets[0]->value.substr(0, 60) + ")", 0};
    }
    if (r->gets[1]) out.etcd_epoch = parse_epoch(r->gets[1]->value).value_or(0);
  }
  return out;
}

sdk::Result<std::int64_t> LeaderStore::fresh_lease() {
  auto lease = client_.grant_lease(ttl_);
  TANDEM_TRY(lease);
  return lease->id;
}

sdk::Result<Claim> LeaderStore::claim(const std::string& node, std::uint64_t epoch) {
  other_holder_.reset();
  auto both = read_both();
  TANDEM_TRY(both);
  const auto& [leader, epoch_kv] = *both;
  const std::uint64_t etcd_epoch = epoch_kv ? parse_epoch(epoch_kv->value).value_or(0) : 0;
  if (etcd_epoch > epoch) return Claim::superseded;
  const std::string mine = encode_leader({node, epoch});
  if (leader && leader->value != mine) {
    other_holder_ = decode_leader(leader->value);
    return Claim::held_by_other;
  }

  auto lease = fresh_lease();
  TANDEM_TRY(lease);
  std::vector<Compare> when{epoch_is(epoch_key_, epoch_kv)};
  // Absent, or still exactly our own value (a restart: rebind it to the new lease).
  when.push_back(leader ? Compare{leader_key_, Compare::Target::value, Compare::Op::equal, 0, mine}
                        : key_absent(leader_key_));
  std::vector<TxnOp> then{TxnOp{TxnOp::Kind::put, leader_key_, mine, *lease}};
  if (etcd_epoch != epoch || !epoch_kv) then.push_back(TxnOp{TxnOp::Kind::put, epoch_key_, std::to_string(epoch), 0});
  auto r = client_.txn(when, then);
  if (!r || !r->succeeded) {
    (void)client_.revoke_lease(*lease);  // best effort: unbound, it would expire anyway
    TANDEM_TRY(r);
    return Claim::held_by_other;  // someone moved a key in between
  }
  if (lease_id_ != 0 && lease_id_ != *lease) (void)client_.revoke_lease(lease_id_);
  lease_id_ = *lease;
  held_value_ = mine;
  return Claim::won;
}

sdk::Result<std::pair<std::optional<KeyValue>, std::optional<KeyValue>>> LeaderStore::read_both() {
  auto current =
      client_.txn({}, {TxnOp{TxnOp::Kind::get, leader_key_, "", 0}, TxnOp{TxnOp::Kind::get, epoch_key_, "", 0}});
  TANDEM_TRY(current);
  if (current->gets.size() != 2)
    return sdk::Error{"etcd answered a two-key read with " + std::to_string(current->gets.size()) + " results"};
  return std::make_pair(current->gets[0], current->gets[1]);
}

sdk::Result<bool> LeaderStore::replace(const std::string& node, std::uint64_t epoch,
                                       const std::optional<KeyValue>& seen_leader,
                                       const std::optional<KeyValue>& seen_epoch) {
  auto lease = fresh_lease();
  TANDEM_TRY(lease);
  Compare leader_as_seen = seen_leader
                               ? Compare{leader_key_, Compare::Target::value, Compare::Op::equal, 0, seen_leader->value}
                               : key_absent(leader_key_);
  auto r = client_.txn({leader_as_seen, epoch_is(epoch_key_, seen_epoch)},
                       {TxnOp{TxnOp::Kind::put, epoch_key_, std::to_string(epoch), 0},
                        TxnOp{TxnOp::Kind::put, leader_key_, encode_leader({node, epoch}), *lease}});
  if (!r || !r->succeeded) {
    (void)client_.revoke_lease(*lease);
    TANDEM_TRY(r);
    return false;
  }
  if (lease_id_ != 0) (void)client_.revoke_lease(lease_id_);
  lease_id_ = *lease;
  held_value_ = encode_leader({node, epoch});
  return true;
}

sdk::Result<LeaderStore::Takeover> LeaderStore::take_over(const std::string& node, std::uint64_t local_epoch) {
  auto both = read_both();
  TANDEM_TRY(both);
  const auto& [leader, epoch_kv] = *both;
  if (leader) return Takeover{Claim::held_by_other, 0};
  const std::uint64_t etcd_epoch = epoch_kv ? parse_epoch(epoch_kv->value).value_or(0) : 0;
  const std::uint64_t next = std::max(etcd_epoch, local_epoch) + 1;
  auto won = replace(node, next, leader, epoch_kv);
  TANDEM_TRY(won);
  if (!*won) return Takeover{Claim::held_by_other, 0};
  return Takeover{Claim::won, next};
}

sdk::Result<Claim> LeaderStore::move_to(const std::string& node, std::uint64_t new_epoch) {
  auto both = read_both();
  TANDEM_TRY(both);
  const auto& [leader, epoch_kv] = *both;
  if (leader && leader->value == encode_leader({node, new_epoch})) {
    // Already moved here: by this store's takeover (nothing to do), or by a
    // step interrupted after its transaction (rebind to a lease this store holds).
    if (leader->lease == lease_id_ && lease_id_ != 0) return Claim::won;
    return claim(node, new_epoch);
  }
  const std::uint64_t etcd_epoch = epoch_kv ? parse_epoch(epoch_kv->value).value_or(0) : 0;
  if (etcd_epoch >= new_epoch) return Claim::superseded;
  auto won = replace(node, new_epoch, leader, epoch_kv);
  TANDEM_TRY(won);
  return *won ? Claim::won : Claim::held_by_other;
}

sdk::Result<bool> LeaderStore::renew() {
  other_holder_.reset();
  if (lease_id_ == 0) return sdk::Error{"etcd lease not found: this node holds no lease", sdk::ErrorCode::not_found};
  auto r = client_.keep_alive(lease_id_);
  TANDEM_TRY(r);
  // A live lease is not a held key: another node may have moved the key
  // onto its own lease (one transaction with a higher epoch).
  auto both = read_both();
  TANDEM_TRY(both);
  const auto& leader = both->first;
  if (leader && leader->value != held_value_) other_holder_ = decode_leader(leader->value);
  return leader && leader->value == held_value_ && leader->lease == lease_id_;
}

sdk::Status LeaderStore::release() {
  if (lease_id_ == 0) return {};
  auto st = client_.revoke_lease(lease_id_);
  if (st.ok() || classify(st.error()) == EtcdErrorKind::lease_not_found) lease_id_ = 0;
  return st;
}

}  // namespace tandem::core::dcs
