#include "intent_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/crc.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "plugin_util.h"
#include "resp.h"
#include "tandem/sdk/file_util.h"

namespace tandem::kv {
namespace {

constexpr std::uint32_t kMagic = 0x49564b54;  // "TKVI"
constexpr std::size_t kHeader = 24;           // magic, length, crc, reserved, watermark (u64)
constexpr std::uint32_t kAllKeys = 0xffffffffu;
// Past this size the file in use is swapped for the other one (when that one
// holds only settled intents), so the two files stay small.
constexpr std::uint64_t kRotateSize = 1u << 20;

void put32(std::string& s, std::uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put64(std::string& s, std::uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
std::uint32_t crc_of(std::uint64_t watermark, std::string_view payload) {
  boost::crc_32_type crc;
  crc.process_bytes(&watermark, 8);
  crc.process_bytes(payload.data(), payload.size());
  return crc.checksum();
}

std::runtime_error io_error(const std::string& what, const std::filesystem::path& p) {
  return std::runtime_error(what + " " + p.string() + ": " + std::strerror(errno));
}

struct Entry {
  std::uint64_t seq;
  bool all;
  std::vector<std::string> keys;
};

// Every whole record of one file: its entries and the highest watermark seen.
void read_file(const std::filesystem::path& path, std::vector<Entry>& entries, std::uint64_t& watermark) {
  std::string data;
  try {
    if (!std::filesystem::exists(path)) return;
    data = sdk::read_file(path);
  } catch (const std::exception&) {
    return;
  }
  std::size_t off = 0;
  while (off + kHeader <= data.size()) {
    const char* h = data.data() + off;
    if (get_u32(h) != kMagic) break;
    std::uint32_t len = get_u32(h + 4);
    if (off + kHeader + len > data.size()) break;  // torn tail: never sent
    std::uint64_t wm = get_u64(h + 16);
    std::string_view payload(data.data() + off + kHeader, len);
    if (crc_of(wm, payload) != get_u32(h + 8)) break;
    watermark = std::max(watermark, wm);
    std::size_t p = 0;
    while (p + 12 <= payload.size()) {
      Entry e;
      e.seq = get_u64(payload.data() + p);
      std::uint32_t n = get_u32(payload.data() + p + 8);
      p += 12;
      e.all = n == kAllKeys;
      if (e.all) n = 0;
      for (std::uint32_t i = 0; i < n && p + 4 <= payload.size(); ++i) {
        std::uint32_t klen = get_u32(payload.data() + p);
        p += 4;
        if (p + klen > payload.size()) break;
        e.keys.emplace_back(payload.substr(p, klen));
        p += klen;
      }
      entries.push_back(std::move(e));
    }
    off += kHeader + len;
  }
}

}  // namespace

void IntentKeys::add(std::string_view key) {
  std::uint32_t n = static_cast<std::uint32_t>(key.size());
  encoded.append(reinterpret_cast<const char*>(&n), 4);
  encoded.append(key);
  ++count;
}

bool IntentKeys::has_prefix(std::string_view prefix) const {
  return any_of([&](std::string_view key) { return key.substr(0, prefix.size()) == prefix; });
}

bool IntentKeys::overlaps(const IntentKeys& other) const {
  if (all || other.all) return true;
  return any_of([&](std::string_view a) { return other.any_of([&](std::string_view b) { return a == b; }); });
}

IntentLog::IntentLog(std::filesystem::path dir, JournalFsync fsync) : dir_(std::move(dir)), fsync_(fsync) {}

IntentLog::~IntentLog() { close(); }

std::filesystem::path IntentLog::file(int i) const { return dir_ / ("intent." + std::to_string(i) + ".log"); }

PendingIntents IntentLog::recover() const {
  std::vector<Entry> entries;
  std::uint64_t watermark = 0;
  read_file(file(0), entries, watermark);
  read_file(file(1), entries, watermark);
  PendingIntents out;
  for (auto& e : entries) {
    if (e.seq < watermark) continue;  // settled before the last batch was written
    ++out.writes;
    if (e.all) out.all = true;
    for (auto& k : e.keys) out.keys.insert(std::move(k));
  }
  return out;
}

void IntentLog::start_fresh() {
  close();
  std::filesystem::create_directories(dir_);
  std::error_code ignored;
  std::filesystem::remove(file(1), ignored);
  fd_ = ::open(file(0).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) throw io_error("cannot open intent log", file(0));
  // The emptied files must stay empty across a power loss only as far as the
  // next start goes: stale intents there would just be reconciled again.
  current_ = 0;
  size_ = 0;
  other_max_seq_ = current_max_seq_ = 0;
  next_seq_ = settled_base_ = 1;
  settled_.clear();
  buf_.clear();
  unsynced_ = false;
}

void IntentLog::close() {
  if (fd_ < 0) return;
  try {
    flush();
    sync_now();
  } catch (const std::exception&) {
    // Closing after a failed write: the next start reads what reached the file.
  }
  ::close(fd_);
  fd_ = -1;
}

std::uint64_t IntentLog::note(const IntentKeys& keys) {
  std::uint64_t seq = next_seq_++;
  put64(buf_, seq);
  put32(buf_, keys.all ? kAllKeys : keys.count);
  if (!keys.all) buf_.append(keys.encoded);
  settled_.push_back(false);
  current_max_seq_ = seq;
  return seq;
}

void IntentLog::done(std::uint64_t seq) {
  if (seq < settled_base_ || seq - settled_base_ >= settled_.size()) return;
  settled_[seq - settled_base_] = true;
  while (!settled_.empty() && settled_.front()) {
    settled_.pop_front();
    ++settled_base_;
  }
}

void IntentLog::write_all(const std::string& bytes) {
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t w = ::write(fd_, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int saved = errno;
      (void)!::ftruncate(fd_, static_cast<off_t>(size_));  // keep whole records only
      errno = saved;
      throw io_error("cannot append to intent log", file(current_));
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  size_ += bytes.size();
}

void IntentLog::flush() {
  if (fd_ < 0 || buf_.empty()) return;
  rotate_if_needed();
  std::uint64_t watermark = settled_base_;  // every intent below it is settled
  std::string rec;
  rec.reserve(kHeader + buf_.size());
  put32(rec, kMagic);
  put32(rec, static_cast<std::uint32_t>(buf_.size()));
  put32(rec, crc_of(watermark, buf_));
  put32(rec, 0);
  put64(rec, watermark);
  rec.append(buf_);
  buf_.clear();
  write_all(rec);
  unsynced_ = true;
  if (fsync_ == JournalFsync::always) sync_now();
}

void IntentLog::sync_now() {
  if (!unsynced_ || fd_ < 0) return;
  if (::fdatasync(fd_) != 0) throw io_error("cannot fdatasync intent log", file(current_));
  unsynced_ = false;
}

void IntentLog::rotate_if_needed() {
  if (size_ < kRotateSize) return;
  if (other_max_seq_ != 0 && other_max_seq_ >= settled_base_) return;  // the other file still matters
  int next = 1 - current_;
  int fd = ::open(file(next).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw io_error("cannot open intent log", file(next));
  // The old file's records stay until this one is rotated away again; the new
  // file's first record carries the current watermark, which covers them.
  sync_now();
  ::close(fd_);
  fd_ = fd;
  current_ = next;
  size_ = 0;
  other_max_seq_ = current_max_seq_;
}

// --- which keys a write touches -------------------------------------------

namespace {
bool is(std::string_view a, std::string_view upper_b) {
  if (a.size() != upper_b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != upper_b[i]) return false;
  return true;
}
bool is_any(std::string_view a, std::initializer_list<std::string_view> names) {
  for (auto n : names)
    if (is(a, n)) return true;
  return false;
}
long long to_count(std::string_view s) {
  long long v = 0;
  if (s.empty() || s.size() > 9) return -1;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}
}  // namespace

void collect_write_keys(const RespParser& cmd, IntentKeys& keys) {
  const std::size_t argc = cmd.size();
  if (argc == 0) return;
  std::string_view name = cmd.element(0);
  auto range = [&](std::size_t from, std::size_t to, std::size_t step) {
    for (std::size_t i = from; i < to && i < argc; i += step) keys.add(cmd.element(i));
  };
  // numkeys at `at`, then that many keys.
  auto counted = [&](std::size_t at) {
    if (at >= argc) return;
    long long n = to_count(cmd.element(at));
    if (n < 0) return;  // Redis rejects it; nothing is applied
    range(at + 1, at + 1 + static_cast<std::size_t>(n), 1);
  };
  if (is_any(name, {"DEL", "UNLINK", "PFMERGE", "PFCOUNT", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"})) {
    range(1, argc, 1);
  } else if (is_any(name, {"MSET", "MSETNX"})) {
    range(1, argc, 2);
  } else if (is(name, "BITOP")) {
    range(2, argc, 1);
  } else if (is_any(name, {"LMOVE", "RPOPLPUSH", "SMOVE", "RENAME", "RENAMENX", "COPY", "ZRANGESTORE"})) {
    range(1, 3, 1);
  } else if (is_any(name, {"LMPOP", "ZMPOP"})) {
    counted(1);
  } else if (is_any(name, {"BLMPOP", "BZMPOP"})) {
    counted(2);
  } else if (is_any(name, {"BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"})) {
    range(1, argc - 1, 1);  // the last argument is the timeout
  } else if (is_any(name, {"BLMOVE", "BRPOPLPUSH"})) {
    range(1, 3, 1);
  } else if (is_any(name, {"ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"})) {
    range(1, 2, 1);
    counted(2);
  } else if (is(name, "SORT")) {
    range(1, 2, 1);
    for (std::size_t i = 2; i + 1 < argc; ++i)
      if (is(cmd.element(i), "STORE")) keys.add(cmd.element(i + 1));
  } else if (is_any(name, {"EVAL", "EVALSHA", "FCALL"})) {
    // A script's declared KEYS (standalone Redis lets it write others too:
    // README "Scripts and functions" says what that means for each use).
    counted(2);
  } else if (is(name, "XREADGROUP")) {
    // The keys after STREAMS: the first half of what follows it.
    for (std::size_t i = 1; i < argc; ++i)
      if (is(cmd.element(i), "STREAMS")) {
        range(i + 1, i + 1 + (argc - i - 1) / 2, 1);
        break;
      }
  } else if (is(name, "XGROUP")) {
    range(2, 3, 1);  // XGROUP <subcommand> key ...
  } else if (is_any(name, {"SCRIPT", "FUNCTION"})) {
    // Scripts and function libraries, not keys.
  } else if (is_any(name, {"FLUSHDB", "FLUSHALL", "SWAPDB"})) {
    keys.all = true;
  } else if (argc >= 2) {
    // Every other write the endpoint passes (SET, INCR, HSET, LPUSH, ZADD,
    // EXPIRE, RESTORE, SPOP, ...) touches exactly its first argument.
    keys.add(cmd.element(1));
  }
}

}  // namespace tandem::kv
