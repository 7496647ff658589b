#include "vip_output.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace tandem::virtual_ip {
namespace {

constexpr std::size_t kMacLength = 17;  // "02:ab:cd:ef:01:23"

// Six pairs of hex digits separated by ':'.
bool is_mac(std::string_view s) {
  if (s.size() != kMacLength) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool colon_place = i % 3 == 2;
    if (colon_place ? s[i] != ':' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool starts_word(std::string_view text, std::size_t at) {
  return at == 0 || std::isspace(static_cast<unsigned char>(text[at - 1]));
}

}  // namespace

bool lists_inet_address(std::string_view ip_output, std::string_view address) {
  const std::string needle = "inet " + std::string(address) + "/";
  for (auto at = ip_output.find(needle); at != std::string_view::npos; at = ip_output.find(needle, at + 1))
    if (starts_word(ip_output, at)) return true;
  return false;
}

std::vector<std::string> arp_reply_macs(std::string_view out) {
  constexpr std::string_view kReply = "reply from ";
  std::set<std::string> macs;
  for (auto at = out.find(kReply); at != std::string_view::npos; at = out.find(kReply, at + 1)) {
    const auto from = at + kReply.size();
    const auto line_end = out.find('\n', from);
    auto line = out.substr(from, line_end == std::string_view::npos ? out.npos : line_end - from);
    // "10.0.0.50 [02:AB:CD:EF:01:23]  0.612ms"
    auto open = line.find(" [");
    if (open == std::string_view::npos || line.size() < open + 2 + kMacLength + 1) continue;
    auto mac = line.substr(open + 2, kMacLength);
    if (line[open + 2 + kMacLength] == ']' && is_mac(mac)) macs.insert(lower(mac));
  }
  return {macs.begin(), macs.end()};
}

std::string link_ether_mac(std::string_view out) {
  constexpr std::string_view kEther = "link/ether ";
  auto at = out.find(kEther);
  if (at == std::string_view::npos) return "";
  auto mac = out.substr(at + kEther.size(), kMacLength);
  return is_mac(mac) ? lower(mac) : "";
}

}  // namespace tandem::virtual_ip
