#include "dcs/leader_lease.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace tandem::core::dcs {
namespace {

using std::chrono::milliseconds;

milliseconds until(Clock::time_point from, Clock::time_point to) {
  return to > from ? std::chrono::duration_cast<milliseconds>(to - from) : milliseconds(0);
}

std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

std::string stale_key_recovery() {
  return ". To recover: `tandemctl promote --force` on the node with the newest data (normally the one at the "
         "higher epoch), then `tandemctl rejoin` on the other";
}

namespace {}  // namespace

std::string_view to_string(PrimaryDecision::Writes w) {
  switch (w) {
    case PrimaryDecision::Writes::serve: return "serve";
    case PrimaryDecision::Writes::serve_failsafe: return "serve_failsafe";
    case PrimaryDecision::Writes::fence: return "fence";
  }
  return "fence";
}

void PrimaryLease::renewed(Clock::time_point sent_at) {
  if (!last_renewal_sent_ || sent_at > *last_renewal_sent_) last_renewal_sent_ = sent_at;
  last_attempt_ = sent_at;
  in_flight_.reset();
  etcd_failing_ = false;
  last_failure_ = EtcdErrorKind::none;
  lost_.reset();
  stale_key_.reset();
}

void PrimaryLease::renewal_failed(Clock::time_point sent_at, EtcdErrorKind kind) {
  last_attempt_ = sent_at;
  in_flight_.reset();
  etcd_failing_ = true;
  last_failure_ = kind;
}

void PrimaryLease::stale_key(Clock::time_point sent_at, std::string why) {
  renewal_failed(sent_at, EtcdErrorKind::none);
  stale_key_ = std::move(why);
}

void PrimaryLease::lost(std::string why) {
  lost_ = std::move(why);
  stale_key_.reset();
  last_renewal_sent_.reset();
  // A promise the peer gave was about etcd being out of reach; etcd has now
  // answered, so it no longer covers this node.
  failsafe_until_.reset();
}

void PrimaryLease::peer_asked(Clock::time_point at) {
  last_ask_ = at;
  ask_outstanding_ = true;
}

void PrimaryLease::peer_confirmed(Clock::time_point asked_at) {
  ask_outstanding_ = false;
  if (lost_) return;
  auto until = asked_at + timing_.ttl - timing_.margin;
  if (!failsafe_until_ || until > *failsafe_until_) failsafe_until_ = until;
  peer_refusal_.clear();
}

void PrimaryLease::peer_refused(Clock::time_point, std::string why) {
  ask_outstanding_ = false;
  // An earlier confirmation stays valid: the peer keeps its promise until it
  // runs out, whatever it answers later.
  peer_refusal_ = std::move(why);
}

PrimaryDecision PrimaryLease::decide(Clock::time_point now) const {
  PrimaryDecision d;
  const milliseconds retry = std::max(milliseconds(100), timing_.renew_interval() / 4);
  const milliseconds cadence = etcd_failing_ || lost_ || !last_renewal_sent_ ? retry : timing_.renew_interval();
  d.renew_now = !last_attempt_ || now >= *last_attempt_ + cadence;
  if (last_renewal_sent_) d.lease_remaining = until(now, *last_renewal_sent_ + timing_.ttl);
  const bool slow = in_flight_ && now - *in_flight_ >= std::min(milliseconds(300), retry);
  const bool doubtful = etcd_failing_ || slow;

  if (lost_) {
    d.writes = PrimaryDecision::Writes::fence;
    d.reason = "lost the leader lease: " + *lost_;
    return d;
  }
  if (last_renewal_sent_) {
    auto fence_at = *last_renewal_sent_ + timing_.ttl - timing_.margin;
    if (now < fence_at) {
      d.writes = PrimaryDecision::Writes::serve;
      d.serve_remaining = until(now, fence_at);
      d.reason = stale_key_      ? "holding the lease for " + ms_text(d.serve_remaining) + " more; " + *stale_key_
                 : etcd_failing_ ? "holding the lease; renewing fails (" + std::string(to_string(last_failure_)) + ")"
                                 : "holding the leader lease";
      d.ask_peer_now = doubtful && !ask_outstanding_ && (!last_ask_ || now >= *last_ask_ + retry);
      return d;
    }
  }
  d.ask_peer_now = doubtful && !ask_outstanding_ && (!last_ask_ || now >= *last_ask_ + retry);
  if (failsafe_until_ && now < *failsafe_until_) {
    d.writes = PrimaryDecision::Writes::serve_failsafe;
    d.serve_remaining = until(now, *failsafe_until_);
    d.reason = stale_key_
                   ? "failsafe: " + *stale_key_ +
                         "; the peer confirmed it does not serve and will not take over (for " +
                         ms_text(d.serve_remaining) + " more); the key is claimed once it expired"
                   : "failsafe: etcd " + std::string(to_string(last_failure_)) +
                         ", the peer confirmed it will not take over (for " + ms_text(d.serve_remaining) + " more)";
    return d;
  }
  d.writes = PrimaryDecision::Writes::fence;
  if (stale_key_)
    d.reason = *stale_key_ + ", and the peer has not confirmed that it does not serve" +
               (peer_refusal_.empty() ? "" : " (" + peer_refusal_ + ")") + stale_key_recovery();
  else if (!last_renewal_sent_ && !etcd_failing_)
    d.reason = "not holding the leader key yet";
  else if (!etcd_failing_)
    d.reason = "the lease ran out";  // renewed() would have reset it: only reached by a decide long after
  else
    d.reason = "cannot renew the lease (etcd " + std::string(to_string(last_failure_)) +
               ") and the peer has not confirmed failsafe" + (peer_refusal_.empty() ? "" : ": " + peer_refusal_);
  return d;
}

SecondaryWatch::Answer SecondaryWatch::failsafe_ask(Clock::time_point now, const std::string& asker,
                                                    const SecondaryView& view, const std::string& self, bool fenced) {
  Answer a;
  if (fenced) {
    // A fenced node takes no writes and no automatic action until rejoin.
    a.confirm = true;
    a.reason = "this node is fenced: it takes no writes and does not take over until `tandemctl rejoin`";
  } else if (view.leader_key == SecondaryView::LeaderKey::present && !self.empty() && view.leader_node == self) {
    // The key names this node, which is not primary: a stale key (etcd
    // restored from a snapshot, or a promote of the asker never reached it).
    a.confirm = true;
    a.reason = "this secondary reads the leader key naming itself, which it does not hold: a stale key";
  } else if (view.leader_key == SecondaryView::LeaderKey::unknown) {
    a.confirm = true;
    a.reason = "this secondary cannot reach etcd either (" + std::string(to_string(view.etcd_error)) + ")";
  } else if (view.leader_key == SecondaryView::LeaderKey::present && view.leader_node == asker) {
    a.confirm = true;
    a.reason = "this secondary reads the leader key naming " + asker;
  } else if (view.leader_key == SecondaryView::LeaderKey::present) {
    a.reason = "etcd names " + view.leader_node + " as leader, not " + asker;
  } else {
    a.reason = "etcd is reachable and holds no leader key";
  }
  if (a.confirm) {
    auto until = now + timing_.ttl;
    if (!promised_until_ || until > *promised_until_) promised_until_ = until;
  }
  return a;
}

SecondaryDecision SecondaryWatch::decide(Clock::time_point now, const SecondaryView& view) const {
  SecondaryDecision d;
  if (view.paused) {
    d.reason = "automatic failover is paused (tandemctl resume)";
    return d;
  }
  switch (view.leader_key) {
    case SecondaryView::LeaderKey::unknown:
      d.reason = "cannot read the leader key (etcd " + std::string(to_string(view.etcd_error)) +
                 "): never takes over without etcd";
      return d;
    case SecondaryView::LeaderKey::present: d.reason = view.leader_node + " holds the leader key"; return d;
    case SecondaryView::LeaderKey::absent: break;
  }
  if (promised_until_ && now < *promised_until_) {
    d.reason = "the leader key is gone, but this node promised the primary failsafe for " +
               ms_text(until(now, *promised_until_)) + " more";
    return d;
  }
  if (view.peer_reachable && view.peer_serving) {
    d.reason =
        "the leader key is gone, but the primary still serves (unfenced, reachable): waiting for it to "
        "renew or fence itself";
    return d;
  }
  if (view.gate_refusal) {
    d.gate_refused = true;
    d.reason = "the leader key is gone, but a takeover is refused: " + *view.gate_refusal;
    return d;
  }
  d.take_over = true;
  d.reason = std::string("the leader key is gone and the primary is ") +
             (view.peer_reachable ? "not serving (fenced or not primary)" : "unreachable");
  return d;
}

std::string encode_leader(const LeaderValue& v) { return nlohmann::json{{"node", v.node}, {"epoch", v.epoch}}.dump(); }

std::optional<LeaderValue> decode_leader(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("node") || !j["node"].is_string() || !j.contains("epoch") ||
      !j["epoch"].is_number_unsigned())
    return std::nullopt;
  return LeaderValue{j["node"].get<std::string>(), j["epoch"].get<std::uint64_t>()};
}

}  // namespace tandem::core::dcs
