#include "virtual_ip_plugin.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

namespace tandem::virtual_ip {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The local interface other than `except` that already has `address`; "" if none.
std::string local_interface_with(const std::string& address, const std::string& except) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i && found.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || except == i->ifa_name) continue;
    char buf[INET_ADDRSTRLEN];
    auto* in = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if (::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf) && address == buf) found = i->ifa_name;
  }
  ::freeifaddrs(list);
  return found;
}

}  // namespace

sdk::PluginInfo VirtualIpPlugin::info() const {
  // Name, version and description come from the TANDEM_PLUGIN manifest (export.cpp).
  return {.failover_order = 90, .default_sync_interval = "5s", .min_sync_interval = "1s"};
}

sdk::ConfigSchema VirtualIpPlugin::schema() const {
  using sdk::ValueType;
  return {
      {.name = "address",
       .type = ValueType::string,
       .required = true,
       .description = "the floating IPv4 address with its prefix, e.g. \"10.0.0.50/24\" (the clients' subnet)"},
      {.name = "interface",
       .type = ValueType::string,
       .required = true,
       .description = "the interface that carries it on this node, e.g. \"eth0\" (must exist)"},
      {.name = "announce_count",
       .type = ValueType::integer,
       .default_value = "3",
       .description = "gratuitous ARP replies sent when the address is taken (arping -U -c N)",
       .min = "1",
       .max = "20"},
      {.name = "probe_timeout",
       .type = ValueType::duration,
       .default_value = "1s",
       .description = "how long the duplicate-address probe (arping -D) waits for another holder",
       .min = "1s",
       .max = "10s"},
      {.name = "ip_command",
       .type = ValueType::string,
       .default_value = "ip",
       .description = "iproute2's ip (name in PATH or absolute path)"},
      {.name = "arping_command",
       .type = ValueType::string,
       .default_value = "arping",
       .description = "iputils' arping (package iputils-arping)"},
  };
}

sdk::Status VirtualIpPlugin::configure(const sdk::StoreConfig& config, sdk::HostContext& host) {
  host_ = &host;
  std::string why;
  auto cidr = parse_ipv4_cidr(config.string("address"), why);
  if (!cidr) return config.error("address", why);
  target_.address = cidr->first;
  target_.prefix = cidr->second;
  target_.interface = config.string("interface");
  if (target_.interface.empty() || ::if_nametoindex(target_.interface.c_str()) == 0)
    return config.error("interface",
                        "no interface named '" + target_.interface + "' on this host (`ip -o link` lists them)");
  if (target_.address == host.node().address || target_.address == host.peer().address)
    return config.error("address", target_.address + " is already in use: it is " +
                                       (target_.address == host.node().address ? "this node's" : "the peer's") +
                                       " own address; the floating address must be a free one");
  if (auto other = local_interface_with(target_.address, target_.interface); !other.empty())
    return config.error("address", target_.address + " is already in use on this host's interface " + other);
  target_.announce_count = static_cast<int>(config.integer("announce_count"));
  target_.probe_timeout = config.duration("probe_timeout");
  target_.ip = config.string("ip_command");
  target_.arping = config.string("arping_command");
  return {};
}

sdk::Status VirtualIpPlugin::start() {
  mac_ = own_mac(target_);
  auto r = converge();
  if (!r) return sdk::Status::failure(r.message());
  return {};
}

sdk::Result<std::string> VirtualIpPlugin::converge() {
  std::string did;
  if (should_hold()) {
    auto others = other_holders(target_);
    if (!others) return others.error();
    if (!others->empty()) {
      did = "not taking " + target_.address + ": also answered by " + join(*others);
    } else {
      auto r = acquire(target_);
      if (!r) return r.error();
      did = *r;
    }
  } else {
    // A secondary, and above all a fenced former primary, never holds it.
    auto r = release(target_);
    if (!r) return r.error();
    did = *r;
  }
  observe(did);
  return did;
}

