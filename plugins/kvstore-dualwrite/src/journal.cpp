#include "journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/crc.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>

#include "plugin_util.h"
#include "tandem/sdk/file_util.h"

namespace tandem::kv {
namespace {

constexpr std::uint32_t kMagic = 0x4a564b54;  // "TKVJ"
constexpr std::size_t kHeader = 32;

// CRC over header bytes 4..28 (length, seq, time, replies) and the payload.
std::uint32_t record_crc(const char* header, std::string_view payload) {
  boost::crc_32_type crc;
  crc.process_bytes(header + 4, 24);
  crc.process_bytes(payload.data(), payload.size());
  return crc.checksum();
}

std::runtime_error io_error(const std::string& what, const std::filesystem::path& p) {
  return std::runtime_error(what + " " + p.string() + ": " + std::strerror(errno));
}

bool pread_all(int fd, char* buf, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<std::uint64_t>(r);
  }
  return true;
}

// Parses one record at `off`; nullopt when it is torn or corrupt.
std::optional<JournalRecord> read_record(int fd, std::uint64_t off, std::uint64_t file_size) {
  if (off + kHeader > file_size) return std::nullopt;
  char h[kHeader];
  if (!pread_all(fd, h, kHeader, off)) return std::nullopt;
  if (get_u32(h) != kMagic) return std::nullopt;
  std::uint32_t len = get_u32(h + 4);
  if (off + kHeader + len > file_size) return std::nullopt;
  JournalRecord rec;
  rec.seq = get_u64(h + 8);
  rec.time_ms = static_cast<std::int64_t>(get_u64(h + 16));
  rec.replies = get_u32(h + 24);
  rec.payload.resize(len);
  if (len && !pread_all(fd, rec.payload.data(), len, off + kHeader)) return std::nullopt;
  if (record_crc(h, rec.payload) != get_u32(h + 28)) return std::nullopt;
  rec.end_offset = off + kHeader + len;
  return rec;
}

}  // namespace

Journal::Journal(std::filesystem::path dir, JournalFsync fsync, std::uint64_t max_size)
    : dir_(std::move(dir)),
      file_(dir_ / "journal.log"),
      cursor_file_(dir_ / "journal.cursor"),
      fsync_(fsync),
      max_size_(max_size) {}

Journal::~Journal() { close(); }

void Journal::close() {
  if (fd_ >= 0) {
    if (unsynced_) ::fdatasync(fd_);
    ::close(fd_);
    fd_ = -1;
  }
}

void Journal::open() {
  close();
  std::filesystem::create_directories(dir_);
  load_or_make_id();
  fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) throw io_error("cannot open journal", file_);
  off_t end = ::lseek(fd_, 0, SEEK_END);
  if (end < 0) throw io_error("cannot size journal", file_);
  std::uint64_t file_size = static_cast<std::uint64_t>(end);

  std::uint64_t cursor = 0;
  if (std::filesystem::exists(cursor_file_)) {
    try {
      cursor = std::stoull(sdk::read_file(cursor_file_));
    } catch (const std::exception&) {
      cursor = 0;  // unreadable cursor: replay everything (duplicates are safer than loss)
    }
  }
  last_seq_ = cursor;
  replayed_seq_ = cursor;
  replay_offset_ = 0;
  bool found_unreplayed = false;
  std::uint64_t off = 0;
  while (off < file_size) {
    auto rec = read_record(fd_, off, file_size);
    if (!rec) break;
    if (rec->seq <= cursor) {
      replay_offset_ = rec->end_offset;
    } else if (!found_unreplayed) {
      found_unreplayed = true;
      oldest_unreplayed_ms_ = rec->time_ms;
    }
    if (rec->seq > last_seq_) last_seq_ = rec->seq;
    off = rec->end_offset;
  }
  if (off < file_size) {
    // A torn or corrupt tail: a record whose append never completed (crash).
    // Its write was never acknowledged, so cutting it loses nothing promised.
    if (::ftruncate(fd_, static_cast<off_t>(off)) != 0) throw io_error("cannot cut torn tail of", file_);
    ::fdatasync(fd_);
  }
  size_ = off;
  if (!found_unreplayed && size_ > 0) {
    // Everything in the file was replayed before a crash: start clean.
    reset_after_replay();
  }
}

