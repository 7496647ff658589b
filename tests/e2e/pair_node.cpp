#include "pair_node.h"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "load_generator.h"
#include "support/netns_scope.h"
#include "support/test_http.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/net/http_client.h"

namespace tandem::e2e {
namespace fs = std::filesystem;
using testsupport::PostgresServer;
namespace sdkt = sdk::testing;

namespace {

constexpr const char* kReplicationUser = "replicator";

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail(const std::string& text, std::size_t bytes) {
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }
std::string quoted(const fs::path& p) { return quoted(p.string()); }
std::string quoted(const char* s) { return quoted(std::string(s)); }

}  // namespace

std::string health_status(const nlohmann::json& store) {
  if (!store.is_object()) return "absent";
  return store.value("health", nlohmann::json::object()).value("status", "?");
}

nlohmann::json details(const nlohmann::json& store) {
  return store.is_object() ? store.value("health", nlohmann::json::object()).value("details", nlohmann::json::object())
                           : nlohmann::json::object();
}

std::string summarize(const std::string& name, const nlohmann::json& status) {
  using json = nlohmann::json;
  if (status.is_null()) return name + ": not answering\n";
  std::string out = name + ": role " + status.value("role", "?") + " epoch " +
                    std::to_string(status.value("epoch", 0)) + (status.value("fenced", false) ? " FENCED" : "") +
                    ", peer reachable " +
                    (status.value("peer", json::object()).value("reachable", false) ? "yes" : "no") + "\n";
  for (const auto& s : status.value("stores", json::array()))
    out += "  " + s.value("name", "?") + ": " + health_status(s) + " - " +
           s.value("health", json::object()).value("summary", "") + "\n";
  return out;
}

bool pair_in_sync(const PairNode& primary, const PairNode& standby, std::string& why) {
  using json = nlohmann::json;
  json p = primary.status(), s = standby.status();
  why = summarize(primary.name(), p) + summarize(standby.name(), s);
  if (p.is_null() || s.is_null()) return false;
  if (p.value("role", "") != "primary" || p.value("fenced", true)) return false;
  if (s.value("role", "") != "secondary" || s.value("fenced", true)) return false;
  json pg = primary.store(p, kPgStore);
  if (health_status(pg) != "ok") return false;
  if (details(pg).value("synchronous", json::object()).value("in_effect", "") != "synchronous") return false;
  if (health_status(standby.store(s, kPgStore)) != "ok") return false;
  json kv = details(primary.store(p, kKvStore));
  if (!kv.value("peer_up", false) || kv.value("journaling", true) || kv.value("journal_depth", 1) != 0 ||
      kv.value("peer_mode", "") == "detached")
    return false;
  if (health_status(standby.store(s, kConfigStore)) != "ok") return false;
  if (details(primary.store(p, kSearchStore)).value("rebuilding", true)) return false;
  return !primary.alias_targets(kSearchAlias).empty();
}

bool wait_for(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return predicate();
}

PairNode::PairNode(std::string name, bool initial_primary, const fs::path& secrets, NodeTls tls, NodeHost host)
    : name_(std::move(name)),
      initial_primary_(initial_primary),
      host_(std::move(host)),
      dir_("tandem-e2e-" + name_),
      secrets_(secrets),
      tls_(std::move(tls)) {
  auto client_tls = sdk::net::make_client_tls({tls_.ca, tls_.cert, tls_.key});
  if (!client_tls) throw std::runtime_error(name_ + ": " + client_tls.message());
  client_tls_ = *client_tls;
  // A host of its own has every port free: the well-known ones, the same on both nodes.
  const bool own_host = !host_.on_loopback();
  ports_.api = own_host ? 7480 : sdkt::free_port();
  ports_.kv_endpoint = own_host ? 7379 : sdkt::free_port();
  ports_.rsync_serve = own_host ? 873 : sdkt::free_port();
  ports_.es = own_host ? 9200 : sdkt::free_port();

  testsupport::PostgresOptions pg;
  // The replication role authenticates with its password file, as in production.
  pg.hba_prepend = {"host replication replicator 127.0.0.1/32 scram-sha-256"};
  if (own_host) pg.hba_prepend.push_back("host replication replicator " + host_.network + " scram-sha-256");
  // pg_rewind of a former primary that went on alone (a partition and
  // promote --force) needs its WAL back to the last checkpoint before the
  // fork; the fence's shutdown checkpoint would recycle it (postgres-wal README).
  pg.extra_conf = {"wal_keep_size = '256MB'"};
  pg.init = initial_primary;
  pg.start = initial_primary;
  pg.netns = host_.netns;
  pg.address = host_.address;
  pg.trusted_network = host_.network;
  if (own_host) pg.port = 5432;
  pg_ = std::make_unique<PostgresServer>(pg);
  if (initial_primary) {
    pg_->psql("CREATE ROLE " + std::string(kReplicationUser) + " WITH REPLICATION LOGIN PASSWORD '" +
              sdk::read_secret_file(secrets_ / "replication.pw") + "'; CREATE TABLE " + kLoadTable +
              " (id bigint PRIMARY KEY, payload text NOT NULL); "
              "CREATE TABLE probe_events (id bigserial PRIMARY KEY, node text NOT NULL)");
  }

  testsupport::RedisServerOptions redis;
  redis.appendonly = true;  // appendfsync always: a restarted Redis has what it acknowledged
  redis.netns = host_.netns;
  redis.bind = host_.address;
  if (own_host) redis.port = 6379;
  redis_ = std::make_unique<testsupport::RedisServer>(redis);

  // The search cluster is local to each node (loopback of its host).
  es_spec_.argv = {TANDEM_ES_STANDIN_BINARY, "--port", std::to_string(ports_.es)};
  es_spec_.log_file = dir_.path() / "es-standin.log";
  restart_es();

  fs::create_directories(config_tree());
  sdk::atomic_write_file(config_tree() / "app.conf", "# " + name_ + "'s initial copy\n", 0644);
  sdk::atomic_write_file(dir_.path() / "api-token", "e2e-token-" + name_ + "\n", 0600);
}

PairNode::~PairNode() {
  tandemd_.stop(std::chrono::seconds(30));
  // PostgreSQL and Redis stop in their own destructors. config-rsync's rsync
  // daemon stops with its store, unless a killed tandemd left it orphaned.
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir_.path() / "data", ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != "rsyncd.pid") continue;
    long pid = 0;
    std::ifstream(it->path()) >> pid;
    // Only if that pid still runs rsync with our config (pids get reused).
    std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (pid > 1 && args.find("rsync") != std::string::npos && args.find(dir_.path().string()) != std::string::npos)
      ::kill(static_cast<pid_t>(pid), SIGKILL);
  }
}

