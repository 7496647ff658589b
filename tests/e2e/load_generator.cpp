#include "load_generator.h"

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>

#include "support/netns_scope.h"
#include "support/redis_server.h"

namespace tandem::e2e {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPause = std::chrono::milliseconds(3);        // between writes: a steady, modest load
constexpr auto kRetryPause = std::chrono::milliseconds(50);  // after a failed attempt
const std::string kPayload(64, 'p');

struct PgDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgPtr = std::unique_ptr<PGconn, PgDeleter>;
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

PgPtr pg_connect(const std::string& netns, const std::string& host, int port) {
  // statement_timeout: a commit that waits for a standby that is gone must
  // not hold the writer forever (it counts as failed, never as acknowledged).
  // tcp_user_timeout: a partitioned server must not hold it for the kernel's
  // retransmission minutes either.
  const std::string conninfo = "host=" + host + " port=" + std::to_string(port) +
                               " user=postgres dbname=postgres connect_timeout=2 tcp_user_timeout=10000"
                               " options='-c statement_timeout=10000'";
  testsupport::NetnsScope in(netns);
  PgPtr c(PQconnectdb(conninfo.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error("connect to PostgreSQL at " + host + ":" + std::to_string(port) + ": " +
                             (c ? PQerrorMessage(c.get()) : "out of memory"));
  return c;
}

PgPtr pg_connect(const LoadTarget& t) { return pg_connect(t.netns, t.host, t.pg_port); }

// A RESP connection (a Redis, or tandem's KV endpoint) made from inside `netns`.
std::unique_ptr<testsupport::RedisClient> resp_connect(const std::string& netns, const std::string& host, int port,
                                                       std::chrono::milliseconds timeout) {
  testsupport::NetnsScope in(netns);
  return std::make_unique<testsupport::RedisClient>(host, port, timeout);
}

bool same_node(const LoadTarget& a, const LoadTarget& b) {
  return a.netns == b.netns && a.host == b.host && a.pg_port == b.pg_port && a.kv_port == b.kv_port;
}

}  // namespace

LoadGenerator::LoadGenerator(LoadTarget target) : target_(target) {
  pg_thread_ = std::thread([this] { run_pg(); });
  kv_thread_ = std::thread([this] { run_kv(); });
}

LoadGenerator::~LoadGenerator() { stop(); }

void LoadGenerator::stop() {
  stop_ = true;
  if (pg_thread_.joinable()) pg_thread_.join();
  if (kv_thread_.joinable()) kv_thread_.join();
}

void LoadGenerator::retarget(LoadTarget target) {
  std::lock_guard l(mu_);
  target_ = target;
}

LoadTarget LoadGenerator::target() const {
  std::lock_guard l(mu_);
  return target_;
}

template <class Attempt>
void LoadGenerator::run_writer(Attempt attempt, Writer& w) {
  for (std::int64_t id = 1; !stop_; ++id) {
    try {
      std::string host = attempt(id);  // throws unless the write was acknowledged
      const auto at = Clock::now();
      std::lock_guard l(mu_);
      w.acked.push_back({id, std::move(host), at});
    } catch (const std::exception& e) {
      ++w.failures;
      {
        std::lock_guard l(mu_);
        w.error = e.what();
      }
      std::this_thread::sleep_for(kRetryPause);
      continue;
    }
    std::this_thread::sleep_for(kPause);
  }
}

void LoadGenerator::run_pg() {
  PgPtr conn;
  LoadTarget conn_target;
  run_writer(
      [&](std::int64_t id) {
        const LoadTarget t = target();
        if (!conn || !same_node(conn_target, t) || PQstatus(conn.get()) != CONNECTION_OK) {
          conn.reset();
          conn = pg_connect(t);
          conn_target = t;
        }
        const std::string id_text = std::to_string(id);
        const char* values[] = {id_text.c_str(), kPayload.c_str()};
        ResultPtr r(PQexecParams(conn.get(), "INSERT INTO load_events(id, payload) VALUES ($1::bigint, $2)", 2, nullptr,
                                 values, nullptr, nullptr, 0));
        if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
          std::string why = r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn.get());
          conn.reset();  // reconnect next time: the server may have gone away
          throw std::runtime_error("INSERT: " + why);
        }
        return t.host;
      },
      pg_);
}

