#include "support/postgres_server.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/netns_scope.h"
#include "tandem/sdk/process.h"

namespace tandem::testsupport {
namespace {

namespace fs = std::filesystem;
constexpr const char* kOsUser = "postgres";

sdk::ProcessResult run_checked(const std::string& what, sdk::ProcessSpec spec) {
  auto result = sdk::run_process(spec);
  if (!result) throw std::runtime_error(what + ": cannot run: " + result.message());
  if (!result->succeeded())
    throw std::runtime_error(what + " failed (" + result->describe() + ")\nstdout: " + result->stdout_text +
                             "\nstderr: " + result->stderr_text);
  return std::move(result).value();
}

void append_lines(const fs::path& file, const std::vector<std::string>& lines) {
  std::ofstream out(file, std::ios::app);
  if (!out) throw std::runtime_error("cannot append to " + file.string());
  for (const auto& l : lines) out << l << '\n';
  if (!out) throw std::runtime_error("write to " + file.string() + " failed");
}

void prepend_lines(const fs::path& file, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  std::ifstream in(file);
  std::stringstream old;
  old << in.rdbuf();
  std::ofstream out(file, std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
  out << old.str();
  if (!out) throw std::runtime_error("rewrite of " + file.string() + " failed");
}

// Processes whose parent is `pid` (the postmaster's backends and helpers).
std::vector<int> children_of(int pid) {
  std::vector<int> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may contain spaces, so parse after the last ')'.
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid) out.push_back(std::stoi(name));
  }
  return out;
}

// A tool run as the 'postgres' OS user from `cwd` (a dir that user can enter).
sdk::ProcessSpec as_postgres(std::vector<std::string> argv, const fs::path& cwd,
                             std::chrono::milliseconds timeout = std::chrono::minutes(3)) {
  sdk::ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.cwd = cwd.string();
  spec.run_as_user = kOsUser;
  spec.timeout = timeout;
  return spec;
}

bool alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

fs::path PostgresServer::bin_dir() {
  const fs::path debian = "/usr/lib/postgresql/15/bin";
  if (fs::exists(debian / "pg_ctl")) return debian;
  sdk::ProcessSpec spec;
  spec.argv = {"pg_config", "--bindir"};
  auto result = sdk::run_process(spec);
  if (result && result->succeeded()) {
    std::string dir = result->stdout_text;
    while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r')) dir.pop_back();
    if (fs::exists(fs::path(dir) / "pg_ctl")) return dir;
  }
  throw std::runtime_error("PostgreSQL binaries not found (no /usr/lib/postgresql/15/bin, pg_config --bindir failed)");
}

PostgresServer::PostgresServer(PostgresOptions options)
    : options_(std::move(options)), root_(std::make_unique<sdk::testing::TempDir>("tandem-pg")) {
  port_ = options_.port ? options_.port : sdk::testing::free_port();
  data_dir_ = root_->path() / "data";
  if (!options_.init) {
    fs::create_directory(data_dir_);
    fs::permissions(data_dir_, fs::perms::owner_all);
    root_->chown_to(kOsUser);
    return;
  }
  root_->chown_to(kOsUser);
  std::vector<std::string> initdb = {(bin_dir() / "initdb").string(),
                                     "-D",
                                     data_dir_.string(),
                                     "-U",
                                     "postgres",
                                     "--auth=trust",
                                     "-E",
                                     "UTF8",
                                     "--locale=C"};
  if (options_.data_checksums) initdb.push_back("--data-checksums");
  {
    NetnsScope in(options_.netns);
    run_checked("initdb", as_postgres(initdb, root_->path()));
  }
  std::vector<std::string> conf = {
      "# added by tandem tests",
      // On a host of its own (a namespace holds only loopback and the host's
      // address), every address: a standby cloned from this cluster by
      // pg_basebackup copies this file to a host with another address.
      "listen_addresses = '" +
          (!options_.netns.empty() ? std::string("*")
                                   : "127.0.0.1" + (options_.address == "127.0.0.1" ? "" : ", " + options_.address)) +
          "'",
      "port = " + std::to_string(port_),
      "unix_socket_directories = '" + root_->path().string() + "'",
      "wal_level = replica",
      "max_wal_senders = 10",
      "max_replication_slots = 10",
      "hot_standby = on",
      std::string("wal_log_hints = ") + (options_.wal_log_hints ? "on" : "off"),
      "wal_receiver_status_interval = 1s",
      "shared_buffers = 32MB",
      "fsync = on",
  };
  conf.insert(conf.end(), options_.extra_conf.begin(), options_.extra_conf.end());
  append_lines(data_dir_ / "postgresql.conf", conf);
  prepend_lines(data_dir_ / "pg_hba.conf", options_.hba_prepend);
  if (!options_.trusted_network.empty())
    append_lines(data_dir_ / "pg_hba.conf", {"host all all " + options_.trusted_network + " trust",
                                             "host replication all " + options_.trusted_network + " trust"});
  root_->chown_to(kOsUser);  // files rewritten by root above stay postgres'
  if (options_.start) start();
}

PostgresServer::~PostgresServer() {
  try {
    if (running()) stop("immediate");
  } catch (...) {
    // Destructors must not throw; kill whatever is left so the temp dir can go.
    try {
      kill9();
    } catch (...) {}
  }
}

std::string PostgresServer::conninfo(const std::string& db) const {
  return "host=" + options_.address + " port=" + std::to_string(port_) + " user=postgres dbname=" + db;
}

void PostgresServer::start() {
  if (!fs::exists(data_dir_ / "PG_VERSION"))
    throw std::runtime_error("PostgresServer::start: " + data_dir_.string() +
                             " holds no cluster (init=false and "
                             "nothing was built into it yet)");
  if (running()) return;
  const std::string opts = "-p " + std::to_string(port_) + " -k " + root_->path().string();
  NetnsScope in(options_.netns);
  run_checked("pg_ctl start", as_postgres({(bin_dir() / "pg_ctl").string(), "-D", data_dir_.string(), "-l",
                                           log_file().string(), "-o", opts, "-w", "-t", "120", "start"},
                                          root_->path()));
}

void PostgresServer::become_standby_of(const PostgresServer& primary) {
  if (fs::exists(data_dir_ / "PG_VERSION"))
    throw std::runtime_error("become_standby_of: " + data_dir_.string() + " already holds a cluster");
  NetnsScope in(options_.netns);
  run_checked("pg_basebackup", as_postgres({(bin_dir() / "pg_basebackup").string(), "-h", primary.address(), "-p",
                                            std::to_string(primary.port()), "-U", "postgres", "-D", data_dir_.string(),
                                            "-X", "stream", "-R", "-c", "fast"},
                                           root_->path()));
  start();
}

void PostgresServer::stop(const std::string& mode) {
  if (!running()) return;
  NetnsScope in(options_.netns);
  run_checked("pg_ctl stop", as_postgres({(bin_dir() / "pg_ctl").string(), "-D", data_dir_.string(), "-m", mode, "-w",
                                          "-t", "120", "stop"},
                                         root_->path()));
}

int PostgresServer::postmaster_pid() const {
  std::ifstream in(data_dir_ / "postmaster.pid");
  int pid = -1;
  if (!(in >> pid)) return -1;
  return pid;
}

bool PostgresServer::running() const { return alive(postmaster_pid()); }

void PostgresServer::kill9() {
  const int pid = postmaster_pid();
  if (!alive(pid)) return;
  std::vector<int> victims = children_of(pid);
  ::kill(pid, SIGKILL);
  for (int child : victims) ::kill(child, SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto any_alive = [&] {
    if (alive(pid)) return true;
    for (int child : victims)
      if (alive(child)) return true;
    return false;
  };
  while (any_alive() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (any_alive()) throw std::runtime_error("PostgresServer::kill9: processes still alive 30 s after SIGKILL");
}

std::string PostgresServer::psql(const std::string& sql, const std::string& db) const {
  NetnsScope in(options_.netns);
  auto result =
      run_checked("psql", as_postgres({(bin_dir() / "psql").string(), "-XAt", "-v", "ON_ERROR_STOP=1", "-h",
                                       "127.0.0.1", "-p", std::to_string(port_), "-U", "postgres", "-d", db, "-c", sql},
                                      root_->path(), std::chrono::minutes(2)));
  return result.stdout_text;
}

std::string PostgresServer::log_tail(std::size_t bytes) const {
  std::ifstream in(log_file(), std::ios::binary);
  if (!in) return "(no server log)";
  std::stringstream s;
  s << in.rdbuf();
  std::string all = s.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

}  // namespace tandem::testsupport
