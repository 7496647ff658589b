#include "dcs/auto_failover.h"

#include <algorithm>

#include "tandem/sdk/net/url.h"
#include "util/logging.h"

namespace tandem::core::dcs {
namespace {

using std::chrono::milliseconds;
constexpr const char* kLog = "autofailover";

EtcdOptions etcd_options(const DcsConfig& dcs, std::string password, std::shared_ptr<const sdk::net::TlsContext> tls) {
  EtcdOptions o;
  for (const auto& e : dcs.endpoints)
    if (auto url = sdk::net::parse_url(e)) o.endpoints.push_back(*url);
  o.retry_timeout = dcs.effective_retry_timeout();
  // One member's attempt: short enough that a paused member leaves time to
  // try the others within the retry budget.
  o.request_timeout = std::max(milliseconds(200), o.retry_timeout / 2);
  o.username = dcs.username;
  o.password = std::move(password);
  o.tls = std::move(tls);
  return o;
}

double seconds(milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

// A leader key naming another node at an epoch below this node's `epoch`:
// etcd lost writes (restored from a snapshot, rebuilt) or a promote never
// reached it. Its holder was superseded by this node's epoch (the peer
// channel's epoch rule fences it), so nobody should write under it; nullopt
// for a key at an epoch as high as ours, which may be live.
std::optional<std::string> stale_key(const std::optional<LeaderValue>& holder, const std::string& self,
                                     std::uint64_t epoch) {
  if (!holder || holder->node == self || holder->epoch >= epoch) return std::nullopt;
  return "etcd's leader key is stale: it names " + holder->node + " at epoch " + std::to_string(holder->epoch) +
         ", below this node's epoch " + std::to_string(epoch) +
         " (etcd lost writes: restored from a snapshot or rebuilt; or a promote never reached it)";
}

std::string holder_text(const std::optional<LeaderValue>& holder) {
  return holder ? " (" + holder->node + " at epoch " + std::to_string(holder->epoch) + ")" : "";
}

}  // namespace

AutoFailover::AutoFailover(AutoFailoverNode& node, std::string node_name, const DcsConfig& dcs,
                           const FailoverSettings& settings, std::string etcd_password,
                           std::shared_ptr<const sdk::net::TlsContext> etcd_tls)
    : node_(node),
      name_(std::move(node_name)),
      dcs_(dcs),
      settings_(settings),
      timing_{dcs.ttl, settings.fence_margin},
      client_(etcd_options(dcs, std::move(etcd_password), std::move(etcd_tls))),
      store_(client_, dcs.prefix, std::chrono::duration_cast<std::chrono::seconds>(dcs.ttl)),
      lease_(timing_),
      watch_(timing_) {}

AutoFailover::~AutoFailover() { stop(); }

void AutoFailover::etcd_answered() {
  etcd_last_seen_ = Clock::now();
  etcd_last_error_.clear();
  etcd_last_kind_ = EtcdErrorKind::none;
}

void AutoFailover::etcd_failed(const sdk::Error& e) {
  etcd_last_error_ = e.message;
  etcd_last_kind_ = classify(e);
}

sdk::Status AutoFailover::start() {
  auto first = store_.read();
  if (!first)
    return sdk::Error{"[dcs] etcd cannot be read at start (" + first.message() +
                          "); automatic failover needs its etcd cluster: check [dcs] endpoints, or set [failover] "
                          "mode = \"manual\"",
                      first.code()};
  {
    std::lock_guard l(mu_);
    etcd_answered();
  }
  auto local = node_.local();
  if (local.role == sdk::Role::primary && !local.fenced) {
    auto sent = Clock::now();
    auto claim = store_.claim(name_, local.epoch);
    if (!claim) return sdk::Error{"[dcs] cannot claim the leader key at start: " + claim.message(), claim.code()};
    if (*claim == Claim::won) {
      std::lock_guard l(mu_);
      lease_.renewed(sent);
      holds_key_ = true;
      log_info(kLog, "holds the leader key " + store_.leader_key() + " at epoch " + std::to_string(local.epoch));
    } else {
      auto stale = stale_key(store_.other_holder(), name_, local.epoch);
      if (*claim != Claim::held_by_other) stale.reset();
      // A stale key at start goes the failsafe way too: the peer asked now,
      // before the stores serve, for as long as its answer can be used.
      std::string peer_said;
      if (stale && start_on_stale_key(sent, *stale, peer_said)) {
        // Serving on the peer's promise; the driver claims the key once it expired.
      } else {
        std::string why =
            *claim == Claim::superseded ? "etcd's epoch is above this node's " + std::to_string(local.epoch) +
                                              ": another node was promoted; run `tandemctl rejoin`"
            : stale ? "at start, " + *stale + ", and the peer has not confirmed that it does not serve (" + peer_said +
                          ")" + stale_key_recovery()
                    : "another node holds the leader key " + store_.leader_key() + holder_text(store_.other_holder());
        node_.self_fence(why);
        log_error(kLog, "FENCED at start: " + why);
      }
    }
  }
  std::lock_guard l(mu_);
  stopping_ = false;
  // A secondary starting up looks only after one ttl: by then the peer
  // monitor has its first answer and the stores run, so "peer unreachable"
  // means what it says.
  next_secondary_poll_ = Clock::now() + timing_.ttl;
  thread_ = std::thread([this] { run(); });
  guard_ = std::thread([this] { guard(); });
  return {};
}

void AutoFailover::stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (guard_.joinable()) guard_.join();
  if (promoter_.joinable()) {
    // A promote runs on the failover thread, which the runtime bounds at
    // shutdown; one hung past that is left behind, as a hung step is (the
    // runtime then reports an unclean shutdown and tandemd exits without
    // destructors).
    for (int i = 0; i < 300 && promoting_.load(); ++i) std::this_thread::sleep_for(milliseconds(100));
    if (promoting_.load()) {
      log_error(kLog, "a promote was still running at shutdown");
      promoter_.detach();
    } else {
      promoter_.join();
    }
  }
  std::lock_guard a(ask_mu_);
  if (asker_.joinable()) asker_.join();
}

void AutoFailover::run() {
  const milliseconds tick = std::clamp(timing_.renew_interval() / 10, milliseconds(50), milliseconds(250));
  std::unique_lock l(mu_);
  while (!stopping_) {
    l.unlock();
    auto local = node_.local();
    auto now = Clock::now();
    if (local.fenced || local.role == sdk::Role::primary) switching_ = false;
    if (local.fenced) {
      std::lock_guard g(mu_);
      decision_ = "fenced: no automatic action until `tandemctl rejoin`";
      holds_key_ = false;
      gate_refused_ = false;
    } else if (local.role == sdk::Role::primary || promoting_.load() || switching_.load()) {
      primary_tick(now, local);
    } else {
      secondary_tick(now, local);
    }
    l.lock();
    cv_.wait_for(l, tick, [this] { return stopping_; });
  }
}

void AutoFailover::guard() {
  std::unique_lock l(mu_);
  while (!stopping_) {
    l.unlock();
    auto local = node_.local();
    if (local.role == sdk::Role::primary && !local.fenced) {
      PrimaryDecision d;
      {
        std::lock_guard g(mu_);
        d = lease_.decide(Clock::now());
      }
      if (d.ask_peer_now && !asking_.load()) ask_peer(Clock::now(), std::max(timing_.ttl, d.serve_remaining));
      if (d.writes == PrimaryDecision::Writes::fence) fence_once(d.reason);
    }
    l.lock();
    cv_.wait_for(l, milliseconds(50), [this] { return stopping_; });
  }
}

void AutoFailover::fence_once(const std::string& reason) {
  std::lock_guard f(fence_mu_);
  if (node_.local().fenced) return;
  log_error(kLog, "SELF-FENCE: " + reason);
  node_.self_fence("self-fenced by automatic failover: " + reason);
  std::lock_guard l(mu_);
  holds_key_ = false;
}

void AutoFailover::primary_tick(Clock::time_point now, const AutoFailoverNode::Local& local) {
  PrimaryDecision d;
  {
    std::lock_guard l(mu_);
    d = lease_.decide(now);
  }
  if (d.renew_now) {
    auto sent = Clock::now();
    bool held = false;  // holds_key_ is also written by the guard and failover threads
    {
      std::lock_guard l(mu_);
      lease_.renewal_started(sent);
      held = holds_key_;
    }
    std::unique_lock e(etcd_mu_);
    bool need_claim = store_.lease_id() == 0 || d.reason.rfind("lost", 0) == 0 || !held;
    if (need_claim) {
      auto claim = store_.claim(name_, local.epoch);
      const auto holder = store_.other_holder();
      e.unlock();
      std::lock_guard l(mu_);
      if (!claim) {
        etcd_failed(claim.error());
        lease_.renewal_failed(sent, classify(claim.error()));
      } else {
        etcd_answered();
        if (*claim == Claim::won) {
          if (lease_.stale())
            log_warn(kLog, "claimed the leader key at epoch " + std::to_string(local.epoch) +
                               ": the stale key expired; etcd's epoch is this node's again");
          lease_.renewed(sent);
          holds_key_ = true;
        } else if (auto stale = stale_key(holder, name_, local.epoch); stale && *claim == Claim::held_by_other) {
          note_stale_key(sent, *stale);
        } else {
          lease_.lost(*claim == Claim::superseded ? "etcd's epoch is above this node's: another node was promoted"
                                                  : "another node holds the leader key" + holder_text(holder));
          holds_key_ = false;
        }
      }
    } else {
      auto renewed = store_.renew();
      // The lease can end on etcd's side while this node served under
      // failsafe: members that were paused (or slow) past the ttl revoke it the
      // moment they resume, before any renewal gets through. The key went with
      // it, but if it is still absent and etcd's epoch still this node's,
      // nobody took over: claim it again (the same compare-and-swap a takeover
      // goes through decides which of the two wins), rather than fence a
      // healthy primary and fail over because etcd was down.
      std::optional<sdk::Result<Claim>> reclaimed;
      if (!renewed.ok() && classify(renewed.error()) == EtcdErrorKind::lease_not_found)
        reclaimed = store_.claim(name_, local.epoch);
      const auto stale = stale_key(store_.other_holder(), name_, local.epoch);
      e.unlock();
      std::lock_guard l(mu_);
      if (reclaimed && reclaimed->ok() && **reclaimed == Claim::won) {
        etcd_answered();
        lease_.renewed(sent);
        log_warn(kLog, "etcd said the lease is gone (" + renewed.message() +
                           "); the leader key was still free at epoch " + std::to_string(local.epoch) +
                           ": claimed it again");
      } else if (reclaimed && !reclaimed->ok() && classify(reclaimed->error()) != EtcdErrorKind::lease_not_found) {
        etcd_failed(reclaimed->error());
        lease_.renewal_failed(sent, classify(reclaimed->error()));
      } else if (reclaimed && reclaimed->ok() && **reclaimed == Claim::held_by_other && stale) {
        etcd_answered();
        note_stale_key(sent, "the lease is gone and " + *stale);
      } else if (reclaimed && reclaimed->ok()) {
        etcd_answered();
        lease_.lost(**reclaimed == Claim::superseded
                        ? "the lease is gone and etcd's epoch is above this node's: another node was promoted"
                        : "the lease is gone and another node holds the leader key");
        holds_key_ = false;
      } else if (renewed.ok() && *renewed) {
        etcd_answered();
        lease_.renewed(sent);
      } else if (renewed.ok() && stale) {
        etcd_answered();
        note_stale_key(sent, *stale);
      } else if (renewed.ok()) {
        etcd_answered();
        lease_.lost("the leader key no longer names this node at its epoch: it was moved on etcd");
        holds_key_ = false;
      } else if (classify(renewed.error()) == EtcdErrorKind::lease_not_found) {
        etcd_answered();
        lease_.lost("etcd says the lease is gone (" + renewed.message() + ")");
        holds_key_ = false;
      } else {
        etcd_failed(renewed.error());
        lease_.renewal_failed(sent, classify(renewed.error()));
      }
    }
    std::lock_guard l(mu_);
    d = lease_.decide(Clock::now());
  }
  if (d.ask_peer_now && !asking_.load()) ask_peer(Clock::now(), std::max(timing_.ttl, d.serve_remaining));
  {
    std::lock_guard l(mu_);
    last_primary_ = d;
    decision_ = d.reason;
    gate_refused_ = false;
  }
  // (While a promote runs, the node is not primary yet: nothing to fence.)
  if (d.writes == PrimaryDecision::Writes::fence && local.role == sdk::Role::primary) fence_once(d.reason);
}

bool AutoFailover::start_on_stale_key(Clock::time_point sent, const std::string& why, std::string& peer_said) {
  const auto asked = Clock::now();
  auto answer = node_.ask_peer_failsafe(name_, timing_.ttl - timing_.margin, peer_said);
  if (!answer) peer_said = "the peer did not answer: " + answer.message();
  if (!answer || !*answer) return false;
  std::lock_guard l(mu_);
  note_stale_key(sent, "at start, " + why);
  lease_.peer_asked(asked);
  lease_.peer_confirmed(asked);
  return true;
}

void AutoFailover::note_stale_key(Clock::time_point sent, const std::string& why) {
  if (!lease_.stale())
    log_warn(kLog, why +
                       ": this node serves on past its lease only while the peer confirms that it does not serve "
                       "(failsafe), and claims the key at its own epoch once the stale one expired; without the "
                       "confirmation it fences");
  lease_.stale_key(sent, why);
  holds_key_ = false;
}

void AutoFailover::ask_peer(Clock::time_point now, milliseconds wait) {
  std::lock_guard a(ask_mu_);
  if (asking_.load()) return;
  if (asker_.joinable()) asker_.join();  // the previous ask has finished (asking_ is false)
  {
    std::lock_guard l(mu_);
    lease_.peer_asked(now);
  }
  asking_ = true;
  asker_ = std::thread([this, now, wait] {
    std::string reason;
    // No short timeout of its own: as long as an answer can still be used.
    auto answer = node_.ask_peer_failsafe(name_, wait, reason);
    std::lock_guard l(mu_);
    if (answer && *answer) {
      lease_.peer_confirmed(now);
    } else {
      lease_.peer_refused(now, answer ? reason : "the peer did not answer: " + answer.message());
    }
    lease_.peer_ask_finished();
    asking_ = false;
  });
}

SecondaryView AutoFailover::view_of_etcd() {
  SecondaryView v;
  std::unique_lock e(etcd_mu_);
  auto r = store_.read();
  e.unlock();
  std::lock_guard l(mu_);
  if (!r) {
    etcd_failed(r.error());
    v.leader_key = SecondaryView::LeaderKey::unknown;
    v.etcd_error = classify(r.error());
  } else {
    etcd_answered();
    v.leader_key = r->leader ? SecondaryView::LeaderKey::present : SecondaryView::LeaderKey::absent;
    if (r->leader) v.leader_node = r->leader->node;
  }
  return v;
}

void AutoFailover::secondary_tick(Clock::time_point now, const AutoFailoverNode::Local& local) {
  {
    std::lock_guard l(mu_);
    if (switching_.load()) return;  // a switchover took the key a moment ago: primary_tick renews it
    holds_key_ = false;
    if (now < next_secondary_poll_) return;
    next_secondary_poll_ = now + std::min(milliseconds(500), timing_.renew_interval());
  }
  auto v = view_of_etcd();
  auto peer = node_.peer();
  v.peer_reachable = peer.reachable;
  v.peer_serving = peer.reachable && peer.serving;
  v.paused = local.paused || peer.paused;
  v.gate_refusal = node_.lag_refusal(settings_.maximum_lag_on_failover);
  SecondaryDecision d;
  {
    std::lock_guard l(mu_);
    last_view_ = v;
    d = watch_.decide(now, v);
    if (v.leader_key == SecondaryView::LeaderKey::present && v.leader_node == name_ && !v.paused)
      d.reason =
          "the leader key names this node, which does not hold it: a stale key (etcd restored from a "
          "snapshot?); it expires with its lease, then the primary claims it";
    if (d.gate_refused && !gate_refused_)
      log_warn(kLog, "secondary: " + d.reason + "; retrying every poll");
    else if (decision_ != d.reason && !(d.gate_refused && gate_refused_))
      log_info(kLog, "secondary: " + d.reason);
    gate_refused_ = d.gate_refused;
    decision_ = d.reason;
  }
  if (!d.take_over) return;
  const std::uint64_t base = std::max(local.epoch, peer.reachable ? peer.epoch : 0);
  auto sent = Clock::now();
  std::unique_lock e(etcd_mu_);
  auto taken = store_.take_over(name_, base);
  e.unlock();
  if (!taken) {
    std::lock_guard l(mu_);
    etcd_failed(taken.error());
    decision_ = "taking the leader key failed: " + taken.message();
    return;
  }
  if (taken->claim != Claim::won) {
    std::lock_guard l(mu_);
    decision_ = "another node took the leader key first";
    return;
  }
  {
    std::lock_guard l(mu_);
    etcd_answered();
    lease_ = PrimaryLease(timing_);
    lease_.renewed(sent);
    holds_key_ = true;
  }
  log_warn(kLog, "took the leader key at epoch " + std::to_string(taken->new_epoch) + " (" + d.reason + "): promoting");
  if (promoter_.joinable()) promoter_.join();
  promoting_ = true;
  const std::uint64_t epoch = taken->new_epoch;
  promoter_ = std::thread([this, epoch] {
    auto report = node_.promote(epoch);
    const std::string result = report.value("result", std::string("?"));
    std::lock_guard l(mu_);
    decision_ = "took over at epoch " + std::to_string(epoch) + "; promote " + result +
                (result == "succeeded" ? "" : ": " + report.value("reason", std::string()));
    if (result != "succeeded") log_error(kLog, decision_);
    promoting_ = false;
  });
}

sdk::Status AutoFailover::take_key(std::uint64_t new_epoch) {
  const auto sent = Clock::now();
  std::unique_lock e(etcd_mu_);
  auto moved = store_.move_to(name_, new_epoch);
  e.unlock();
  std::lock_guard l(mu_);
  if (!moved) {
    etcd_failed(moved.error());
    return sdk::Error{"cannot move the leader key " + store_.leader_key() + " to this node: " + moved.message(),
                      moved.code()};
  }
  etcd_answered();
  if (*moved != Claim::won)
    return sdk::Error{*moved == Claim::superseded
                          ? "etcd's epoch is already at or above " + std::to_string(new_epoch) +
                                ": another node was promoted meanwhile"
                          : "the leader key or the epoch moved on etcd while the switchover read them",
                      sdk::ErrorCode::refused};
  lease_ = PrimaryLease(timing_);
  lease_.renewed(sent);
  holds_key_ = true;
  switching_ = true;
  decision_ = "holds the leader key at epoch " + std::to_string(new_epoch) + ", promoting";
  log_warn(kLog, "the leader key " + store_.leader_key() + " names this node at epoch " + std::to_string(new_epoch) +
                     ": promoting");
  return {};
}

sdk::Status AutoFailover::key_could_move(std::uint64_t new_epoch) {
  std::unique_lock e(etcd_mu_);
  auto seen = store_.read();
  e.unlock();
  std::lock_guard l(mu_);
  if (!seen) {
    etcd_failed(seen.error());
    return sdk::Error{"etcd cannot be read (" + seen.message() + ")", seen.code()};
  }
  etcd_answered();
  const bool already_here = seen->leader && seen->leader->node == name_ && seen->leader->epoch == new_epoch;
  if (seen->etcd_epoch >= new_epoch && !already_here)
    return sdk::Error{"etcd's epoch is already " + std::to_string(seen->etcd_epoch) + ": another node was promoted",
                      sdk::ErrorCode::refused};
  return {};
}

SecondaryWatch::Answer AutoFailover::answer_failsafe(const std::string& asker) {
  auto local = node_.local();
  std::lock_guard l(mu_);
  if (local.role == sdk::Role::primary && !local.fenced)
    return SecondaryWatch::Answer{false, "this node is itself an unfenced primary"};
  auto a = watch_.failsafe_ask(Clock::now(), asker, last_view_, name_, local.fenced);
  log_info(kLog, std::string("failsafe question from ") + asker + ": " + (a.confirm ? "confirmed" : "refused") + " (" +
                     a.reason + ")");
  return a;
}

AutoFailover::Figures AutoFailover::figures() const {
  std::lock_guard l(mu_);
  Figures f;
  if (etcd_last_seen_)
    f.dcs_last_seen_seconds = seconds(std::chrono::duration_cast<milliseconds>(Clock::now() - *etcd_last_seen_));
  f.leader = holds_key_;
  f.takeover_refused = gate_refused_ && !holds_key_;
  if (holds_key_) f.lease_remaining_seconds = seconds(lease_.decide(Clock::now()).lease_remaining);
  return f;
}

nlohmann::json AutoFailover::status() const {
  auto f = figures();
  std::lock_guard l(mu_);
  nlohmann::json j{{"mode", "automatic"},
                   {"leader_key", store_.leader_key()},
                   {"holds_leader_key", f.leader},
                   {"lease_remaining_seconds", f.lease_remaining_seconds},
                   {"ttl_seconds", seconds(dcs_.ttl)},
                   {"decision", decision_},
                   {"takeover_refused", f.takeover_refused}};
  if (last_view_.leader_key == SecondaryView::LeaderKey::present) j["leader"] = last_view_.leader_node;
  if (f.leader) j["leader"] = name_;
  nlohmann::json dcs{{"healthy", etcd_last_error_.empty() && etcd_last_seen_.has_value()},
                     {"last_seen_seconds", f.dcs_last_seen_seconds}};
  if (!etcd_last_error_.empty()) {
    dcs["last_error"] = etcd_last_error_;
    dcs["last_error_kind"] = std::string(to_string(etcd_last_kind_));
  }
  j["dcs"] = dcs;
  if (!last_primary_.reason.empty()) j["writes"] = std::string(to_string(last_primary_.writes));
  return j;
}

}  // namespace tandem::core::dcs
