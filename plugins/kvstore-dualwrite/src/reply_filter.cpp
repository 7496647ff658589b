#include "reply_filter.h"

#include <cctype>
#include <vector>

namespace tandem::kv {

bool is_secret_config(std::string_view name) {
  static constexpr std::string_view kSecret[] = {"requirepass",
                                                 "masterauth",
                                                 "masteruser",
                                                 "tls-key-file",
                                                 "tls-key-file-pass",
                                                 "tls-client-key-file",
                                                 "tls-client-key-file-pass",
                                                 "aclfile",
                                                 "sentinel-pass"};
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto s : kSecret)
    if (lower == s) return true;
  return false;
}

void filter_config_get_reply(const RespParser& r, std::string& out) {
  out.clear();
  if (r.type() != RespType::array) {
    out.assign(r.bytes());
    return;
  }
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i + 1 < r.size(); i += 2)
    if (!is_secret_config(r.element(i))) kept.push_back(i);
  append_array_header(out, kept.size() * 2);
  for (auto i : kept) {
    append_bulk(out, r.element(i));
    append_bulk(out, r.element(i + 1));
  }
}

}  // namespace tandem::kv