void VirtualIpPlugin::observe(const std::string& last_action) {
  auto held = holds(target_);
  auto others = other_holders(target_);
  nlohmann::json details = {{"address", target_.cidr()},
                            {"interface", target_.interface},
                            {"mac", mac_},
                            {"held", held ? nlohmann::json(*held) : nlohmann::json(nullptr)},
                            {"other_holders", others ? nlohmann::json(*others) : nlohmann::json(nullptr)},
                            {"last_action", last_action}};
  sdk::Health h;
  if (!held || !others) {
    h = sdk::Health::make(sdk::HealthStatus::failed,
                          "cannot look at " + target_.address + ": " + (!held ? held.message() : others.message()));
  } else if (*held && !others->empty()) {
    details["conflict"] = true;
    h = sdk::Health::make(sdk::HealthStatus::failed,
                          "CONFLICT: " + target_.address + " is held here and also answered by " + join(*others));
  } else if (should_hold()) {
    h = *held ? sdk::Health::make(sdk::HealthStatus::ok, "holding " + target_.cidr() + " on " + target_.interface)
              : sdk::Health::make(sdk::HealthStatus::failed,
                                  "primary but not holding " + target_.address +
                                      (others->empty() ? "" : ": answered by " + join(*others)));
  } else if (*held) {
    h = sdk::Health::make(sdk::HealthStatus::failed, "holding " + target_.address + " but not an unfenced primary");
  } else {
    h = others->empty()
            ? sdk::Health::make(sdk::HealthStatus::degraded, "nobody answers for " + target_.address)
            : sdk::Health::make(sdk::HealthStatus::ok, "not holding " + target_.address + "; held by " + join(*others));
  }
  h.details = std::move(details);
  std::lock_guard l(mu_);
  health_ = std::move(h);
}

sdk::Result<sdk::SyncReport> VirtualIpPlugin::sync() {
  auto r = converge();
  if (!r) return r.error();
  return sdk::SyncReport{*r, nlohmann::json::object()};
}

sdk::Health VirtualIpPlugin::health() const {
  std::lock_guard l(mu_);
  return health_;
}

sdk::Result<sdk::PrepareReport> VirtualIpPlugin::prepare(const sdk::FailoverRequest& request) {
  sdk::PrepareReport r;
  r.plan = "take " + target_.cidr() + " on " + target_.interface + " last, announce it";
  r.loss_summary = "nothing (an address holds no data)";
  auto others = other_holders(target_);
  if (!others) return others.error();
  // In a switchover the old primary drops it before this node takes it.
  if (!others->empty() && request.kind == sdk::FailoverKind::failover) {
    r.ready = request.force;
    r.refusal = target_.address + " is still answered by " + join(*others) +
                ": the old primary still holds it; promote takes it only once nobody else answers";
  }
  return r;
}

sdk::Result<sdk::StepReport> VirtualIpPlugin::promote(const sdk::FailoverRequest&) {
  // Even when forced: two nodes answering for one address is what this store exists to prevent.
  auto others = other_holders(target_);
  if (!others) return others.error();
  if (!others->empty())
    return sdk::Result<sdk::StepReport>::failure(target_.address + " is still answered by " + join(*others) +
                                                 ": not taking it while another host holds it; stop that host's "
                                                 "copy (ip addr del) and run the promote again");
  auto r = acquire(target_);
  if (!r) return r.error();
  observe(*r);
  return sdk::StepReport{r->rfind("already", 0) != 0, *r, {{"address", target_.cidr()}, {"mac", mac_}}};
}

sdk::Result<sdk::StepReport> VirtualIpPlugin::demote(const sdk::FailoverRequest&) {
  auto r = release(target_);
  if (!r) return r.error();
  observe(*r);
  return sdk::StepReport{r->rfind("removed", 0) == 0, *r, nlohmann::json::object()};
}

sdk::Result<sdk::StepReport> VirtualIpPlugin::rejoin(const sdk::FailoverRequest& request) { return demote(request); }

void VirtualIpPlugin::on_role_change(sdk::Role, std::uint64_t) {
  // Fenced or demoted: drop it at once, not at the next sync; promoted: hold it (idempotent).
  (void)converge();
}

}  // namespace tandem::virtual_ip
