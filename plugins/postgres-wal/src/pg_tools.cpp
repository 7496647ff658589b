#include "pg_tools.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "pg_connection.h"
#include "tandem/sdk/file_util.h"

namespace tandem::pgwal {
namespace fs = std::filesystem;

namespace {

std::string strip(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t b = s.find_first_not_of(' ');
  return b == std::string::npos ? std::string() : s.substr(b);
}

// A line of postgresql.auto.conf sets `name` (ignoring leading blanks and case).
bool sets_parameter(const std::string& line, const std::string& name) {
  size_t b = line.find_first_not_of(" \t");
  if (b == std::string::npos || line.compare(b, name.size(), name) != 0) return false;
  size_t after = b + name.size();
  return after == line.size() || line[after] == ' ' || line[after] == '\t' || line[after] == '=';
}

}  // namespace

std::string passfile_escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

fs::path PgTools::bin_dir() {
  if (!resolved_bin_dir_.empty()) return resolved_bin_dir_;
  if (!settings_.bin_dir.empty()) {
    if (!fs::exists(settings_.bin_dir / "pg_ctl"))
      throw std::runtime_error("bin_dir " + settings_.bin_dir.string() +
                               " holds no pg_ctl; set bin_dir to the "
                               "directory of PostgreSQL's programs (`pg_config --bindir` prints it)");
    return resolved_bin_dir_ = settings_.bin_dir;
  }
  sdk::ProcessSpec spec;
  spec.argv = {"pg_config", "--bindir"};
  spec.timeout = std::chrono::seconds(10);
  auto result = sdk::run_process(spec);
  if (!result || !result->succeeded())
    throw std::runtime_error("cannot find PostgreSQL's programs: `pg_config --bindir` failed (" +
                             (result ? result->describe() : result.message()) + "); set bin_dir");
  fs::path dir = strip(result->stdout_text);
  if (!fs::exists(dir / "pg_ctl"))
    throw std::runtime_error("`pg_config --bindir` printed " + dir.string() + ", which holds no pg_ctl; set bin_dir");
  return resolved_bin_dir_ = dir;
}

sdk::ProcessResult PgTools::run(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  sdk::ProcessSpec spec;
  argv[0] = (bin_dir() / argv[0]).string();
  spec.argv = std::move(argv);
  spec.run_as_user = settings_.os_user;
  spec.timeout = timeout;
  spec.env = {
      {"LC_ALL", "C"},
      {"PGPASSFILE", settings_.passfile.string()},
      {"PGCONNECT_TIMEOUT", std::to_string(std::max<long long>(
                                2, std::chrono::ceil<std::chrono::seconds>(settings_.connect_timeout).count()))}};
  // A directory os_user can enter, so tools do not warn about the cwd.
  spec.cwd = settings_.data_dir.parent_path().string();
  auto result = sdk::run_process(spec);
  if (!result) throw std::runtime_error("cannot run " + spec.argv[0] + ": " + result.message());
  return std::move(result).value();
}

sdk::ProcessResult PgTools::run_checked(const std::string& what, std::vector<std::string> argv,
                                        std::chrono::milliseconds timeout) {
  auto result = run(std::move(argv), timeout);
  if (!result.succeeded()) {
    std::string err = strip(result.stderr_text);
    if (err.size() > 1500) err = "..." + err.substr(err.size() - 1500);
    throw std::runtime_error(what + " failed (" + result.describe() + "): " + err);
  }
  return result;
}

bool PgTools::has_cluster() const { return fs::exists(settings_.data_dir / "PG_VERSION"); }

bool PgTools::data_dir_is_empty() const {
  std::error_code ec;
  if (!fs::exists(settings_.data_dir, ec)) return true;
  return fs::is_directory(settings_.data_dir, ec) && fs::is_empty(settings_.data_dir, ec);
}

bool PgTools::standby_signal_present() const { return fs::exists(settings_.data_dir / "standby.signal"); }

namespace {

// The pid postmaster.pid names, or 0.
long postmaster_pid(const fs::path& data_dir) {
  std::ifstream pid_file(data_dir / "postmaster.pid");
  long pid = 0;
  if (!(pid_file >> pid) || pid <= 0) return 0;
  return pid;
}

// A process that died but was not reaped yet: kill(pid, 0) still succeeds.
bool is_zombie(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;  // gone, or no /proc
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace

bool PgTools::server_running() {
  // What `pg_ctl status` does, without a subprocess on every sync: the
  // postmaster named in postmaster.pid exists. A postmaster killed a moment
  // ago may linger as a zombie until whatever adopted it reaps it: it serves
  // nothing, so it is not running.
  const long pid = postmaster_pid(settings_.data_dir);
  if (!pid) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  return !is_zombie(pid);
}

void PgTools::wait_until_postmaster_reaped(std::chrono::milliseconds timeout) {
  // PostgreSQL's own programs (postgres --single under pg_rewind, pg_ctl
  // start) see a zombie's pid as alive and refuse: "lock file postmaster.pid
  // already exists". Init reaps at once; a container's pid 1 may take a while.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const long pid = postmaster_pid(settings_.data_dir);
    if (!pid || !is_zombie(pid)) return;
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("the dead postmaster (pid " + std::to_string(pid) +
                               ") named in postmaster.pid is a zombie nobody reaps; PostgreSQL will not start over "
                               "it: check the host's init (pid 1) reaps orphans, then retry");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void PgTools::start_server() {
  if (server_running()) return;
  wait_until_postmaster_reaped(std::chrono::seconds(60));
  std::string opts = "-p " + std::to_string(settings_.port);
  if (!settings_.postgres_options.empty()) opts += " " + settings_.postgres_options;
  run_checked("pg_ctl start",
              {"pg_ctl", "-D", settings_.data_dir.string(), "-l", settings_.server_log.string(), "-o", opts, "-w", "-t",
               "300", "start"},
              std::chrono::seconds(330));
}

void PgTools::stop_server(const std::string& mode) {
  if (!server_running()) return;
  run_checked("pg_ctl stop -m " + mode,
              {"pg_ctl", "-D", settings_.data_dir.string(), "-m", mode, "-w", "-t", "300", "stop"},
              std::chrono::seconds(330));
}

std::map<std::string, std::string> PgTools::controldata() {
  auto r =
      run_checked("pg_controldata", {"pg_controldata", "-D", settings_.data_dir.string()}, std::chrono::seconds(30));
  std::map<std::string, std::string> out;
  std::istringstream in(r.stdout_text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    out[strip(line.substr(0, colon))] = strip(line.substr(colon + 1));
  }
  return out;
}

void PgTools::chown_to_os_user(const fs::path& path) const {
  struct passwd* pw = ::getpwnam(settings_.os_user.c_str());
  if (!pw) throw std::runtime_error("no OS user named '" + settings_.os_user + "'");
  if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0 && ::geteuid() == 0)
    throw std::runtime_error("cannot chown " + path.string() + " to " + settings_.os_user);
}

void PgTools::rewrite_auto_conf(const std::vector<std::string>& replaced, const std::string& appended) {
  const fs::path auto_conf = settings_.data_dir / "postgresql.auto.conf";
  std::string kept;
  if (fs::exists(auto_conf)) {
    std::istringstream in(sdk::read_file(auto_conf));
    std::string line;
    while (std::getline(in, line)) {
      bool drop = line.rfind("# tandem postgres-wal", 0) == 0;
      for (const auto& name : replaced) drop = drop || sets_parameter(line, name);
      if (!drop) kept += line + "\n";
    }
  }
  sdk::atomic_write_file(auto_conf, kept + appended, 0600);
  chown_to_os_user(auto_conf);
}

void PgTools::write_standby_config(const UpstreamServer& upstream, const std::string& application_name) {
  const auto timeout_s =
      std::max<long long>(2, std::chrono::ceil<std::chrono::seconds>(settings_.connect_timeout).count());
  const std::string conninfo = "host=" + conninfo_quote(upstream.host) + " port=" + std::to_string(upstream.port) +
                               " user=" + conninfo_quote(settings_.replication_user) +
                               " application_name=" + conninfo_quote(application_name) +
                               " passfile=" + conninfo_quote(settings_.passfile.string()) +
                               " connect_timeout=" + std::to_string(timeout_s) + settings_.peer_ssl_conninfo();
  rewrite_auto_conf({"primary_conninfo", "primary_slot_name", "synchronous_standby_names"},
                    "# tandem postgres-wal: standby of " + upstream.host + ":" + std::to_string(upstream.port) +
                        "\nprimary_conninfo = " + sql_literal(conninfo) +
                        "\nprimary_slot_name = " + sql_literal(settings_.slot_name) + "\n");
  const fs::path signal = settings_.data_dir / "standby.signal";
  sdk::atomic_write_file(signal, "", 0600);
  chown_to_os_user(signal);
}

void PgTools::write_clone_config(const std::string& cluster_name) {
  rewrite_auto_conf(
      {"primary_conninfo", "primary_slot_name", "synchronous_standby_names", "restore_command", "archive_mode",
       "archive_command", "cluster_name", "port"},
      "# tandem postgres-wal: a test instance, cut from the pair\nport = " + std::to_string(settings_.port) +
          "\nprimary_conninfo = ''\nprimary_slot_name = ''\nsynchronous_standby_names = ''\n"
          "restore_command = 'false'\narchive_mode = 'off'\ncluster_name = " +
          sql_literal(cluster_name) + "\n");
  std::error_code ec;
  fs::remove(settings_.data_dir / "standby.signal", ec);
  const fs::path signal = settings_.data_dir / "recovery.signal";
  sdk::atomic_write_file(signal, "", 0600);
  chown_to_os_user(signal);
}

void PgTools::make_owned_dir(const fs::path& dir) const {
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);
  chown_to_os_user(dir);
}

void PgTools::write_passfile(const std::vector<PassfileEntry>& entries) {
  std::string content;
  for (const auto& e : entries)
    content += "*:*:*:" + passfile_escape(e.user) + ":" + passfile_escape(e.password) + "\n";
  sdk::atomic_write_file(settings_.passfile, content, 0600);
  chown_to_os_user(settings_.passfile);
}

}  // namespace tandem::pgwal