void PairNode::write_config(const PairNode& peer, const NodeConfigOptions& options) {
  const auto& p = pg_->data_dir();
  std::ostringstream t;
  const std::string& own = host_.address;
  const std::string& other = peer.host_.address;
  t << "[node]\nname = " << quoted(name_) << "\naddress = " << quoted(own) << "\n"
    << "role = " << quoted(initial_primary_ ? "primary" : "secondary") << "\n"
    << "data_dir = " << quoted(dir_.path() / "data") << "\n\n"
    << "[peer]\nname = " << quoted(peer.name_) << "\naddress = " << quoted(other) << "\n"
    << "api_url = " << quoted("https://" + other + ":" + std::to_string(peer.ports_.api)) << "\n"
    << "token_file = " << quoted(peer.dir_.path() / "api-token")
    << "\n"
    // The peer's certificate must chain to the CA and name its address; this
    // node presents its own, which the peer's API requires (mutual TLS).
    << "ca_file = " << quoted(tls_.ca) << "\ntls_cert_file = " << quoted(tls_.cert)
    << "\ntls_key_file = " << quoted(tls_.key) << "\n\n"
    << "[api]\nlisten = " << quoted(own + ":" + std::to_string(ports_.api))
    << "\ntoken_file = " << quoted(dir_.path() / "api-token") << "\ntls_cert_file = " << quoted(tls_.cert)
    << "\ntls_key_file = " << quoted(tls_.key) << "\ntls_client_ca_file = " << quoted(tls_.ca)
    << "\n\n[plugins]\nsearch_dirs = [" << quoted(TANDEM_PLUGIN_DIR) << "]\n\n";

  t << "[stores." << kConfigStore << "]\nplugin = \"config-rsync\"\n"
    << "remote = \"rsync://{peer}:" << peer.ports_.rsync_serve << "\"\n"
    << "serve_port = " << ports_.rsync_serve << "\nserve_address = " << quoted(own) << "\n"
    << "allowed_root = " << quoted(dir_.path() / "etc")
    << "\ndelete = true\nsync_interval = " << quoted(options.config_sync_interval)
    << "\ntimeout = " << quoted(options.config_timeout) << "\n"
    << "[[stores." << kConfigStore << ".paths]]\nname = \"app\"\npath = " << quoted(config_tree()) << "\n\n";

  t << "[stores." << kPgStore << "]\nplugin = \"postgres-wal\"\n"
    << "data_dir = " << quoted(p) << "\nbin_dir = " << quoted(PostgresServer::bin_dir()) << "\n"
    << "port = " << pg_->port() << "\npeer_host = " << quoted(other) << "\npeer_port = " << peer.pg_->port() << "\n"
    << "replication_user = " << quoted(kReplicationUser) << "\n"
    << "replication_password_file = " << quoted(secrets_ / "replication.pw") << "\n"
    << "slot_name = \"tandem_standby\"\n"
    // Zero loss on an unplanned failover: a commit is acknowledged only once
    // the standby flushed it; a lost standby degrades to async after 2 s.
    << (options.pg_synchronous ? "synchronous = true\non_standby_loss = \"degrade\"\nstandby_loss_timeout = \"2s\"\n"
                               : "synchronous = false\n")
    << "promote_timeout = \"60s\"\npostgres_options = " << quoted("-k " + pg_->root_dir().string()) << "\n\n";

  t << "[stores." << kKvStore << "]\nplugin = \"kvstore-dualwrite\"\n"
    << "listen_address = " << quoted(own) << "\nlisten_port = " << ports_.kv_endpoint << "\n"
    << "local_port = " << redis_->port() << "\npeer_host = " << quoted(other) << "\npeer_port = " << peer.redis_->port()
    << "\n"
    << "peer_down = \"journal\"\njournal_dir = " << quoted(dir_.path() / "kv-journal") << "\n\n";

  t << "[stores." << kSearchStore << "]\nplugin = \"elasticsearch-rebuild\"\n"
    << "urls = [\"http://127.0.0.1:" << ports_.es << "\"]\n"
    << "source = "
    << quoted("host=127.0.0.1 port=" + std::to_string(pg_->port()) + " dbname=postgres user=postgres connect_timeout=3")
    << "\nsync_interval = \"2s\"\n"
    << "[[stores." << kSearchStore << ".indices]]\nalias = " << quoted(kSearchAlias) << "\n"
    << "query = " << quoted("SELECT id, payload FROM " + std::string(kLoadTable)) << "\n"
    << "id_column = \"id\"\nmapping_file = " << quoted(secrets_ / "events-mapping.json") << "\nkeep_old = 1\n";
  t << "\n" << options.extra_toml;
  sdk::atomic_write_file(config_file(), t.str(), 0644);
}

