// etcd's v3 API as tandem uses it for automatic failover: leases, one-key
// reads and transactions, over etcd's gRPC gateway (JSON over HTTP, bytes
// fields in base64) with the one HTTP client (sdk/net). No home-made
// protocol: every call is a documented etcd v3 RPC.
//
// Endpoints are members of one cluster. A call tries the member that last
// answered, then the others, until one answers or `retry_timeout` is spent;
// each attempt has its own `request_timeout`. What failed is told by
// classify(): every kind is a failure to reach a quorum and callers treat
// them alike (failsafe, issue 16), but status and logs say which.
//
// Blocking; one owner thread (the state of "which member answered last" is
// not locked).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tandem/sdk/net/tls.h"
#include "tandem/sdk/net/url.h"
#include "tandem/sdk/result.h"

namespace tandem::core::dcs {

// Why a call failed.
enum class EtcdErrorKind {
  none,             // not an etcd failure (a success, or an error from elsewhere)
  unreachable,      // no member accepted a connection
  timeout,          // a member accepted but did not answer in time (paused, overloaded, partitioned)
  no_leader,        // "etcdserver: no leader": a member answered but has no quorum
  lease_not_found,  // the lease expired or was revoked
  rejected,         // etcd answered with another error (auth, bad request, ...)
};
std::string_view to_string(EtcdErrorKind kind);
// The kind of a failed call of this client; `none` for any other Error.
EtcdErrorKind classify(const sdk::Error& error);

struct EtcdOptions {
  std::vector<sdk::net::Url> endpoints;  // http://host:2379 of each member
  std::chrono::milliseconds request_timeout{std::chrono::seconds(2)};
  std::chrono::milliseconds retry_timeout{std::chrono::seconds(5)};
  // Credentials for etcd's auth (empty: none). The password is the secret
  // itself, read from its file by the caller; it is never logged.
  std::string username;
  std::string password;
  // For https:// endpoints: whom to trust and the client certificate
  // (net::make_client_tls); null: the system's trust store, no certificate.
  std::shared_ptr<const sdk::net::TlsContext> tls;
};

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

// One condition of a transaction (etcd's Compare).
struct Compare {
  enum class Target { version, create_revision, mod_revision, value, lease };
  enum class Op { equal, not_equal, greater, less };
  std::string key;
  Target target = Target::version;
  Op op = Op::equal;
  std::int64_t number = 0;  // for version, revisions, lease
  std::string value;        // for Target::value
};

// One operation of a transaction (etcd's RequestOp, the kinds tandem needs).
struct TxnOp {
  enum class Kind { put, get, del };
  Kind kind = Kind::get;
  std::string key;
  std::string value;       // put
  std::int64_t lease = 0;  // put: bind the key to this lease (0: none)
};

struct TxnResult {
  bool succeeded = false;  // every compare held: the `success` ops ran, else the `failure` ops
  std::int64_t revision = 0;
  std::vector<std::optional<KeyValue>> gets;  // one per get op that ran, in order (nullopt: no such key)
};

struct Lease {
  std::int64_t id = 0;
  std::chrono::seconds ttl{0};  // as granted
};

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions options);

  sdk::Result<Lease> grant_lease(std::chrono::seconds ttl);
  // One keep-alive: the TTL the lease has again. lease_not_found when it has
  // expired or was revoked (then it cannot be revived: grant a new one).
  sdk::Result<std::chrono::seconds> keep_alive(std::int64_t lease_id);
  sdk::Status revoke_lease(std::int64_t lease_id);
  // Linearizable read of one key; nullopt when it does not exist.
  sdk::Result<std::optional<KeyValue>> get(const std::string& key);
  sdk::Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                             const std::vector<TxnOp>& failure = {});

  // "http://host:port" of the member that answered last ("" before any answer).
  std::string last_endpoint() const;

 private:
  // POST `target` with `body` to the members in turn; the parsed JSON answer
  // of the first that gives one, or the last failure.
  sdk::Result<std::string> call(const std::string& target, const std::string& body);
  // Trades username and password for a token (etcd's /v3/auth/authenticate).
  sdk::Status authenticate();

  EtcdOptions options_;
  std::size_t current_ = 0;
  bool answered_ = false;
  std::string auth_token_;
};

}  // namespace tandem::core::dcs
