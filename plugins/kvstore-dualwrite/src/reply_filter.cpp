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
  if (r.type_byte() == '%') {  // RESP3: a map of name -> value
    out += '%';
    out += std::to_string(kept.size());
    out += "\r\n";
  } else {
    append_array_header(out, kept.size() * 2);
  }
  for (auto i : kept) {
    append_bulk(out, r.element(i));
    append_bulk(out, r.element(i + 1));
  }
}

void info_with_blocked_clients(const RespParser& r, std::size_t blocked, std::string& out) {
  out.assign(r.bytes());
  if (r.type() != RespType::string) return;
  std::string_view text = r.payload();
  constexpr std::string_view kField = "\r\nblocked_clients:";
  auto at = text.find(kField);
  if (at == std::string_view::npos) return;
  at += kField.size();
  auto end = text.find("\r\n", at);
  if (end == std::string_view::npos) return;
  std::string changed;
  changed.reserve(text.size() + 8);
  changed.append(text.substr(0, at));
  changed += std::to_string(blocked);
  changed.append(text.substr(end));
  out.clear();
  if (r.type_byte() == '=') {  // RESP3 verbatim string: "txt:" is part of the payload
    out += '=';
    out += std::to_string(changed.size());
    out += "\r\n";
    out += changed;
    out += "\r\n";
  } else {
    append_bulk(out, changed);
  }
}

}  // namespace tandem::kv