void PairNode::start_daemon(const std::map<std::string, std::string>& env) {
  sdk::ChildSpec spec;
  spec.argv = {TANDEMD_BINARY, "--config", config_file().string()};
  spec.env = env;
  spec.log_file = dir_.path() / "tandemd.log";
  ++daemon_starts_;
  {
    std::ofstream log(*spec.log_file, std::ios::app);
    log << "==== e2e: tandemd start #" << daemon_starts_ << " ====\n";
  }
  {
    testsupport::NetnsScope in(host_.netns);  // tandemd and all it runs live on the node's host
    tandemd_ = testsupport::start_background(spec);
  }
  if (!wait_for([&] { return !status().is_null() || !tandemd_.running(); }, std::chrono::seconds(60)) ||
      status().is_null())
    throw std::runtime_error(name_ + "'s tandemd did not answer /v1/status:\n" + log_tail());
}

void PairNode::kill_daemon() { tandemd_.kill(); }
void PairNode::stop_daemon() { tandemd_.stop(std::chrono::seconds(30)); }
bool PairNode::daemon_running() { return tandemd_.running(); }

sdk::ProcessResult PairNode::ctl(const std::vector<std::string>& args, bool json,
                                 std::chrono::milliseconds timeout) const {
  sdk::ProcessSpec spec;
  spec.argv = {TANDEMCTL_BINARY, "--config", config_file().string()};
  if (json) spec.argv.push_back("--json");
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = {{"TANDEM_CONFIG", ""}, {"TANDEM_PLUGIN_PATH", ""}};
  spec.timeout = timeout;
  testsupport::NetnsScope in(host_.netns);  // run on the node, as an operator would
  auto r = sdk::run_process(spec);
  if (!r.ok()) throw std::runtime_error("cannot run tandemctl: " + r.message());
  return *r;
}

