// The RESP endpoint applications connect to on the active node: a listener,
// its sessions and the dispatcher, on the endpoint's own io_context thread
// (never the host's loop, which serves the HTTP API).
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "dispatcher.h"
#include "intent_log.h"
#include "journal.h"
#include "settings.h"
#include "tandem/sdk/host_context.h"

namespace tandem::kv {

// The endpoint cannot start yet: the writes a crash left in flight could not
// be reconciled (the local Redis is unreachable). sync() retries.
struct ReconcileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Endpoint {
 public:
  // Opens the journal, reconciles the writes a crashed predecessor left in
  // flight (reconcile.h; throws ReconcileError when the local Redis cannot be
  // read for it) and binds the listener; throws std::runtime_error (e.g. port
  // in use) leaving nothing behind. `epoch` is this node's: a Redis carrying
  // a higher epoch marker (fence.h) means another node was promoted, and the
  // endpoint does not start (ReconcileError) or, found later by a link,
  // takes no more writes.
  Endpoint(const Settings& settings, Secrets secrets, sdk::HostContext& host, std::filesystem::path journal_dir,
           PeerMode mode, std::uint64_t epoch);
  ~Endpoint();  // stops
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  void stop();
  EndpointStats stats() const { return dispatcher_->stats(); }

  // Blocking controls for the plugin's threads (never the io thread).
  // Hold new writes and wait until every write already sent is applied locally.
  bool pause_writes(std::chrono::milliseconds timeout);
  void resume_writes();
  void set_mode(PeerMode mode);
  void set_demoting(bool demoting);
  // Digests of `keys` on (local, peer), read at the same point of the write
  // order (Dispatcher::probe_keys). Throws std::runtime_error when the pair is
  // not in plain dual writes or no answer came within `timeout`.
  std::vector<std::pair<std::string, std::string>> probe_keys(const std::vector<std::string>& keys,
                                                              std::chrono::milliseconds timeout);
  // Waits until no operation is in flight and the journal is empty.
  bool wait_drained(std::chrono::milliseconds timeout);

 private:
  void accept_next();
  void start_accepting();
  template <class F>
  auto run_on_io(F&& f) -> decltype(f());

  const Settings& settings_;
  sdk::HostContext& host_;
  boost::asio::io_context io_;  // first: destroyed last, after everything using it
  Journal journal_;
  IntentLog intents_;
  std::unique_ptr<Dispatcher> dispatcher_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::uint64_t next_session_id_ = 1;
  bool stopped_ = false;
  bool accepting_ = false;
  boost::asio::steady_timer accept_fallback_;
};

}  // namespace tandem::kv
