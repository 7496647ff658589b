// A real HAProxy (Debian's /usr/sbin/haproxy) in front of the pair, as an
// application's load balancer: one TCP frontend for PostgreSQL and one for
// the KV endpoint, each sending connections to whichever node answers 200 on
// tandemd's health check (`option httpchk` against /primary and
// /v1/stores/kv/primary, docs/http-api.md), with `on-marked-down
// shutdown-sessions` so no client stays on a node that stopped being primary.
// It runs where the applications do (the client namespace), on free ports.
#pragma once

#include <chrono>
#include <string>

#include "pair_world.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::e2e {

struct HealthCheckTiming {
  std::chrono::milliseconds inter{500};  // check interval
  int fall = 2;                          // failed checks before a server is down
  int rise = 1;                          // good checks before it is up
  std::string describe() const;          // "inter 500ms fall 2 rise 1"
};

class HaproxyFront {
 public:
  // Starts haproxy for `pair` (throws with its log when it does not come up).
  HaproxyFront(PairWorld& pair, HealthCheckTiming timing);
  ~HaproxyFront();
  HaproxyFront(const HaproxyFront&) = delete;
  HaproxyFront& operator=(const HaproxyFront&) = delete;

  // HAProxy as the application reaches it: the only address the client knows.
  LoadTarget target() const { return target_; }
  // Which node HAProxy currently considers up for PostgreSQL/KV (from its
  // stats socket): "alpha", "beta", "" (none) or "alpha,beta" (both).
  std::string up_servers(const std::string& backend) const;
  std::string log_tail(std::size_t bytes = 4000) const { return haproxy_.log_tail(bytes); }
  const HealthCheckTiming& timing() const { return timing_; }

 private:
  sdk::testing::TempDir dir_{"tandem-haproxy"};
  HealthCheckTiming timing_;
  LoadTarget target_;
  std::string netns_;
  sdk::ChildProcess haproxy_;
};

}  // namespace tandem::e2e
