// The commands virtual-ip runs, through the SDK's process layer: iproute2's
// `ip` to add, remove and list the address, iputils' `arping` to announce it
// (gratuitous ARP) and to find who else answers for it (duplicate detection).
// Each call runs in the calling thread's network namespace.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tandem/sdk/result.h"

namespace tandem::virtual_ip {

struct VipTarget {
  std::string interface;  // "eth0"
  std::string address;    // "10.0.0.50"
  int prefix = 32;        // from "10.0.0.50/24"
  std::string ip = "ip";
  std::string arping = "arping";
  std::chrono::milliseconds probe_timeout{std::chrono::seconds(1)};
  int announce_count = 3;
  std::string cidr() const { return address + "/" + std::to_string(prefix); }
};

// "10.0.0.50/24" -> address and prefix; nullopt (and why) when malformed.
std::optional<std::pair<std::string, int>> parse_ipv4_cidr(const std::string& text, std::string& why);

// The address is on the interface now.
sdk::Result<bool> holds(const VipTarget& t);
// Adds the address (idempotent) and announces it; what was done.
sdk::Result<std::string> acquire(const VipTarget& t);
// Removes the address (idempotent); what was done.
sdk::Result<std::string> release(const VipTarget& t);
// The MAC addresses of the other hosts answering ARP for the address on the
// interface (arping -D: duplicate address detection, source 0.0.0.0, so this
// host's own copy never answers). Empty when nobody else does.
sdk::Result<std::vector<std::string>> other_holders(const VipTarget& t);
// This host's MAC on the interface ("" when unknown).
std::string own_mac(const VipTarget& t);

}  // namespace tandem::virtual_ip