void LoadGenerator::run_kv() {
  std::unique_ptr<testsupport::RedisClient> conn;
  LoadTarget conn_target;
  run_writer(
      [&](std::int64_t id) {
        const LoadTarget t = target();
        if (!conn || !same_node(conn_target, t) || !conn->connected()) {
          conn.reset();
          conn = resp_connect(t.netns, t.host, t.kv_port, std::chrono::seconds(5));
          conn_target = t;
        }
        testsupport::RedisValue reply;
        try {
          reply = conn->command({"SET", "load:" + std::to_string(id), std::to_string(id)});
        } catch (...) {
          conn.reset();
          throw;
        }
        if (reply.type != testsupport::RedisValue::Type::status || reply.str != "OK") {
          conn.reset();
          throw std::runtime_error("SET: " + reply.describe());
        }
        return t.host;
      },
      kv_);
}

namespace {
std::vector<std::int64_t> ids_of(const std::vector<Ack>& acks) {
  std::vector<std::int64_t> ids;
  ids.reserve(acks.size());
  for (const auto& a : acks) ids.push_back(a.id);
  return ids;
}
}  // namespace

std::vector<std::int64_t> LoadGenerator::pg_acked() const {
  std::lock_guard l(mu_);
  return ids_of(pg_.acked);
}

std::vector<std::int64_t> LoadGenerator::kv_acked() const {
  std::lock_guard l(mu_);
  return ids_of(kv_.acked);
}

std::vector<Ack> LoadGenerator::pg_history() const {
  std::lock_guard l(mu_);
  return pg_.acked;
}

std::vector<Ack> LoadGenerator::kv_history() const {
  std::lock_guard l(mu_);
  return kv_.acked;
}

std::string LoadGenerator::last_errors() const {
  std::lock_guard l(mu_);
  return "last PostgreSQL error: " + (pg_.error.empty() ? "none" : pg_.error) +
         "; last KV error: " + (kv_.error.empty() ? "none" : kv_.error);
}

WritableProbe::WritableProbe(LoadTarget old_primary, LoadTarget new_primary) {
  threads_[0] = std::thread([this, old_primary] { run_pg(0, old_primary); });
  threads_[1] = std::thread([this, new_primary] { run_pg(1, new_primary); });
  threads_[2] = std::thread([this, old_primary] { run_kv(0, old_primary); });
  threads_[3] = std::thread([this, new_primary] { run_kv(1, new_primary); });
}

WritableProbe::~WritableProbe() { stop(); }

