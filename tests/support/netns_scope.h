// Entering a network namespace from a test, one thread at a time.
//
// setns(CLONE_NEWNET) changes the namespace of the calling thread only. While a
// NetnsScope lives, every socket the thread opens (libpq, hiredis, plain
// connect) and every process it forks (tandemd, pg_ctl, redis-server: fork
// copies the forking thread's namespaces) belong to that namespace; sockets
// keep their namespace after the scope ends. This is what `ip netns exec`
// does for a command, without its private mount namespace, so a child can
// still switch user (PostgreSQL as 'postgres').
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tandem::testsupport {

class NetnsScope {
 public:
  // Enters the named namespace (/run/netns/NAME). An empty name stays where
  // the thread is (the loopback fallback). Throws std::runtime_error when the
  // namespace does not exist or setns is refused.
  explicit NetnsScope(const std::string& netns);
  ~NetnsScope();  // back to the namespace the thread was in
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  int saved_fd_ = -1;
};

// The processes whose network namespace is the named one (what `ip netns pids`
// prints), read from /proc. Empty when the namespace does not exist.
std::vector<pid_t> netns_pids(const std::string& netns);

}  // namespace tandem::testsupport
