#include "vip_commands.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <fstream>
#include <sstream>

#include "tandem/sdk/process.h"
#include "vip_output.h"

namespace tandem::virtual_ip {
namespace {

sdk::Result<sdk::ProcessResult> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  sdk::ProcessSpec spec;
  spec.argv = argv;
  spec.timeout = timeout;
  return sdk::run_process(spec);
}

std::string quoted(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + sdk::shell_quote(a);
  return out;
}

}  // namespace

std::optional<std::pair<std::string, int>> parse_ipv4_cidr(const std::string& text, std::string& why) {
  auto slash = text.find('/');
  std::string addr = text.substr(0, slash);
  in_addr parsed{};
  if (::inet_pton(AF_INET, addr.c_str(), &parsed) != 1) {
    why = "'" + addr + "' is not an IPv4 address (write e.g. \"10.0.0.50/24\")";
    return std::nullopt;
  }
  int prefix = 32;
  if (slash != std::string::npos) {
    std::string p = text.substr(slash + 1);
    if (p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos || std::stoi(p) < 1 ||
        std::stoi(p) > 32) {
      why = "prefix '/" + p + "' is not 1-32";
      return std::nullopt;
    }
    prefix = std::stoi(p);
  }
  return std::pair{addr, prefix};
}

sdk::Result<bool> holds(const VipTarget& t) {
  std::vector<std::string> argv = {t.ip, "-o", "-4", "addr", "show", "dev", t.interface};
  auto r = run(argv, std::chrono::seconds(5));
  if (!r) return r.error();
  if (!r->succeeded()) return sdk::Result<bool>::failure(quoted(argv) + ": " + r->describe());
  // "2: eth0    inet 10.0.0.50/24 scope global secondary eth0 ..."
  return lists_inet_address(r->stdout_text, t.address);
}

sdk::Result<std::string> acquire(const VipTarget& t) {
  auto held = holds(t);
  if (!held) return held.error();
  std::string did = "already held";
  if (!*held) {
    std::vector<std::string> add = {t.ip, "addr", "add", t.cidr(), "dev", t.interface};
    auto r = run(add, std::chrono::seconds(5));
    if (!r) return r.error();
    if (!r->succeeded()) return sdk::Result<std::string>::failure(quoted(add) + ": " + r->describe());
    did = "added " + t.cidr() + " on " + t.interface;
  }
  // Gratuitous ARP (-U: unsolicited, announcing our MAC): clients' and
  // switches' caches move now, not when their entries expire.
  std::vector<std::string> announce = {t.arping, "-U",        "-c",     std::to_string(t.announce_count),
                                       "-I",     t.interface, t.address};
  auto a = run(announce, std::chrono::seconds(t.announce_count + 5));
  if (!a) return a.error();
  // arping -U exits 1 when no reply comes back, which is normal for an announcement.
  if (a->timed_out || a->signal) return sdk::Result<std::string>::failure(quoted(announce) + ": " + a->describe());
  return did + ", announced (" + std::to_string(t.announce_count) + " gratuitous ARP)";
}

sdk::Result<std::string> release(const VipTarget& t) {
  auto held = holds(t);
  if (!held) return held.error();
  if (!*held) return std::string("not held");
  std::vector<std::string> del = {t.ip, "addr", "del", t.cidr(), "dev", t.interface};
  auto r = run(del, std::chrono::seconds(5));
  if (!r) return r.error();
  if (!r->succeeded()) return sdk::Result<std::string>::failure(quoted(del) + ": " + r->describe());
  return "removed " + t.cidr() + " from " + t.interface;
}

sdk::Result<std::vector<std::string>> other_holders(const VipTarget& t) {
  const auto seconds = std::max<long>(1, static_cast<long>((t.probe_timeout.count() + 999) / 1000));
  std::vector<std::string> argv = {t.arping, "-D",        "-c",     "2", "-w", std::to_string(seconds),
                                   "-I",     t.interface, t.address};
  auto r = run(argv, std::chrono::seconds(seconds + 5));
  if (!r) return r.error();
  if (r->timed_out || r->signal)
    return sdk::Result<std::vector<std::string>>::failure(quoted(argv) + ": " + r->describe());
  // "Unicast reply from 10.0.0.50 [02:AB:CD:EF:01:23]  0.612ms"
  auto macs = arp_reply_macs(r->stdout_text);
  if (macs.empty() && r->exit_code == 2)  // arping could not send (no such interface, not permitted)
    return sdk::Result<std::vector<std::string>>::failure(quoted(argv) + ": " + r->describe());
  return macs;
}

std::string own_mac(const VipTarget& t) {
  std::vector<std::string> argv = {t.ip, "-o", "link", "show", "dev", t.interface};
  auto r = run(argv, std::chrono::seconds(5));
  if (!r || !r->succeeded()) return "";
  return link_ether_mac(r->stdout_text);
}

}  // namespace tandem::virtual_ip