void WritableProbe::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void WritableProbe::run_pg(int node, LoadTarget target) {
  PgPtr pg;
  while (!stop_) {
    try {
      if (!pg || PQstatus(pg.get()) != CONNECTION_OK) pg = pg_connect(target);
      ResultPtr r(PQexec(pg.get(), "INSERT INTO probe_events(node) VALUES ('probe')"));
      if (r && PQresultStatus(r.get()) == PGRES_COMMAND_OK) {
        std::lock_guard l(mu_);
        acks_[node].pg.push_back(Clock::now());
      } else {
        pg.reset();
      }
    } catch (const std::exception&) {
      pg.reset();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void WritableProbe::run_kv(int node, LoadTarget target) {
  std::unique_ptr<testsupport::RedisClient> kv;
  for (std::int64_t n = 1; !stop_; ++n) {
    try {
      if (!kv || !kv->connected())
        kv = resp_connect(target.netns, target.host, target.kv_port, std::chrono::seconds(2));
      auto reply = kv->command({"SET", "probe:" + std::to_string(node) + ":" + std::to_string(n), "1"});
      if (reply.type == testsupport::RedisValue::Type::status && reply.str == "OK") {
        std::lock_guard l(mu_);
        acks_[node].kv.push_back(Clock::now());
      }
    } catch (const std::exception&) {
      kv.reset();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

WritableProbe::Overlap WritableProbe::overlap(const std::vector<Clock::time_point>& old_acks,
                                              const std::vector<Clock::time_point>& new_acks) {
  Overlap o;
  if (new_acks.empty()) return o;
  o.new_took_writes = true;
  const auto first_new = *std::min_element(new_acks.begin(), new_acks.end());
  for (auto t : old_acks)
    if (t > first_new) o.ms = std::max(o.ms, std::chrono::duration<double, std::milli>(t - first_new).count());
  return o;
}

WritableProbe::Overlap WritableProbe::pg_overlap() const {
  std::lock_guard l(mu_);
  return overlap(acks_[0].pg, acks_[1].pg);
}

WritableProbe::Overlap WritableProbe::kv_overlap() const {
  std::lock_guard l(mu_);
  return overlap(acks_[0].kv, acks_[1].kv);
}

std::vector<WritableProbe::Clock::time_point> WritableProbe::pg_acks(int node) const {
  std::lock_guard l(mu_);
  return acks_[node].pg;
}

std::vector<WritableProbe::Clock::time_point> WritableProbe::kv_acks(int node) const {
  std::lock_guard l(mu_);
  return acks_[node].kv;
}

std::vector<std::int64_t> pg_ids(const std::string& netns, const std::string& host, int port) {
  PgPtr conn = pg_connect(netns, host, port);
  ResultPtr r(PQexec(conn.get(), "SELECT id FROM load_events ORDER BY id"));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
    throw std::runtime_error(std::string("SELECT id FROM load_events: ") + PQerrorMessage(conn.get()));
  std::vector<std::int64_t> ids;
  ids.reserve(static_cast<std::size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) ids.push_back(std::stoll(PQgetvalue(r.get(), i, 0)));
  return ids;
}

std::vector<std::int64_t> missing_kv_keys(const std::string& netns, const std::string& host, int redis_port,
                                          const std::vector<std::int64_t>& ids) {
  auto conn = resp_connect(netns, host, redis_port, std::chrono::seconds(30));
  testsupport::RedisClient& client = *conn;
  std::vector<std::int64_t> missing;
  constexpr std::size_t kChunk = 1000;
  for (std::size_t from = 0; from < ids.size(); from += kChunk) {
    std::vector<std::vector<std::string>> commands;
    const std::size_t to = std::min(ids.size(), from + kChunk);
    for (std::size_t i = from; i < to; ++i) commands.push_back({"GET", "load:" + std::to_string(ids[i])});
    auto replies = client.pipeline(commands);
    for (std::size_t i = from; i < to; ++i) {
      const auto& r = replies.at(i - from);
      if (r.type != testsupport::RedisValue::Type::string || r.str != std::to_string(ids[i])) missing.push_back(ids[i]);
    }
  }
  return missing;
}

std::vector<std::int64_t> missing_from(std::vector<std::int64_t> want, std::vector<std::int64_t> have) {
  std::sort(want.begin(), want.end());
  std::sort(have.begin(), have.end());
  std::vector<std::int64_t> out;
  std::set_difference(want.begin(), want.end(), have.begin(), have.end(), std::back_inserter(out));
  return out;
}

std::string describe_missing(const std::vector<std::int64_t>& missing) {
  std::string s = std::to_string(missing.size()) + " missing";
  for (std::size_t i = 0; i < missing.size() && i < 20; ++i) s += (i ? ", " : ": ") + std::to_string(missing[i]);
  if (missing.size() > 20) s += ", ...";
  return s;
}

}  // namespace tandem::e2e
