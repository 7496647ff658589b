// Fuzz target: the KV endpoint's RESP request parsing, as a client session
// drives it (plugins/kvstore-dualwrite/src/session.cpp): bytes arrive in
// arbitrary chunks, complete messages are taken one by one until the stream
// is incomplete or broken, each command is looked up in the command table
// and relative expiries are rewritten to absolute ones.
//
// Invariants: the parser never reads or slices outside what it holds; a
// message's canonical encoding parses back to itself; a rewritten expiry
// command is a well-formed RESP array of bulk strings.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "command_table.h"
#include "expiry_rewrite.h"
#include "fuzz_check.h"
#include "resp.h"

namespace {

using tandem::kv::RespParser;
using tandem::kv::RespType;

// The endpoint's default max_request_size; a session closes beyond it.
constexpr std::size_t kMaxBuffered = 512 * 1024 * 1024;

// One complete message parsed alone from `bytes` (the canonical encoding).
std::string reparse(std::string_view bytes) {
  RespParser again;
  again.feed(bytes.data(), bytes.size());
  FUZZ_CHECK(again.next() == RespParser::Next::message, "a canonical encoding parses as one message");
  return std::string(again.bytes());
}

void check_message(const RespParser& p) {
  std::string_view bytes = p.bytes();
  FUZZ_CHECK(!bytes.empty(), "a message has an encoding");
  FUZZ_CHECK(reparse(bytes) == bytes, "the canonical encoding is stable");
  if (p.type() == RespType::string || p.type() == RespType::status || p.type() == RespType::error) (void)p.payload();
  if (p.type() != RespType::array) return;
  std::vector<std::string_view> argv;
  bool all_strings = true;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p.element_type(i) != RespType::string) all_strings = false;
    argv.push_back(p.element(i));
  }
  if (!all_strings || argv.empty()) return;
  const tandem::kv::CommandInfo* info = tandem::kv::find_command(argv[0]);
  if (!info || info->cls != tandem::kv::CommandClass::expiry) return;
  std::string out;
  if (tandem::kv::rewrite_expiry(argv, 1'700'000'000'000LL, out) == tandem::kv::RewriteOutcome::rewritten) {
    RespParser check;
    check.feed(out.data(), out.size());
    FUZZ_CHECK(check.next() == RespParser::Next::message, "a rewritten command parses");
    FUZZ_CHECK(check.type() == RespType::array && check.bytes() == out, "a rewritten command is one RESP array");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first byte chooses the chunk size, so partial reads are exercised too.
  if (size == 0) return 0;
  std::size_t chunk = 1 + data[0] % 64;
  const char* p = reinterpret_cast<const char*>(data + 1);
  std::size_t left = size - 1;
  RespParser parser;
  while (left > 0) {
    std::size_t n = chunk < left ? chunk : left;
    parser.feed(p, n);
    p += n;
    left -= n;
    for (;;) {
      RespParser::Next next = parser.next();
      if (next == RespParser::Next::protocol_error) {
        FUZZ_CHECK(!parser.error_text().empty(), "a protocol error says what is wrong");
        return 0;  // the session answers the error and closes
      }
      if (next == RespParser::Next::incomplete) {
        if (parser.buffered() > kMaxBuffered) return 0;
        break;
      }
      check_message(parser);
    }
  }
  return 0;
}
