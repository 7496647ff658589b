#include "endpoint.h"

#include <future>

#include <boost/asio/post.hpp>

#include "fence.h"
#include "reconcile.h"
#include "redis_sync_client.h"
#include "session.h"

namespace tandem::kv {

namespace asio = boost::asio;
using asio::ip::tcp;

Endpoint::Endpoint(const Settings& settings, Secrets secrets, sdk::HostContext& host, std::filesystem::path journal_dir,
                   PeerMode mode, std::uint64_t epoch)
    : settings_(settings),
      host_(host),
      journal_(journal_dir, settings.journal_fsync, settings.journal_max_size),
      intents_(journal_dir, settings.intent_fsync),
      acceptor_(io_),
      accept_fallback_(io_) {
  journal_.open();
  // A former primary restarted after the peer was promoted: its host may not
  // know yet (the peer poll lags); the new primary's marker on our Redis (or
  // the peer's, checked before reconciling to it) says so.
  try {
    RedisSyncClient local(settings_.local, settings_.db, settings_.connect_timeout);
    check_not_superseded(local, epoch, "local Redis " + settings_.local.describe());
  } catch (const SupersededError& e) {
    throw ReconcileError(e.what());
  } catch (const std::exception&) {
    // Unreachable now: the local link checks the marker before it carries anything.
  }
  if (!journal_.empty())
    host_.log().info("journal holds " + std::to_string(journal_.depth()) +
                     " writes not yet on the peer; replaying when it is reachable");
  // Writes a crashed predecessor left in flight: make them equal on both
  // servers before anything new is written (reconcile.h).
  auto pending = intents_.recover();
  if (!pending.empty()) {
    if (mode == PeerMode::detached) {
      host_.log().info("intent log: " + std::to_string(pending.writes) +
                       " writes were in flight at the last stop; detached mode, the peer is resynchronised in full");
    } else {
      ReconcileResult r;
      try {
        r = reconcile_intents(settings_, pending, journal_, writer_name(host_), epoch, host_);
      } catch (const SupersededError& e) {
        throw ReconcileError(e.what());
      } catch (const std::exception& e) {
        throw ReconcileError(std::string("cannot reconcile the writes in flight at the last stop (") + e.what() +
                             "); the endpoint starts once the local Redis answers");
      }
      host_.log().warn("reconciled after an unclean stop: " + std::to_string(pending.writes) +
                       " writes were in flight; copied " + std::to_string(r.keys) +
                       " keys from the local Redis to the peer" +
                       (r.journaled ? " (" + std::to_string(r.journaled) + " via the journal)" : std::string()) +
                       (r.errors ? ", " + std::to_string(r.errors) + " refused by the peer" : std::string()));
    }
  }
  intents_.start_fresh();
  dispatcher_ = std::make_unique<Dispatcher>(io_, settings_, secrets, host_, journal_, intents_, mode, epoch);
  boost::system::error_code ec;
  tcp::endpoint at(asio::ip::make_address(settings_.listen_address, ec),
                   static_cast<unsigned short>(settings_.listen_port));
  if (ec)
    throw std::runtime_error("listen_address '" + settings_.listen_address + "' is not an IP address: " + ec.message());
  acceptor_.open(at.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(at, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + settings_.listen_address + ":" +
                             std::to_string(settings_.listen_port) + ": " + ec.message());
  acceptor_.listen(asio::socket_base::max_listen_connections);
  // Connections wait in the listen backlog until both Redis links are up (or
  // connect_timeout passed): the first requests after a (re)start then find
  // their backends instead of failing.
  dispatcher_->start([this] {
    if (dispatcher_->links_up()) start_accepting();
  });
  accept_fallback_.expires_after(settings_.connect_timeout);
  accept_fallback_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) start_accepting();
  });
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        // A handler threw: log and keep serving the other clients.
        host_.log().error(std::string("endpoint handler failed: ") + e.what());
      }
    }
  });
}

Endpoint::~Endpoint() { stop(); }

void Endpoint::stop() {
  if (stopped_) return;
  stopped_ = true;
  std::promise<void> done;
  asio::post(io_, [&] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_fallback_.cancel();
    dispatcher_->stop();
    done.set_value();
  });
  done.get_future().wait_for(std::chrono::seconds(10));
  io_.stop();
  if (thread_.joinable()) thread_.join();
  // The closed sessions' and links' aborted operations are now ready but not
  // run; each holds its Session, whose destructor unregisters from the
  // dispatcher. Run them while the dispatcher exists: left queued, they would
  // be destroyed with io_, after the dispatcher (a use-after-free ASan found).
  io_.restart();
  io_.poll();
  journal_.close();
  intents_.close();
}

void Endpoint::start_accepting() {
  if (accepting_ || !acceptor_.is_open()) return;
  accepting_ = true;
  accept_fallback_.cancel();
  accept_next();
}

void Endpoint::accept_next() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      if (static_cast<std::int64_t>(dispatcher_->client_count()) >= settings_.max_clients) {
        static const char kFull[] = "-ERR max number of clients reached (max_clients)\r\n";
        boost::system::error_code ignored;
        socket.write_some(asio::buffer(kFull, sizeof(kFull) - 1), ignored);
      } else {
        std::make_shared<Session>(*dispatcher_, std::move(socket), next_session_id_++)->start();
      }
    }
    accept_next();
  });
}

template <class F>
auto Endpoint::run_on_io(F&& f) -> decltype(f()) {
  using R = decltype(f());
  std::packaged_task<R()> task(std::forward<F>(f));
  auto fut = task.get_future();
  asio::post(io_, [&task] { task(); });
  return fut.get();
}

bool Endpoint::pause_writes(std::chrono::milliseconds timeout) {
  auto applied = std::make_shared<std::promise<void>>();
  auto fut = applied->get_future();
  run_on_io([&] { dispatcher_->pause_writes([applied] { applied->set_value(); }); });
  return fut.wait_for(timeout) == std::future_status::ready;
}

void Endpoint::resume_writes() {
  run_on_io([&] { dispatcher_->resume_writes(); });
}

void Endpoint::set_mode(PeerMode mode) {
  run_on_io([&] { dispatcher_->set_mode(mode); });
}

void Endpoint::set_demoting(bool demoting) {
  run_on_io([&] { dispatcher_->set_demoting(demoting); });
}

std::vector<std::pair<std::string, std::string>> Endpoint::probe_keys(const std::vector<std::string>& keys,
                                                                      std::chrono::milliseconds timeout) {
  using Digests = std::vector<std::pair<std::string, std::string>>;
  // Shared with the probe's continuations: if a link drops them, the promise
  // is destroyed unset and the wait below ends with broken_promise.
  auto promise = std::make_shared<std::promise<Digests>>();
  auto fut = promise->get_future();
  asio::post(io_, [this, keys, promise]() mutable {
    dispatcher_->probe_keys(keys, [promise](Digests digests, std::string error) {
      if (error.empty())
        promise->set_value(std::move(digests));
      else
        promise->set_exception(std::make_exception_ptr(std::runtime_error(error)));
    });
    promise.reset();
  });
  if (fut.wait_for(timeout) != std::future_status::ready)
    throw std::runtime_error("no answer to the ordered compare within " + std::to_string(timeout.count()) + " ms");
  try {
    return fut.get();
  } catch (const std::future_error&) {
    throw std::runtime_error("a Redis link dropped during the ordered compare");
  }
}

bool Endpoint::wait_drained(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    run_on_io([&] { dispatcher_->refresh_stats(); });
    auto s = stats();
    if (s.ops_in_flight == 0 && s.journal_depth == 0 && !s.journaling) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace tandem::kv
