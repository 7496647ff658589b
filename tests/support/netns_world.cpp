#include "support/netns_world.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/netns_scope.h"
#include "tandem/sdk/process.h"

namespace tandem::testsupport {
namespace fs = std::filesystem;

namespace {

constexpr const char* kOwnerDir = "/run/tandem-netns";  // <pid> -> that process's start time
constexpr const char* kSubnet = "10.77.0.";
constexpr int kFirstNodeOctet = 11;
constexpr int kClientOctet = 100;

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// Field 22 of /proc/<pid>/stat (clock ticks since boot): with the pid, it
// names one process for the life of the machine.
std::string start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return "";
  const auto close = line.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22) return field;
  return "";
}

sdk::ProcessResult run_tool(const std::vector<std::string>& argv, const std::string& stdin_data = "") {
  sdk::ProcessSpec spec;
  spec.argv = argv;
  spec.stdin_data = stdin_data;
  spec.timeout = std::chrono::seconds(30);
  auto r = sdk::run_process(spec);
  if (!r) throw std::runtime_error("cannot run " + argv.front() + ": " + r.message());
  return *r;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + sdk::shell_quote(a);
  return s;
}

// SIGKILL to every process of a namespace except this one, then waits (10 s)
// until they are gone. Returns how many were signalled.
int kill_namespace_processes(const std::string& netns) {
  int n = 0;
  for (pid_t pid : netns_pids(netns))
    if (pid != ::getpid() && ::kill(pid, SIGKILL) == 0) ++n;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (pid_t pid : netns_pids(netns)) any = any || pid != ::getpid();
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return n;
}

std::atomic<int> world_counter{0};

}  // namespace

std::optional<std::string> NetnsWorld::unavailable_reason() {
  if (::geteuid() != 0) return std::string("not running as root (network namespaces need CAP_SYS_ADMIN)");
  for (const char* tool : {"ip", "nft"}) {
    try {
      if (!run_tool({tool, "-V"}).succeeded()) return std::string(tool) + " -V failed";
    } catch (const std::exception& e) {
      return std::string(tool) +
             " is not installed (scripts/install-deps.sh installs iproute2 and nftables): " + e.what();
    }
  }
  const std::string probe = "tnd" + std::to_string(::getpid()) + "probe";
  auto added = run_tool({"ip", "netns", "add", probe});
  if (!added.succeeded()) return "ip netns add refused: " + added.stderr_text;
  auto nft = run_tool({"ip", "netns", "exec", probe, "nft", "list", "tables"});
  run_tool({"ip", "netns", "del", probe});
  if (!nft.succeeded()) return "nft does not work inside a namespace: " + nft.stderr_text;
  return std::nullopt;
}

std::vector<std::string> NetnsWorld::sweep_stale() {
  std::vector<std::string> removed;
  static const std::regex ours(R"(tnd([0-9]+)(n[0-9]+-.*|probe))");
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator("/run/netns", ec)) names.push_back(e.path().filename().string());
  std::set<pid_t> dead_owners;
  for (const auto& name : names) {
    std::smatch m;
    if (!std::regex_match(name, m, ours)) continue;
    const pid_t owner = static_cast<pid_t>(std::stol(m[1].str()));
    std::string recorded;
    std::ifstream(std::string(kOwnerDir) + "/" + std::to_string(owner)) >> recorded;
    const bool stale = !alive(owner) || (!recorded.empty() && recorded != start_time(owner));
    if (!stale) continue;
    kill_namespace_processes(name);
    if (run_tool({"ip", "netns", "del", name}).succeeded()) removed.push_back(name);
    dead_owners.insert(owner);
  }
  for (pid_t owner : dead_owners) fs::remove(fs::path(kOwnerDir) / std::to_string(owner), ec);
  return removed;
}

NetnsWorld::NetnsWorld(std::vector<std::string> nodes) {
  for (const auto& gone : sweep_stale()) std::fprintf(stderr, "netns: removed leftover namespace %s\n", gone.c_str());
  const std::string pid = std::to_string(::getpid());
  prefix_ = "tnd" + pid + "n" + std::to_string(world_counter++);
  table_ = "tnd" + pid;
  switch_netns_ = prefix_ + "-switch";
  int octet = kFirstNodeOctet;
  for (const auto& n : nodes) hosts_.push_back({n, prefix_ + "-" + n, kSubnet + std::to_string(octet++), "e" + pid});
  hosts_.push_back({kClient, prefix_ + "-" + kClient, kSubnet + std::to_string(kClientOctet), "e" + pid});

  std::error_code ec;
  fs::create_directories(kOwnerDir, ec);
  std::ofstream(std::string(kOwnerDir) + "/" + pid) << start_time(::getpid()) << "\n";
  try {
    run({"ip", "netns", "add", switch_netns_});
    created_.push_back(switch_netns_);
    run({"ip", "-n", switch_netns_, "link", "add", "br0", "type", "bridge"});
    run({"ip", "-n", switch_netns_, "link", "set", "br0", "up"});
    run({"ip", "-n", switch_netns_, "link", "set", "lo", "up"});
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
      const Host& h = hosts_[i];
      const std::string port = "s" + pid + "h" + std::to_string(i);
      run({"ip", "netns", "add", h.netns});
      created_.push_back(h.netns);
      // Both ends are created straight in their namespaces: nothing appears in the root one.
      run({"ip", "link", "add", h.veth, "netns", h.netns, "type", "veth", "peer", "name", port, "netns",
           switch_netns_});
      run({"ip", "-n", switch_netns_, "link", "set", port, "master", "br0"});
      run({"ip", "-n", switch_netns_, "link", "set", port, "up"});
      run({"ip", "-n", h.netns, "addr", "add", h.address + "/24", "dev", h.veth});
      run({"ip", "-n", h.netns, "link", "set", h.veth, "up"});
      run({"ip", "-n", h.netns, "link", "set", "lo", "up"});
    }
  } catch (...) {
    teardown();
    throw;
  }
}

