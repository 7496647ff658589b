#include "dcs/etcd_client.h"

#include <thread>

#include <nlohmann/json.hpp>

#include "tandem/sdk/base64.h"
#include "tandem/sdk/net/http_client.h"

namespace tandem::core::dcs {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Each kind's message starts with its own prefix: written for the operator,
// and what classify() reads back, so the two cannot drift apart.
struct KindInfo {
  EtcdErrorKind kind;
  std::string_view prefix;
  sdk::ErrorCode code;
};
constexpr KindInfo kKinds[] = {
    {EtcdErrorKind::unreachable, "etcd unreachable: ", sdk::ErrorCode::unavailable},
    {EtcdErrorKind::timeout, "etcd timed out: ", sdk::ErrorCode::unavailable},
    {EtcdErrorKind::no_leader, "etcd has no leader: ", sdk::ErrorCode::unavailable},
    {EtcdErrorKind::lease_not_found, "etcd lease not found: ", sdk::ErrorCode::not_found},
    {EtcdErrorKind::rejected, "etcd refused the request: ", sdk::ErrorCode::failed},
};

sdk::Error make_error(EtcdErrorKind kind, const std::string& detail) {
  for (const auto& k : kKinds)
    if (k.kind == kind) return sdk::Error{std::string(k.prefix) + detail, k.code};
  return sdk::Error{detail, sdk::ErrorCode::internal};
}

// Of the members' failures in one call, the one that tells the most: a live
// member's "no leader" says the cluster lost its quorum, which two dead
// members' refused connects do not; a silent member says more than a dead one.
int telling(EtcdErrorKind kind) {
  switch (kind) {
    case EtcdErrorKind::no_leader: return 2;
    case EtcdErrorKind::timeout: return 1;
    default: return 0;
  }
}

// An attempt given less time than this says nothing by timing out.
constexpr std::chrono::milliseconds kShortestTellingAttempt{50};

void keep_most_telling(std::optional<sdk::Error>& kept, sdk::Error next) {
  if (!kept || telling(classify(next)) >= telling(classify(*kept))) kept = std::move(next);
}

// etcd's gateway writes 64-bit integers as JSON strings ("revision":"42").
std::int64_t int_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

std::string decoded(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return "";
  auto d = sdk::base64_decode(it->get<std::string>());
  return d ? *d : "";
}

KeyValue key_value(const json& kv) {
  KeyValue out;
  out.key = decoded(kv, "key");
  out.value = decoded(kv, "value");
  out.create_revision = int_field(kv, "create_revision");
  out.mod_revision = int_field(kv, "mod_revision");
  out.version = int_field(kv, "version");
  out.lease = int_field(kv, "lease");
  return out;
}

// The error text of a gateway answer, or "" when it is not an error. Unary
// calls answer {"error":"...","message":"...","code":N}; the streaming ones
// (keepalive) {"error":{"message":"...",...}}.
std::string error_text(const json& j) {
  auto it = j.find("error");
  if (it == j.end()) return "";
  if (it->is_object()) return it->value("message", std::string("unknown error"));
  if (it->is_string()) return j.value("message", it->get<std::string>());
  return "unknown error";
}

bool contains(const std::string& text, std::string_view what) { return text.find(what) != std::string::npos; }

std::string_view compare_target(Compare::Target t) {
  switch (t) {
    case Compare::Target::version: return "VERSION";
    case Compare::Target::create_revision: return "CREATE";
    case Compare::Target::mod_revision: return "MOD";
    case Compare::Target::value: return "VALUE";
    case Compare::Target::lease: return "LEASE";
  }
  return "VERSION";
}

std::string_view compare_op(Compare::Op op) {
  switch (op) {
    case Compare::Op::equal: return "EQUAL";
    case Compare::Op::not_equal: return "NOT_EQUAL";
    case Compare::Op::greater: return "GREATER";
    case Compare::Op::less: return "LESS";
  }
  return "EQUAL";
}

json compare_json(const Compare& c) {
  json j{{"key", sdk::base64_encode(c.key)}, {"target", compare_target(c.target)}, {"result", compare_op(c.op)}};
  switch (c.target) {
    case Compare::Target::version: j["version"] = std::to_string(c.number); break;
    case Compare::Target::create_revision: j["create_revision"] = std::to_string(c.number); break;
    case Compare::Target::mod_revision: j["mod_revision"] = std::to_string(c.number); break;
    case Compare::Target::value: j["value"] = sdk::base64_encode(c.value); break;
    case Compare::Target::lease: j["lease"] = std::to_string(c.number); break;
  }
  return j;
}

json op_json(const TxnOp& op) {
  switch (op.kind) {
    case TxnOp::Kind::put: {
      json put{{"key", sdk::base64_encode(op.key)}, {"value", sdk::base64_encode(op.value)}};
      if (op.lease != 0) put["lease"] = std::to_string(op.lease);
      return json{{"request_put", put}};
    }
    case TxnOp::Kind::get: return json{{"request_range", {{"key", sdk::base64_encode(op.key)}}}};
    case TxnOp::Kind::del: return json{{"request_delete_range", {{"key", sdk::base64_encode(op.key)}}}};
  }
  return json::object();
}

}  // namespace