nlohmann::json PairNode::api_json(const std::string& target, std::chrono::milliseconds timeout) const {
  sdk::net::Request req;
  req.target = target;
  req.timeout = timeout;
  req.tls = client_tls_;
  const sdk::net::Url url{sdk::net::Scheme::https, host_.address, static_cast<std::uint16_t>(ports_.api), ""};
  testsupport::NetnsScope in(host_.netns);  // the connection is made on this thread, inside the node
  auto r = sdk::net::request(url, req);
  if (!r || r->status != 200) return nullptr;
  auto body = nlohmann::json::parse(r->body, nullptr, false);
  return body.is_discarded() ? nlohmann::json() : body;
}

nlohmann::json PairNode::status() const { return api_json("/v1/status"); }

nlohmann::json PairNode::store(const nlohmann::json& status, const std::string& name) const {
  if (!status.is_object() || !status.contains("stores")) return nullptr;
  for (const auto& s : status["stores"])
    if (s.value("name", "") == name) return s;
  return nullptr;
}

nlohmann::json PairNode::replication_page() const { return api_json("/monitor/replication"); }

void PairNode::restart_es() {
  es_.kill();
  testsupport::NetnsScope in(host_.netns);
  es_ = testsupport::start_background(es_spec_);
  if (!sdkt::wait_for_port("127.0.0.1", ports_.es, std::chrono::seconds(20)))
    throw std::runtime_error(name_ + ": the ES stand-in did not start: " + es_.log_tail());
}

std::vector<std::string> PairNode::alias_targets(const std::string& alias) const {
  std::vector<std::string> out;
  testsupport::NetnsScope in(host_.netns);
  auto r = testhttp::request(ports_.es, "GET", "/_alias/" + alias);
  if (r.status != 200) return out;
  const nlohmann::json body = r.json();
  for (auto& [index, _] : body.items()) out.push_back(index);
  return out;
}

nlohmann::json PairNode::es_get(const std::string& path) const {
  testsupport::NetnsScope in(host_.netns);
  auto r = testhttp::request(ports_.es, "GET", path, "", {}, std::chrono::seconds(60));
  if (r.status != 200)
    throw std::runtime_error("ES stand-in GET " + path + ": HTTP " + std::to_string(r.status) + " " + r.body);
  return r.json();
}

std::vector<std::int64_t> PairNode::pg_ids() const { return e2e::pg_ids(host_.netns, "127.0.0.1", pg_->port()); }

std::vector<std::int64_t> PairNode::missing_kv_keys(const std::vector<std::int64_t>& ids) const {
  return e2e::missing_kv_keys(host_.netns, "127.0.0.1", redis_->port(), ids);
}

testsupport::RedisValue PairNode::redis_command(const std::vector<std::string>& argv) const {
  testsupport::NetnsScope in(host_.netns);
  testsupport::RedisClient c("127.0.0.1", redis_->port(), std::chrono::seconds(10));
  return c.command(argv);
}

std::unique_ptr<testsupport::RedisClient> PairNode::kv_endpoint_client(std::chrono::milliseconds timeout) const {
  testsupport::NetnsScope in(host_.netns);
  return std::make_unique<testsupport::RedisClient>(host_.address, ports_.kv_endpoint, timeout);
}

bool PairNode::port_open(int port, std::chrono::milliseconds timeout) const {
  testsupport::NetnsScope in(host_.netns);
  return sdkt::wait_for_port(host_.address, port, timeout);
}

std::string PairNode::log_tail(std::size_t bytes) const { return tail(read_file(dir_.path() / "tandemd.log"), bytes); }

std::string PairNode::all_logs() const {
  return "---- " + name_ + " tandemd.log (tail):\n" + log_tail() + "\n---- " + name_ + " PostgreSQL log (tail):\n" +
         tail(read_file(pg_->log_file()), 3000) + "\n---- " + name_ + " Redis log (tail):\n" + redis_->log_tail() +
         "\n";
}

}  // namespace tandem::e2e