NetnsWorld::~NetnsWorld() { teardown(); }

void NetnsWorld::teardown() noexcept {
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
    try {
      kill_namespace_processes(*it);
      auto r = run_tool({"ip", "netns", "del", *it});
      if (!r.succeeded()) std::fprintf(stderr, "netns: ip netns del %s: %s\n", it->c_str(), r.stderr_text.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "netns: cannot remove %s: %s\n", it->c_str(), e.what());
    }
  }
  created_.clear();
  // The owner record goes with the last world of this process.
  bool more = false;
  std::error_code ec;
  const std::string mine = "tnd" + std::to_string(::getpid()) + "n";
  for (const auto& e : fs::directory_iterator("/run/netns", ec))
    more = more || e.path().filename().string().rfind(mine, 0) == 0;
  if (!more) fs::remove(fs::path(kOwnerDir) / std::to_string(::getpid()), ec);
}

void NetnsWorld::run(const std::vector<std::string>& argv, const std::string& stdin_data) const {
  auto r = run_tool(argv, stdin_data);
  if (!r.succeeded()) throw std::runtime_error("netns: `" + joined(argv) + "` failed: " + r.describe());
}

std::vector<std::string> NetnsWorld::hosts() const {
  std::vector<std::string> out;
  for (const auto& h : hosts_) out.push_back(h.name);
  return out;
}

const NetnsWorld::Host& NetnsWorld::host(const std::string& name) const {
  for (const auto& h : hosts_)
    if (h.name == name) return h;
  throw std::runtime_error("netns: no host named '" + name + "' in this world");
}

const std::string& NetnsWorld::netns(const std::string& name) const { return host(name).netns; }
const std::string& NetnsWorld::address(const std::string& name) const { return host(name).address; }

const std::string& NetnsWorld::interface(const std::string& name) const { return host(name).veth; }

std::string NetnsWorld::subnet() const { return std::string(kSubnet) + "0/24"; }

std::vector<std::string> NetnsWorld::exec_prefix(const std::string& name) const {
  return {"ip", "netns", "exec", host(name).netns};
}

void NetnsWorld::apply_rules(const Host& receiver) {
  // Replaced atomically in one nft transaction: the "table {}" before the
  // delete makes the delete valid when the table does not exist yet.
  std::string script = "table inet " + table_ + " {}\ndelete table inet " + table_ + "\n";
  std::string rules;
  for (const auto& [from, to] : blocked_)
    if (to == receiver.name) rules += "    ip saddr " + host(from).address + " drop\n";
  if (!rules.empty())
    script += "table inet " + table_ + " {\n  chain input {\n    type filter hook input priority 0; policy accept;\n" +
              rules + "  }\n}\n";
  run({"ip", "netns", "exec", receiver.netns, "nft", "-f", "-"}, script);
}

void NetnsWorld::partition(const std::string& a, const std::string& b) {
  partition_one_way(a, b);
  partition_one_way(b, a);
}

void NetnsWorld::partition_one_way(const std::string& from, const std::string& to) {
  host(from);
  if (blocked_.insert({from, to}).second) apply_rules(host(to));
}

void NetnsWorld::isolate(const std::string& name) {
  for (const auto& other : hosts_) {
    if (other.name == name) continue;
    blocked_.insert({name, other.name});
    blocked_.insert({other.name, name});
  }
  for (const auto& h : hosts_) apply_rules(h);
}

void NetnsWorld::link_down(const std::string& name) {
  const Host& h = host(name);
  run({"ip", "-n", h.netns, "link", "set", h.veth, "down"});
  links_down_.insert(name);
}

void NetnsWorld::link_up(const std::string& name) {
  const Host& h = host(name);
  run({"ip", "-n", h.netns, "link", "set", h.veth, "up"});
  links_down_.erase(name);
}

void NetnsWorld::heal() {
  std::set<std::string> receivers;
  for (const auto& [from, to] : blocked_) receivers.insert(to);
  blocked_.clear();
  for (const auto& r : receivers) apply_rules(host(r));
  for (const auto& name : std::set<std::string>(links_down_)) link_up(name);
}

std::string NetnsWorld::describe_faults() const {
  std::string s;
  for (const auto& [from, to] : blocked_) s += (s.empty() ? "" : "; ") + from + "->" + to + " dropped";
  for (const auto& name : links_down_) s += (s.empty() ? "" : "; ") + name + " link down";
  return s.empty() ? "none" : s;
}

namespace {
int signal_all(const std::string& netns, int sig) {
  int n = 0;
  for (pid_t pid : netns_pids(netns))
    if (pid != ::getpid() && ::kill(pid, sig) == 0) ++n;
  return n;
}
}  // namespace

int NetnsWorld::pause(const std::string& name) { return signal_all(host(name).netns, SIGSTOP); }
int NetnsWorld::resume(const std::string& name) { return signal_all(host(name).netns, SIGCONT); }
int NetnsWorld::kill_all(const std::string& name) { return kill_namespace_processes(host(name).netns); }

}  // namespace tandem::testsupport