std::string_view to_string(EtcdErrorKind kind) {
  switch (kind) {
    case EtcdErrorKind::none: return "none";
    case EtcdErrorKind::unreachable: return "unreachable";
    case EtcdErrorKind::timeout: return "timeout";
    case EtcdErrorKind::no_leader: return "no_leader";
    case EtcdErrorKind::lease_not_found: return "lease_not_found";
    case EtcdErrorKind::rejected: return "rejected";
  }
  return "none";
}

EtcdErrorKind classify(const sdk::Error& error) {
  for (const auto& k : kKinds)
    if (error.message.rfind(k.prefix, 0) == 0) return k.kind;
  return EtcdErrorKind::none;
}

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {}

std::string EtcdClient::last_endpoint() const {
  if (!answered_ || options_.endpoints.empty()) return "";
  return options_.endpoints[current_].to_string();
}

sdk::Status EtcdClient::authenticate() {
  json body{{"name", options_.username}, {"password", options_.password}};
  std::string saved = std::move(auth_token_);
  auth_token_.clear();
  auto answer = call("/v3/auth/authenticate", body.dump());
  if (!answer) {
    auth_token_ = std::move(saved);
    return answer.status();  // names /v3/auth/authenticate and etcd's reason, keeps the kind's prefix
  }
  auto j = json::parse(*answer, nullptr, false);
  auth_token_ = j.is_object() ? j.value("token", std::string()) : std::string();
  if (auth_token_.empty())
    return make_error(EtcdErrorKind::rejected, "etcd gave no token to '" + options_.username + "'");
  return {};
}

sdk::Result<std::string> EtcdClient::call(const std::string& target, const std::string& body) {
  if (options_.endpoints.empty()) return make_error(EtcdErrorKind::unreachable, "no endpoints configured");
  const bool authenticating = target == "/v3/auth/authenticate";
  const auto deadline = Clock::now() + options_.retry_timeout;
  if (!options_.username.empty() && auth_token_.empty() && !authenticating) TANDEM_TRY(authenticate());

  std::optional<sdk::Error> last;
  auto give_up = [&] {
    return last ? *last
                : make_error(EtcdErrorKind::timeout,
                             "no member answered within " + std::to_string(options_.retry_timeout.count()) + " ms");
  };
  bool reauthenticated = false;
  for (std::size_t attempt = 0;; ++attempt) {
    auto now = Clock::now();
    if (now >= deadline && attempt > 0) return give_up();
    // After a full round over the members, pause briefly: a cluster electing
    // a leader needs a moment, and a tight loop would only add load.
    if (attempt > 0 && attempt % options_.endpoints.size() == 0)
      std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(100), deadline - now));
    now = Clock::now();
    if (now >= deadline && attempt > 0) return give_up();
    const std::size_t index = (current_ + attempt) % options_.endpoints.size();
    const auto& endpoint = options_.endpoints[index];
    auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    // A few ms cannot tell silence from a slow machine: an attempt that
    // short would only replace a telling error ("the server's certificate
    // is refused") with "no answer within 2 ms".
    if (last && budget < kShortestTellingAttempt) return give_up();
    sdk::net::Request req;
    req.method = "POST";
    req.target = target;
    req.body = body;
    req.timeout = std::max(std::chrono::milliseconds(1), std::min(options_.request_timeout, budget));
    req.max_response_bytes = 1u << 20;
    req.tls = options_.tls;
    if (!auth_token_.empty() && !authenticating) req.headers["Authorization"] = auth_token_;
    // clientv3's WithRequireLeader, as gRPC metadata through the gateway: a
    // member that has lost its leader answers "no leader" at once instead of
    // holding the request until etcd's own 7 s request timeout.
    req.headers["Grpc-Metadata-hasleader"] = "true";
    const auto started = Clock::now();
    auto response = sdk::net::request(endpoint, req);
    if (!response) {
      // The client says no answer either way; the clock says whether the
      // member took the connection and then stayed silent.
      // A refused or unroutable connect ("cannot connect to host:port: ...")
      // or a refused TLS handshake (a wrong CA: say that, not "timed out") is
      // unreachable however long it took (a loaded machine); so is anything
      // on a last attempt with only a few ms of budget left, where silence
      // tells nothing.
      bool refused = response.message().find("cannot connect to ") != std::string::npos ||
                     response.message().find("TLS handshake failed") != std::string::npos;
      bool timed_out = !refused && req.timeout >= kShortestTellingAttempt &&
                       Clock::now() - started >= req.timeout - std::chrono::milliseconds(5);
      keep_most_telling(
          last, make_error(timed_out ? EtcdErrorKind::timeout : EtcdErrorKind::unreachable, response.message()));
      continue;
    }
    auto j = json::parse(response->body, nullptr, false);
    std::string error = j.is_object() ? error_text(j) : "not JSON: HTTP " + std::to_string(response->status);
    if (error.empty() && response->status != 200) error = "HTTP " + std::to_string(response->status);
    if (error.empty()) {
      current_ = index;
      answered_ = true;
      // A streaming RPC (keepalive) wraps its one message in "result".
      if (j.contains("result") && j["result"].is_object()) return j["result"].dump();
      return response->body;
    }
    const std::string where = endpoint.to_string() + target + ": " + error;
    if (contains(error, "no leader") || contains(error, "leader changed")) {
      keep_most_telling(last, make_error(EtcdErrorKind::no_leader, where));
      continue;
    }
    if (contains(error, "timed out")) {  // "etcdserver: request timed out": no quorum in time
      keep_most_telling(last, make_error(EtcdErrorKind::timeout, where));
      continue;
    }
    if (contains(error, "lease not found")) return make_error(EtcdErrorKind::lease_not_found, where);
    if (contains(error, "invalid auth token") && !authenticating && !options_.username.empty() && !reauthenticated) {
      reauthenticated = true;  // tokens expire (etcd's simple tokens after 5 minutes idle): get a new one, once
      TANDEM_TRY(authenticate());
      --attempt;
      continue;
    }
    return make_error(EtcdErrorKind::rejected, where);
  }
}