void Journal::load_or_make_id() {
  auto path = dir_ / "journal.id";
  if (std::filesystem::exists(path)) {
    id_ = sdk::read_file(path);
    while (!id_.empty() && (id_.back() == '\n' || id_.back() == '\r')) id_.pop_back();
    if (!id_.empty() && id_.find_first_not_of("0123456789abcdef") == std::string::npos) return;
  }
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  id_ = buf;
  sdk::atomic_write_file(path, id_, 0600);
}

std::uint64_t Journal::append(std::string_view payload, std::uint32_t replies, std::int64_t time_ms) {
  if (fd_ < 0) throw std::runtime_error("journal is not open");
  std::string rec(kHeader, '\0');
  put_u32(rec.data(), kMagic);
  put_u32(rec.data() + 4, static_cast<std::uint32_t>(payload.size()));
  put_u64(rec.data() + 8, last_seq_ + 1);
  put_u64(rec.data() + 16, static_cast<std::uint64_t>(time_ms));
  put_u32(rec.data() + 24, replies);
  put_u32(rec.data() + 28, record_crc(rec.data(), payload));
  rec.append(payload);
  const char* p = rec.data();
  std::size_t left = rec.size();
  while (left > 0) {
    ssize_t w = ::write(fd_, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      // Cut what was partially written so the file stays a sequence of whole records.
      int saved = errno;
      (void)!::ftruncate(fd_, static_cast<off_t>(size_));
      errno = saved;
      throw io_error("cannot append to journal", file_);
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  if (empty()) oldest_unreplayed_ms_ = time_ms;
  size_ += rec.size();
  ++last_seq_;
  unsynced_ = true;
  return last_seq_;
}

void Journal::commit() {
  if (fsync_ == JournalFsync::always) sync_now();
}

void Journal::sync_now() {
  if (!unsynced_ || fd_ < 0) return;
  if (::fdatasync(fd_) != 0) throw io_error("cannot fdatasync journal", file_);
  unsynced_ = false;
}

std::vector<JournalRecord> Journal::read_from(std::uint64_t offset, std::size_t max_records) const {
  std::vector<JournalRecord> out;
  while (out.size() < max_records && offset < size_) {
    auto rec = read_record(fd_, offset, size_);
    if (!rec) throw std::runtime_error("journal " + file_.string() + " is corrupt at offset " + std::to_string(offset));
    offset = rec->end_offset;
    out.push_back(std::move(*rec));
  }
  return out;
}

void Journal::mark_replayed(std::uint64_t seq, std::uint64_t end_offset, std::optional<std::int64_t> next_time_ms) {
  replayed_seq_ = seq;
  replay_offset_ = end_offset;
  if (next_time_ms) oldest_unreplayed_ms_ = *next_time_ms;
  if (++replayed_since_persist_ >= 1000) persist_cursor();
}

void Journal::persist_cursor() {
  replayed_since_persist_ = 0;
  sdk::atomic_write_file(cursor_file_, std::to_string(replayed_seq_), 0600);
}

void Journal::reset_after_replay() {
  // Cursor first: if we crash after it, the records it covers are skipped at
  // open; if we crash before it, they are replayed again (never lost).
  replayed_seq_ = last_seq_;
  persist_cursor();
  if (::ftruncate(fd_, 0) != 0) throw io_error("cannot truncate journal", file_);
  ::fdatasync(fd_);
  size_ = 0;
  replay_offset_ = 0;
  unsynced_ = false;
}

std::uint64_t Journal::discard(std::int64_t now_ms, std::filesystem::path* aside) {
  std::uint64_t dropped = depth();
  if (size_ > 0) {
    close();
    auto to = dir_ / ("journal.discarded-" + std::to_string(now_ms) + ".log");
    std::filesystem::rename(file_, to);
    if (aside) *aside = to;
    open();
  }
  replayed_seq_ = last_seq_;
  persist_cursor();
  return dropped;
}

}  // namespace tandem::kv
