// Reading what `ip` and `arping` print. Plain string scans, not std::regex:
// the formats are fixed, and GCC's <regex> under -O1 with sanitizers warns
// from inside libstdc++ (-Wmaybe-uninitialized), which we keep at zero.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem::virtual_ip {

// `ip -o -4 addr show dev IF` lists `address` ("... inet 10.0.0.50/24 ...").
// A longer address with the same prefix ("10.0.0.5" vs "10.0.0.50") does not count.
bool lists_inet_address(std::string_view ip_output, std::string_view address);

// The MACs in arping's "... reply from 10.0.0.50 [02:AB:CD:EF:01:23] ..." lines,
// lower-cased, each once, sorted.
std::vector<std::string> arp_reply_macs(std::string_view arping_output);

// The MAC after "link/ether " in `ip -o link show dev IF`; "" when none.
std::string link_ether_mac(std::string_view ip_output);

}  // namespace tandem::virtual_ip
