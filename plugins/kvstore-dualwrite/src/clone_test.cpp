// The clone-test action (tandem/sdk/clone_test.h): a copy of this node's
// Redis for a test instance. A new redis-server in the clone's directory
// becomes a temporary replica of the local Redis (on the secondary, so the
// primary's Redis does no extra work); once its initial sync is done it is
// detached (REPLICAOF NO ONE, written into its config), so the copy is the
// local Redis as of that moment and nothing links it to the pair again.
// A test instance has no peer to write to, so no endpoint runs for it:
// its clients use the clone's Redis directly (the action returns no store).
#include <thread>

#include "kv_plugin.h"
#include "tandem/sdk/clone_test.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/process.h"

namespace tandem::kv {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A value for redis.conf (double-quoted, escaped).
std::string conf_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void shut_down_clone(const RedisAddress& clone) {
  try {
    RedisSyncClient redis(clone, 0, std::chrono::seconds(2));
    redis.command({"SHUTDOWN", "NOSAVE"});
  } catch (const std::exception&) {
    // not running: nothing to stop
  }
}

}  // namespace

sdk::Result<json> KvStorePlugin::clone_test(const sdk::CloneTestArgs& args) {
  if (args.port == 0)
    return sdk::Result<json>::error(sdk::ErrorCode::invalid_argument,
                                    "clone-test needs 'port', a free TCP port for the clone's Redis");
  if (args.masks())
    return sdk::Result<json>::error(sdk::ErrorCode::invalid_argument,
                                    "kvstore-dualwrite cannot mask a Redis copy: leave this store out of a masked "
                                    "clone (no unmasked copy is made)");
  auto prepared = sdk::prepare_clone_dir(args);
  if (!prepared) return sdk::Result<json>(prepared.error());
  const auto started = std::chrono::steady_clock::now();
  const RedisAddress clone{"127.0.0.1", args.port, settings_.local.password_file};
  if (*prepared) {
    shut_down_clone(clone);
    std::error_code ec;
    fs::remove(args.dir / "dump.rdb", ec);
  }
  const std::string password = read_password(settings_.local);
  std::string conf = "# redis.conf of a tandem test instance (tandemctl clone-test)\n";
  conf += "port " + std::to_string(args.port) + "\nbind 127.0.0.1\n";
  conf += "dir " + conf_quote(args.dir.string()) + "\ndbfilename dump.rdb\n";
  conf += "daemonize yes\npidfile " + conf_quote((args.dir / "redis.pid").string()) + "\n";
  conf += "logfile " + conf_quote((args.dir / "redis.log").string()) + "\n";
  conf += "repl-diskless-sync-delay 0\n";
  if (!password.empty()) conf += "requirepass " + conf_quote(password) + "\nmasterauth " + conf_quote(password) + "\n";
  conf += "replicaof " + settings_.local.host + " " + std::to_string(settings_.local.port) + "\n";
  // It holds the password: readable by this user only.
  sdk::atomic_write_file(args.dir / "redis.conf", conf, 0600);

  sdk::ProcessSpec spec;
  spec.argv = {"redis-server", (args.dir / "redis.conf").string()};
  spec.cwd = args.dir;
  spec.timeout = std::chrono::seconds(30);
  auto ran = sdk::run_process(spec);
  if (!ran) throw std::runtime_error("cannot run redis-server (is it installed and on PATH?): " + ran.message());
  if (!ran->succeeded())
    throw std::runtime_error("redis-server for the clone failed (" + ran->describe() + "); see " +
                             (args.dir / "redis.log").string());

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  std::string last = "not reachable yet";
  for (;;) {
    try {
      RedisSyncClient redis(clone, 0, std::chrono::seconds(5));
      auto info = redis.info("replication");
      if (info["master_link_status"] == "up" && info["master_sync_in_progress"] == "0") {
        redis.checked({"REPLICAOF", "NO", "ONE"});
        redis.checked({"CONFIG", "REWRITE"});  // the detach survives a restart
        break;
      }
      last = "link " + info["master_link_status"] + ", sync in progress " + info["master_sync_in_progress"];
    } catch (const std::exception& e) {
      last = e.what();
    }
    if (std::chrono::steady_clock::now() > deadline) {
      shut_down_clone(clone);
      throw std::runtime_error("the clone's Redis did not finish its sync from " + settings_.local.describe() + " (" +
                               last + "); see " + (args.dir / "redis.log").string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  RedisSyncClient redis(clone, settings_.db, std::chrono::seconds(5));
  const long long keys = redis.checked({"DBSIZE"}).integer;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  json details{{"source", settings_.local.describe()},
               {"port", args.port},
               {"db", settings_.db},
               {"keys", keys},
               {"seconds", seconds},
               {"refreshed", *prepared},
               {"served", "directly: a test instance has no peer, so its clients use this Redis, not an endpoint"}};
  if (auto marked = sdk::write_clone_marker(args.dir, details); !marked.ok())
    throw std::runtime_error(marked.message());
  host_->log().info("clone-test: Redis " + settings_.local.describe() +
                    " copied to 127.0.0.1:" + std::to_string(args.port) + " (" + std::to_string(keys) + " keys in db " +
                    std::to_string(settings_.db) + ")");
  return json{{"summary", std::string(*prepared ? "refreshed" : "cloned") + " Redis " + settings_.local.describe() +
                              " (" + std::to_string(keys) + " keys) to 127.0.0.1:" + std::to_string(args.port) +
                              ", detached; clients of the test instance use it directly"},
              {"store", nullptr},
              {"stop", "redis-cli -p " + std::to_string(args.port) + " shutdown  (with the local Redis password)"},
              {"details", details}};
}

std::vector<sdk::Action> KvStorePlugin::actions() {
  return {sdk::clone_test_action(
      "Copy this node's Redis into a test instance (tandemctl clone-test): a new redis-server syncs from the "
      "local Redis as a temporary replica, then is detached. Args: {\"dir\", \"port\", \"refresh\"}",
      [this](const sdk::CloneTestArgs& args) { return clone_test(args); })};
}

}  // namespace tandem::kv