sdk::Result<Lease> EtcdClient::grant_lease(std::chrono::seconds ttl) {
  auto answer = call("/v3/lease/grant", json{{"TTL", std::to_string(ttl.count())}}.dump());
  TANDEM_TRY(answer);
  auto j = json::parse(*answer, nullptr, false);
  Lease lease{int_field(j, "ID"), std::chrono::seconds(int_field(j, "TTL"))};
  if (lease.id == 0) return make_error(EtcdErrorKind::rejected, "lease grant answered without an ID: " + *answer);
  return lease;
}

sdk::Result<std::chrono::seconds> EtcdClient::keep_alive(std::int64_t lease_id) {
  auto answer = call("/v3/lease/keepalive", json{{"ID", std::to_string(lease_id)}}.dump());
  TANDEM_TRY(answer);
  auto j = json::parse(*answer, nullptr, false);
  // An expired lease is answered without a TTL (0), not with an error.
  auto ttl = int_field(j, "TTL");
  if (ttl <= 0) return make_error(EtcdErrorKind::lease_not_found, "lease " + std::to_string(lease_id) + " has expired");
  return std::chrono::seconds(ttl);
}

sdk::Status EtcdClient::revoke_lease(std::int64_t lease_id) {
  return call("/v3/lease/revoke", json{{"ID", std::to_string(lease_id)}}.dump()).status();
}

sdk::Result<std::optional<KeyValue>> EtcdClient::get(const std::string& key) {
  auto answer = call("/v3/kv/range", json{{"key", sdk::base64_encode(key)}}.dump());
  TANDEM_TRY(answer);
  auto j = json::parse(*answer, nullptr, false);
  auto kvs = j.find("kvs");
  if (kvs == j.end() || !kvs->is_array() || kvs->empty()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(key_value(kvs->front()));
}

sdk::Result<TxnResult> EtcdClient::txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                                       const std::vector<TxnOp>& failure) {
  json body{{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : compares) body["compare"].push_back(compare_json(c));
  for (const auto& op : success) body["success"].push_back(op_json(op));
  for (const auto& op : failure) body["failure"].push_back(op_json(op));
  auto answer = call("/v3/kv/txn", body.dump());
  TANDEM_TRY(answer);
  auto j = json::parse(*answer, nullptr, false);
  TxnResult out;
  out.succeeded = j.value("succeeded", false);
  if (auto h = j.find("header"); h != j.end() && h->is_object()) out.revision = int_field(*h, "revision");
  if (auto rs = j.find("responses"); rs != j.end() && rs->is_array())
    for (const auto& r : *rs) {
      auto range = r.find("response_range");
      if (range == r.end()) continue;
      auto kvs = range->find("kvs");
      if (kvs != range->end() && kvs->is_array() && !kvs->empty())
        out.gets.emplace_back(key_value(kvs->front()));
      else
        out.gets.emplace_back(std::nullopt);
    }
  return out;
}

}  // namespace tandem::core::dcs
