// The clone-test action (tandem/sdk/clone_test.h): a copy of this node's
// PostgreSQL for a test instance. pg_basebackup reads the local server (on
// the secondary that is the hot standby, so the primary does no extra work)
// through a temporary slot PostgreSQL drops when the backup ends; the copy
// then recovers to the end of the backup's WAL and opens on a timeline of
// its own, with nothing that could reach the pair (no primary_conninfo, no
// slot, no archive). A masking SQL file / command runs while the copy
// listens on a private socket only, so nobody reads it unmasked.
#include <thread>

#include "postgres_wal_plugin.h"
#include "tandem/sdk/clone_test.h"
#include "tandem/sdk/file_util.h"

namespace tandem::pgwal {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Waits until the clone's recovery ended (it accepts writes).
void wait_until_writable(const ConnectParams& params, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  for (;;) {
    try {
      PgConnection conn(params);
      if (conn.scalar("SELECT pg_is_in_recovery()::text") == "false") return;
      last = "still in recovery";
    } catch (const PgError& e) {
      last = e.what();
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the clone did not finish recovery within " +
                               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
                               " s (" + last + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

sdk::Result<json> PostgresWalPlugin::clone_test(const sdk::CloneTestArgs& args) {
  if (args.port == 0)
    return sdk::Result<json>::error(sdk::ErrorCode::invalid_argument,
                                    "clone-test needs 'port', a free TCP port for the clone's PostgreSQL");
  if (args.port == settings_.port)
    return sdk::Result<json>::error(
        sdk::ErrorCode::invalid_argument,
        "clone-test 'port' " + std::to_string(args.port) + " is this node's own PostgreSQL port: choose a free one");
  auto prepared = sdk::prepare_clone_dir(args);
  if (!prepared) return sdk::Result<json>(prepared.error());
  const auto started = std::chrono::steady_clock::now();

  Settings clone = settings_;
  clone.data_dir = args.dir / "data";
  clone.port = args.port;
  clone.server_log = args.dir / "postgresql.log";
  PgTools tools(clone);
  tools.make_owned_dir(args.dir);
  if (*prepared) {
    // refresh: the earlier clone's server stops and its data goes; nothing
    // else in dir is touched.
    if (tools.has_cluster()) tools.stop_server("fast");
    fs::remove_all(clone.data_dir);
  }
  refresh_passfile();
  const std::string source = settings_.host + ":" + std::to_string(settings_.port);
  host_->log().info("clone-test: base backup of " + source + " into " + clone.data_dir.string());
  tools.make_owned_dir(clone.data_dir);
  // -X stream without -S: a temporary slot, dropped by PostgreSQL when the
  // backup's connection ends, so none is left on the standby.
  tools.run_checked("pg_basebackup of " + source + " as " + settings_.replication_user +
                        " (the local server's pg_hba.conf needs a replication entry for " + settings_.host + ")",
                    {"pg_basebackup", "-h", settings_.host, "-p", std::to_string(settings_.port), "-U",
                     settings_.replication_user, "-D", clone.data_dir.string(), "-X", "stream", "-c", "fast", "-w"},
                    std::chrono::hours(6));
  const std::string cluster_name = host_->node().name + "-test-" + host_->store_name();
  tools.write_clone_config(cluster_name);

  ConnectParams params = local_params();
  params.port = args.port;
  params.application_name = "tandem-clone-test";
  params.statement_timeout = std::chrono::milliseconds(0);  // a masking script may run long
  json masked = json::array();
  if (args.masks()) {
    // Open on a private socket only: no TCP listener while unmasked.
    const fs::path socket_dir = args.dir / "mask-socket";
    tools.make_owned_dir(socket_dir);
    Settings private_settings = clone;
    private_settings.postgres_options +=
        " -c listen_addresses='' -c unix_socket_directories=" + shell_quote(socket_dir.string());
    PgTools private_tools(private_settings);
    private_tools.start_server();
    ConnectParams via_socket = params;
    via_socket.host = socket_dir.string();
    wait_until_writable(via_socket, settings_.promote_timeout);
    if (args.mask_sql) {
      tools.run_checked(
          "masking SQL " + args.mask_sql->string(),
          {"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socket_dir.string(), "-p", std::to_string(args.port),
           "-U", settings_.user, "-d", settings_.database, "-f", args.mask_sql->string()},
          std::chrono::hours(6));
      masked.push_back("ran " + args.mask_sql->string());
    }
    if (args.mask_command) {
      sdk::ProcessSpec spec;
      spec.argv = {"/bin/sh", "-c", *args.mask_command};
      spec.env = {{"PGHOST", socket_dir.string()},
                  {"PGPORT", std::to_string(args.port)},
                  {"PGUSER", settings_.user},
                  {"PGDATABASE", settings_.database},
                  {"PGPASSFILE", settings_.passfile.string()},
                  {"TANDEM_CLONE_DIR", args.dir.string()}};
      spec.cwd = args.dir;
      spec.timeout = std::chrono::hours(6);
      auto ran = sdk::run_process(spec);
      if (!ran) throw std::runtime_error("cannot run the masking command: " + ran.message());
      if (!ran->succeeded())
        throw std::runtime_error("the masking command failed (" + ran->describe() +
                                 "); the clone stays stopped, unmasked data is in " + clone.data_dir.string());
      masked.push_back("ran the masking command");
    }
    private_tools.stop_server("fast");
  }
  tools.start_server();
  wait_until_writable(params, settings_.promote_timeout);
  PgConnection conn(params);
  const std::string lsn = conn.scalar("SELECT pg_current_wal_lsn()::text");
  const int timeline =
      std::stoi(conn.scalar("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"), nullptr, 16);
  const std::string size = conn.scalar("SELECT pg_size_pretty(sum(pg_database_size(oid))) FROM pg_database");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  json details{{"source", source},      {"data_dir", clone.data_dir.string()},
               {"port", args.port},     {"timeline", timeline},
               {"opened_at_lsn", lsn},  {"size", size},
               {"seconds", seconds},    {"masking", masked},
               {"refreshed", *prepared}};
  if (auto marked = sdk::write_clone_marker(args.dir, details); !marked.ok())
    throw std::runtime_error(marked.message());

  json store{{"data_dir", clone.data_dir.string()},
             {"host", settings_.host},
             {"port", args.port},
             {"database", settings_.database},
             {"user", settings_.user},
             {"os_user", settings_.os_user},
             {"bin_dir", tools.bin_dir().string()},
             {"server_log", clone.server_log.string()}};
  if (!settings_.password_file.empty()) store["password_file"] = settings_.password_file.string();
  if (!settings_.postgres_options.empty()) store["postgres_options"] = settings_.postgres_options;
  const std::string stop =
      "pg_ctl -D " + shell_quote(clone.data_dir.string()) + " -m fast stop  (as " + settings_.os_user + ")";
  host_->log().info("clone-test: the clone of " + source + " is open on port " + std::to_string(args.port) +
                    ", timeline " + std::to_string(timeline));
  return json{{"summary", std::string(*prepared ? "refreshed" : "cloned") + " PostgreSQL " + source + " (" + size +
                              ") to port " + std::to_string(args.port) + ", its own primary on timeline " +
                              std::to_string(timeline) + (masked.empty() ? "" : ", masked")},
              {"store", store},
              {"stop", stop},
              {"details", details}};
}

}  // namespace tandem::pgwal
