#include "auto_failover_pair.h"

#include <thread>

#include "support/background_process.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/net/url.h"

namespace tandem::autofailover_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

testhttp::Reply ask(int port, const std::string& target, const std::string& method) {
  try {
    return testhttp::request(port, method, target, "", {}, 2s);
  } catch (const std::exception&) {
    return {};
  }
}

void AutoFailoverPair::SetUp() {
  nodes_[0].name = "alpha";
  nodes_[1].name = "beta";
  for (auto& n : nodes_) {
    n.port = sdk::testing::free_port();
    n.dir = temp_.path() / n.name;
    fs::create_directories(n.dir);
  }
  sdk::atomic_write_file(temp_.path() / "token", "pair-token-for-tests\n", 0600);
  etcd_ = std::make_unique<testsupport::EtcdCluster>(etcd_options());
  endpoints_toml_ = etcd_->endpoints_toml();
}

std::string AutoFailoverPair::stores_toml(int) {
  return std::string("[stores.app]\nplugin = \"") + DAEMON_TEST_PLUGIN + "\"\n";
}

void AutoFailoverPair::write_config(int i) {
  const Node& me = nodes_[i];
  const Node& peer = nodes_[1 - i];
  const std::string token = (temp_.path() / "token").string();
  std::string toml =
      "[node]\nname = \"" + me.name + "\"\naddress = \"127.0.0.1\"\nrole = \"" + (i == 0 ? "primary" : "secondary") +
      "\"\ndata_dir = \"" + (me.dir / "data").string() + "\"\n\n[peer]\nname = \"" + peer.name +
      "\"\naddress = \"127.0.0.1\"\napi_url = \"http://127.0.0.1:" + std::to_string(peer.port) + "\"\ntoken_file = \"" +
      token + "\"\n\n[api]\nlisten = \"127.0.0.1:" + std::to_string(me.port) + "\"\ntoken_file = \"" + token +
      "\"\n\n[plugins]\nsearch_dirs = [\"" TANDEM_PLUGIN_DIR "\"]\n\n[failover]\nmode = \"automatic\"\n" +
      failover_extra_ + "\n[dcs]\nendpoints = " + endpoints_toml_ + "\nttl = \"" + std::to_string(ttl_.count()) +
      "s\"\nprefix = \"/pair\"\n" + dcs_extra_ + "\n" + stores_toml(i);
  sdk::atomic_write_file(me.dir / "tandem.toml", toml, 0644);
}

void AutoFailoverPair::start(int i) {
  Node& n = nodes_[i];
  sdk::ChildSpec spec;
  spec.argv = {TANDEMD_BIN, "--config", (n.dir / "tandem.toml").string()};
  spec.log_file = n.dir / "tandemd.log";
  n.daemon = testsupport::start_background(spec);
  ASSERT_TRUE(sdk::testing::eventually([&] { return ask(n.port, "/v1/status").status == 200; }, 60s))
      << n.name << " did not come up: " << n.daemon.log_tail();
}

void AutoFailoverPair::start_pair(std::chrono::seconds ttl) {
  ttl_ = ttl;
  for (int i = 0; i < 2; ++i) write_config(i);
  start(0);
  ASSERT_TRUE(holds_key(0)) << "the primary does not hold the leader key after start: " << status(0).dump();
  start(1);
  // The peer monitors' first polls.
  ASSERT_TRUE(sdk::testing::eventually(
      [&] {
        auto s = status(1);
        return s.is_object() && s["peer"].value("reachable", false);
      },
      15s));
}

nlohmann::json AutoFailoverPair::status(int i) {
  auto r = ask(nodes_[i].port, "/v1/status");
  if (r.status != 200) return nlohmann::json();
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

bool AutoFailoverPair::is_primary(int i) {
  auto s = status(i);
  return s.is_object() && s.value("role", "") == "primary" && !s.value("fenced", false);
}

bool AutoFailoverPair::holds_key(int i) {
  auto s = status(i);
  return s.is_object() && s.contains("failover") && s["failover"].value("holds_leader_key", false);
}

nlohmann::json AutoFailoverPair::store_health(int i, const std::string& name) {
  auto s = status(i);
  if (s.is_object() && s.contains("stores"))
    for (const auto& st : s["stores"])
      if (st.value("name", "") == name) return st.value("health", nlohmann::json::object());
  return nlohmann::json::object();
}

bool AutoFailoverPair::takeover_refused_soon(int i) {
  return sdk::testing::eventually(
      [&] {
        auto s = status(i);
        return s.is_object() && s["failover"].value("takeover_refused", false);
      },
      ttl_ + 15s);
}

void AutoFailoverPair::expect_stays_secondary(int i, std::chrono::milliseconds how_long, const std::string& what) {
  const auto until = Clock::now() + how_long;
  while (Clock::now() < until) {
    ASSERT_NE(primary_check(i), 200) << nodes_[i].name << " took over " << what << ": " << status(i).dump() << logs();
    std::this_thread::sleep_for(250ms);
  }
}

sdk::ProcessResult AutoFailoverPair::ctl(int i, const std::vector<std::string>& args) {
  sdk::ProcessSpec spec;
  spec.argv = {TANDEMCTL_BIN, "--config", (nodes_[i].dir / "tandem.toml").string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = 120s;
  auto r = sdk::run_process(spec);
  if (!r) throw std::runtime_error("tandemctl did not run: " + r.message());
  return *r;
}

core::dcs::EtcdOptions AutoFailoverPair::etcd_client_options() const {
  core::dcs::EtcdOptions o;
  for (const auto& u : etcd_->client_urls()) o.endpoints.push_back(*sdk::net::parse_url(u));
  o.tls = etcd_client_tls_;
  return o;
}

core::dcs::LeaderRead AutoFailoverPair::etcd_view() {
  core::dcs::EtcdClient client(etcd_client_options());
  core::dcs::LeaderStore on_etcd(client, "/pair", kTtl);
  auto seen = on_etcd.read();
  if (!seen) throw std::runtime_error("the test cannot read etcd: " + seen.message());
  return *seen;
}

std::string AutoFailoverPair::logs() {
  std::string s;
  for (auto& n : nodes_) s += "\n--- " + n.name + ":\n" + n.daemon.log_tail(3000);
  return s;
}

}  // namespace tandem::autofailover_test
