#include "haproxy_front.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <sstream>
#include <stdexcept>

#include "support/netns_scope.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::e2e {

std::string HealthCheckTiming::describe() const {
  return "inter " + std::to_string(inter.count()) + "ms fall " + std::to_string(fall) + " rise " + std::to_string(rise);
}

HaproxyFront::HaproxyFront(PairWorld& pair, HealthCheckTiming timing) : timing_(timing) {
  const PairNode& a = pair.node(0);
  netns_ = a.host().client_netns;
  // In namespaces the client namespace has its own address; on loopback, 127.0.0.1.
  std::string bind = pair.net() ? pair.net()->address(testsupport::NetnsWorld::kClient) : "127.0.0.1";
  target_ = LoadTarget{netns_, bind, sdk::testing::free_port(), sdk::testing::free_port()};
  // The nodes' APIs speak HTTPS and require a client certificate (mutual
  // TLS): HAProxy presents the client's, certificate and key in one file.
  const NodeTls tls = pair.client_tls();
  const auto crt = dir_.path() / "check-client.pem";
  sdk::atomic_write_file(crt, sdk::read_file(tls.cert) + sdk::read_file(tls.key), 0600);
  std::ostringstream cfg;
  cfg << "global\n"
         "    stats socket "
      << (dir_.path() / "stats.sock").string()
      << " mode 600 level admin\n"
         "defaults\n"
         "    mode tcp\n"
         "    timeout connect 2s\n"
         "    timeout client 60s\n"
         "    timeout server 60s\n"
         "    timeout check 1s\n";
  auto listen = [&](const char* name, int port, const std::string& check_uri, auto service_port) {
    cfg << "listen " << name << "\n"
        << "    bind " << bind << ":" << port << "\n"
        << "    option httpchk\n"
        << "    http-check send meth OPTIONS uri " << check_uri << "\n"
        << "    http-check expect status 200\n"
        << "    default-server inter " << timing_.inter.count() << "ms fall " << timing_.fall << " rise "
        << timing_.rise << " on-marked-down shutdown-sessions\n";
    for (int i = 0; i < 2; ++i) {
      const PairNode& n = pair.node(i);
      cfg << "    server " << n.name() << " " << n.host().address << ":" << service_port(n) << " check port "
          << n.ports().api << " check-ssl verify required ca-file " << tls.ca.string() << " crt " << crt.string()
          << "\n";
    }
  };
  listen("pg", target_.pg_port, "/primary", [](const PairNode& n) { return n.pg().port(); });
  listen("kv", target_.kv_port, std::string("/v1/stores/") + kKvStore + "/primary",
         [](const PairNode& n) { return n.ports().kv_endpoint; });
  sdk::atomic_write_file(dir_.path() / "haproxy.cfg", cfg.str(), 0644);

  sdk::ChildSpec spec;
  spec.argv = {"/usr/sbin/haproxy", "-db", "-f", (dir_.path() / "haproxy.cfg").string()};
  spec.log_file = dir_.path() / "haproxy.log";
  {
    testsupport::NetnsScope in(netns_);  // the child is forked inside the client namespace
    auto st = haproxy_.start(spec);
    if (!st.ok()) throw std::runtime_error("cannot start haproxy: " + st.message());
  }
  bool listening = sdk::testing::eventually(
      [&] {
        testsupport::NetnsScope in(netns_);
        return haproxy_.running() && sdk::testing::wait_for_port(bind, target_.pg_port, std::chrono::seconds(1));
      },
      std::chrono::seconds(15));
  if (!listening) throw std::runtime_error("haproxy did not start listening:\n" + haproxy_.log_tail());
}

HaproxyFront::~HaproxyFront() { haproxy_.stop(std::chrono::seconds(5)); }

std::string HaproxyFront::up_servers(const std::string& backend) const {
  // "show servers state" on HAProxy's stats socket: each server's operational state (2 = up).
  const std::string path = (dir_.path() / "stats.sock").string();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "?";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return "?";
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  std::string answer;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string cmd = "show servers state " + backend + "\n";
    if (::write(fd, cmd.data(), cmd.size()) == static_cast<ssize_t>(cmd.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  std::string up;
  std::stringstream lines(answer);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::stringstream fields(line);
    std::string be_id, be_name, srv_id, srv_name, srv_addr, op_state;
    fields >> be_id >> be_name >> srv_id >> srv_name >> srv_addr >> op_state;
    if (be_name == backend && op_state == "2") up += (up.empty() ? "" : ",") + srv_name;
  }
  return up;
}

}  // namespace tandem::e2e
