// Automatic failover's driver (issue 16): one thread that carries out what
// PrimaryLease / SecondaryWatch decide, with LeaderStore on etcd. It sees its
// node only through AutoFailoverNode, so the runtime wires it and tests can
// drive it.
//
//   primary:   claim the key at start, renew every ttl/3; past the fence
//              deadline without failsafe: self_fence() (persisted fencing, as
//              when the peer is seen at a higher epoch: `tandemctl rejoin`).
//   secondary: read the key every poll; when the rules allow, take the key
//              with the next epoch (one txn), then promote() (the same path as
//              `tandemctl promote`).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "config/failover_config.h"
#include "dcs/etcd_client.h"
#include "dcs/leader_lease.h"
#include "dcs/leader_store.h"
#include "tandem/sdk/host_context.h"

namespace tandem::core::dcs {

// What the driver needs of its node.
class AutoFailoverNode {
 public:
  virtual ~AutoFailoverNode() = default;
  struct Local {
    sdk::Role role = sdk::Role::secondary;
    std::uint64_t epoch = 0;
    bool fenced = false;
    bool paused = false;  // maintenance mode (tandemctl pause)
  };
  virtual Local local() const = 0;
  struct Peer {
    bool reachable = false;
    bool serving = false;  // an unfenced primary
    bool paused = false;
    std::uint64_t epoch = 0;
  };
  virtual Peer peer() const = 0;
  // Why a store may not be promoted by itself now (lag above `max_lag` bytes,
  // or the store's own takeover_refusal: e.g. PostgreSQL not synchronous to
  // this standby at the primary's last report); nullopt when every store passes.
  virtual std::optional<std::string> lag_refusal(std::uint64_t max_lag) const = 0;
  // Stop taking writes in every store, persisted (needs rejoin).
  virtual void self_fence(const std::string& reason) = 0;
  // prepare -> promote at `epoch` (the one taken on etcd with the key), as
  // `tandemctl promote`: the report.
  virtual nlohmann::json promote(std::uint64_t epoch) = 0;
  // The failsafe question to the peer, over the peer channel. Blocks until
  // the peer answers or `wait` passes; the answer's reason in `reason`.
  virtual sdk::Result<bool> ask_peer_failsafe(const std::string& asker, std::chrono::milliseconds wait,
                                              std::string& reason) = 0;
};

class AutoFailover {
 public:
  // etcd_tls: for https:// endpoints (host/tls_setup.h dcs_client_tls).
  AutoFailover(AutoFailoverNode& node, std::string node_name, const DcsConfig& dcs, const FailoverSettings& settings,
               std::string etcd_password, std::shared_ptr<const sdk::net::TlsContext> etcd_tls = nullptr);
  ~AutoFailover();  // stop()
  AutoFailover(const AutoFailover&) = delete;
  AutoFailover& operator=(const AutoFailover&) = delete;

  // Blocking, before the stores serve: etcd must answer (clear error
  // otherwise: tandemd does not start half-coordinated). A primary claims
  // the key; superseded or held by another node, it is fenced first.
  sdk::Status start();
  void stop();

  // A promote or switchover on this node, the orchestrator's step
  // "leader-key" (on the failover thread; in a switchover once the peer has
  // demoted): the leader key and etcd's epoch move to this node at
  // `new_epoch` in one transaction, whoever held the key (the old holder's
  // next renewal sees it moved and fences); a no-op when the key already
  // names this node at `new_epoch` (an automatic takeover took it). From then
  // on this node renews the lease while its stores are promoted. An error
  // (etcd unreachable, or its epoch already at or above `new_epoch`) fails the step.
  sdk::Status take_key(std::uint64_t new_epoch);
  // Whether take_key(new_epoch) could succeed now, by one read: etcd
  // answers, and its epoch is below new_epoch (or the key already names this
  // node there). A promote's and a switchover's precheck.
  sdk::Status key_could_move(std::uint64_t new_epoch);

  // The peer's failsafe question (POST /v1/internal/failsafe).
  SecondaryWatch::Answer answer_failsafe(const std::string& asker);

  // For /v1/status and tandemctl status: mode, leader, lease, DCS health, why.
  nlohmann::json status() const;
  struct Figures {
    double dcs_last_seen_seconds = -1;  // since etcd last answered; -1: never
    bool leader = false;                // this node holds the key now
    double lease_remaining_seconds = 0;
    bool takeover_refused = false;  // the secondary's last decision: a gate refused a takeover
  };
  Figures figures() const;

 private:
  void run();
  // The primary's fence deadline and failsafe asks, on their own thread:
  // never held up by an etcd call in progress on the main one.
  void guard();
  void fence_once(const std::string& reason);
  // A stale leader key (leader_lease.h PrimaryLease::stale_key): logs it
  // once, goes on as failsafe. Under mu_.
  void note_stale_key(Clock::time_point sent, const std::string& why);
  // start() found a stale key: asks the peer (blocking) and, confirmed,
  // goes on as failsafe; false (with the peer's answer) means fence.
  bool start_on_stale_key(Clock::time_point sent, const std::string& why, std::string& peer_said);
  void primary_tick(Clock::time_point now, const AutoFailoverNode::Local& local);
  void secondary_tick(Clock::time_point now, const AutoFailoverNode::Local& local);
  void ask_peer(Clock::time_point now, std::chrono::milliseconds wait);
  void etcd_answered();
  void etcd_failed(const sdk::Error& e);
  SecondaryView view_of_etcd();

  AutoFailoverNode& node_;
  std::string name_;
  DcsConfig dcs_;
  FailoverSettings settings_;
  LeaseTiming timing_;
  EtcdClient client_;
  LeaderStore store_;
  // One etcd call at a time: LeaderStore and EtcdClient have one owner, and
  // besides the driver's thread a switchover step calls from the failover thread.
  std::mutex etcd_mu_;

  mutable std::mutex mu_;  // everything below
  PrimaryLease lease_;
  SecondaryWatch watch_;
  SecondaryView last_view_;  // the last read of the key (what a failsafe answer is based on)
  std::optional<Clock::time_point> etcd_last_seen_;
  std::string etcd_last_error_;
  EtcdErrorKind etcd_last_kind_ = EtcdErrorKind::none;
  std::string decision_;  // the last decision's reason
  PrimaryDecision last_primary_;
  bool gate_refused_ = false;  // of the last secondary decision
  bool holds_key_ = false;
  Clock::time_point next_secondary_poll_{};

  std::thread thread_;
  std::thread guard_;
  std::mutex ask_mu_;  // ask_peer() from either thread
  std::mutex fence_mu_;
  std::thread asker_;
  std::atomic<bool> asking_{false};
  // A promote after a won takeover runs here, so that the lease is renewed
  // meanwhile (a promote waits for the unreachable peer, the stores...).
  std::thread promoter_;
  std::atomic<bool> promoting_{false};
  // take_key() moved the key here and the stores are being promoted: the
  // lease is renewed as a primary's until the role is primary (or fenced).
  std::atomic<bool> switching_{false};
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace tandem::core::dcs
