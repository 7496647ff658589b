// The decisions of automatic failover (issue 16) as pure logic: no I/O, no
// clock of its own. The driver (leader_driver.h) feeds in what it observed
// and when, and carries out what these say. Times are steady-clock instants
// of this node.
//
// The primary's rule. It holds the leader key bound to a lease of `ttl`.
// etcd counts a renewal from the moment it receives it, which is after we
// sent it; so measured from the send, the lease runs at least until
// sent + ttl. The primary serves writes until sent + ttl - margin
// (the fence deadline), and past it only under failsafe.
//
// Failsafe (Patroni's failsafe_mode, made a lease of its own): when etcd
// cannot be reached, the primary asks the peer over the peer channel. A peer
// that confirms (it is a secondary and cannot reach etcd either, or it reads
// the leader key naming this node) promises not to take over for `ttl` from
// when it answered. The primary counts that promise from when it *asked*
// (earlier, so safe): failsafe holds until asked + ttl - margin. The ask
// has no short timeout of its own (patroni#3550): an answer is useful for as
// long as it arrives before that deadline, so a slow peer (paused 3 s) still
// confirms in time.
//
// The secondary's rule. It takes over only when (1) the leader key is gone
// on etcd (read: etcd answered), (2) the primary is not serving, as far as
// the peer channel shows (unreachable, fenced, or not primary), (3) no
// failsafe promise it gave is still running, (4) the lag gate passes, and
// (5) automatic actions are not paused. It then takes the key and the next
// epoch in one transaction, and promotes only if that transaction won.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "dcs/etcd_client.h"

namespace tandem::core::dcs {

using Clock = std::chrono::steady_clock;

struct LeaseTiming {
  std::chrono::milliseconds ttl{std::chrono::seconds(10)};
  std::chrono::milliseconds margin{std::chrono::seconds(2)};
  std::chrono::milliseconds renew_interval() const { return ttl / 3; }
};

// What the primary should be doing now.
struct PrimaryDecision {
  enum class Writes { serve, serve_failsafe, fence };
  Writes writes = Writes::fence;
  bool renew_now = false;     // send a keep-alive (or re-acquire the key)
  bool ask_peer_now = false;  // ask the peer for a failsafe confirmation
  // How long this node may still serve on what it holds (lease or failsafe);
  // zero when it must fence.
  std::chrono::milliseconds serve_remaining{0};
  // How long the lease has on etcd's side at least (counted from the last
  // successful send); zero when expired or never held.
  std::chrono::milliseconds lease_remaining{0};
  std::string reason;  // one line for status and the log
};

class PrimaryLease {
 public:
  explicit PrimaryLease(LeaseTiming timing) : timing_(timing) {}

  // A renewal (or acquisition) is being sent now. One still out after a
  // short while counts as a failure for asking the peer (not for fencing):
  // a hung etcd call must not use up the time the failsafe ask needs.
  void renewal_started(Clock::time_point at) { in_flight_ = at; }
  // The key was taken, or the lease renewed, by a request sent at `sent_at`.
  void renewed(Clock::time_point sent_at);
  // A renewal (or acquisition) sent at `sent_at` failed: etcd could not be
  // reached, or had no quorum. Failsafe may apply.
  void renewal_failed(Clock::time_point sent_at, EtcdErrorKind kind);
  // etcd answered that the lease is gone, or the key names another node:
  // someone may already hold it. Fence now; failsafe does not apply (etcd is
  // reachable and has spoken). Cleared by the next renewed().
  void lost(std::string why);
  // etcd answered a renewal (or claim) sent at `sent_at` with a stale key:
  // it names the peer at an epoch below this node's (etcd lost writes:
  // restored from a snapshot or rebuilt; or a promote never reached it).
  // Nobody holds that epoch any more, but whether the peer still writes
  // under it only the peer can say: as when etcd cannot be reached, this
  // node serves on past its lease only while the peer confirms (failsafe),
  // and fences otherwise; the key is claimed once it expired. Cleared by
  // renewed() and lost().
  void stale_key(Clock::time_point sent_at, std::string why);
  bool stale() const { return stale_key_.has_value(); }
  // The peer's answer to an ask sent at `asked_at`.
  void peer_confirmed(Clock::time_point asked_at);
  void peer_refused(Clock::time_point asked_at, std::string why);
  // An ask was sent (so none is started again while it is out).
  void peer_asked(Clock::time_point at);
  void peer_ask_finished() { ask_outstanding_ = false; }

  PrimaryDecision decide(Clock::time_point now) const;
  const LeaseTiming& timing() const { return timing_; }

 private:
  LeaseTiming timing_;
  std::optional<Clock::time_point> last_renewal_sent_;  // of the last successful one
  std::optional<Clock::time_point> last_attempt_;       // of the last one, successful or not
  bool etcd_failing_ = false;
  std::optional<Clock::time_point> in_flight_;  // a renewal sent and not yet answered
  EtcdErrorKind last_failure_ = EtcdErrorKind::none;
  std::optional<std::string> lost_;
  std::optional<std::string> stale_key_;
  std::optional<Clock::time_point> failsafe_until_;
  std::optional<Clock::time_point> last_ask_;
  bool ask_outstanding_ = false;
  std::string peer_refusal_;
};

// What the secondary knows when it considers taking over.
struct SecondaryView {
  enum class LeaderKey { unknown, present, absent };
  LeaderKey leader_key = LeaderKey::unknown;  // unknown: etcd did not answer
  std::string leader_node;                    // when present
  EtcdErrorKind etcd_error = EtcdErrorKind::none;
  bool peer_reachable = false;
  bool peer_serving = false;                // the peer says it is an unfenced primary
  bool paused = false;                      // tandemctl pause: no automatic action
  std::optional<std::string> gate_refusal;  // why a store would not be promoted now (lag, sync state)
};

struct SecondaryDecision {
  bool take_over = false;
  // Everything else allowed a takeover, a gate (lag) refused it: the
  // secondary stays, says so (status, metrics, log) and asks again next poll.
  bool gate_refused = false;
  std::string reason;
};

class SecondaryWatch {
 public:
  explicit SecondaryWatch(LeaseTiming timing) : timing_(timing) {}

  // The failsafe question from the primary named `asker`, answered at
  // `now` by the node named `self` (a secondary, or fenced) with what it
  // last saw of etcd. A confirmation is a promise: no takeover until now + ttl.
  struct Answer {
    bool confirm = false;
    std::string reason;
  };
  Answer failsafe_ask(Clock::time_point now, const std::string& asker, const SecondaryView& view,
                      const std::string& self = "", bool fenced = false);

  SecondaryDecision decide(Clock::time_point now, const SecondaryView& view) const;

 private:
  LeaseTiming timing_;
  std::optional<Clock::time_point> promised_until_;
};

std::string_view to_string(PrimaryDecision::Writes w);

// What an operator does when a stale leader key left this node fenced (the
// tail of the fence reason: ". To recover: ...").
std::string stale_key_recovery();

// The leader key's value: which node leads, at which epoch (JSON text).
struct LeaderValue {
  std::string node;
  std::uint64_t epoch = 0;
};
std::string encode_leader(const LeaderValue& v);
std::optional<LeaderValue> decode_leader(const std::string& text);

}  // namespace tandem::core::dcs
