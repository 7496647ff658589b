#include "effect.h"

#include <cctype>

#include "resp.h"

namespace tandem::kv {

namespace {
bool is(std::string_view a, std::string_view upper) {
  if (a.size() != upper.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != upper[i]) return false;
  return true;
}
}  // namespace

std::size_t xadd_id_index(const std::vector<std::string_view>& argv) {
  // XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] id field value ...
  // Redis accepts the options in any order and repeated; the first argument
  // that is none of them is the id.
  std::size_t i = 2;
  while (i < argv.size()) {
    if (is(argv[i], "NOMKSTREAM")) {
      ++i;
    } else if (is(argv[i], "MAXLEN") || is(argv[i], "MINID")) {
      ++i;
      if (i < argv.size() && (argv[i] == "=" || argv[i] == "~")) ++i;
      ++i;  // the threshold
    } else if (is(argv[i], "LIMIT")) {
      i += 2;
    } else {
      return i;
    }
  }
  return 0;
}

bool xadd_id_is_generated(std::string_view id) {
  return id == "*" || (id.size() >= 2 && id.substr(id.size() - 2) == "-*");
}

std::string effect_request(const Effect& e, const RespParser& r) {
  std::vector<std::string_view> argv(e.argv.begin(), e.argv.end());
  if (e.kind == Effect::srem_popped) {
    if (r.type() == RespType::string)
      argv.push_back(r.payload());
    else if (r.type() == RespType::array)
      for (std::size_t i = 0; i < r.size(); ++i) argv.push_back(r.element(i));
    if (argv.size() == 2) return {};
  } else if (e.kind == Effect::xadd_id) {
    if (r.type() != RespType::string || e.slot == 0 || e.slot >= argv.size()) return {};
    argv[e.slot] = r.payload();
  } else {
    return {};
  }
  std::string out;
  append_command(out, argv);
  return out;
}

std::string block_with_effects(std::string_view block, const std::vector<QueuedEffect>& effects,
                               const RespParser& exec) {
  std::string out;
  std::size_t at = 0;
  for (const auto& q : effects) {
    out.append(block.substr(at, q.begin - at));
    at = q.end;
    std::string replaced;
    if (q.index < exec.size()) {
      // One element of EXEC's reply as a message of its own.
      std::string encoding;
      RespType t = exec.element_type(q.index);
      if (t == RespType::string)
        append_bulk(encoding, exec.element(q.index));
      else if (t == RespType::array)
        encoding.assign(exec.element(q.index));
      RespParser one;
      one.feed(encoding.data(), encoding.size());
      if (!encoding.empty() && one.next() == RespParser::Next::message) replaced = effect_request(q.effect, one);
    }
    if (replaced.empty())
      out.append(block.substr(q.begin, q.end - q.begin));
    else
      out += replaced;
  }
  out.append(block.substr(at));
  return out;
}

}  // namespace tandem::kv
