// Fuzz target: the KV write journal's reader (plugins/kvstore-dualwrite/src/
// journal.cpp), which at open validates every record of journal.log, cuts a
// torn or corrupt tail and positions the replay cursor from journal.cursor.
//
// Input: byte 0 holds flags, then optionally the cursor file's text, then the
// journal file. Flag 1 repairs each record's CRC before writing (a fuzzer
// cannot guess CRC-32s, so without this it would only ever reach the "corrupt
// record" path); flag 2 takes the next byte as a length and that many bytes as
// journal.cursor.
//
// Invariants: open() either succeeds or throws std::runtime_error (never
// crashes); afterwards the kept file reads back whole from offset 0 and from
// the replay offset; an append after any recovered state is read back by the
// next open with the next sequence number.
#include <unistd.h>

#include <boost/crc.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

#include "fuzz_check.h"
#include "journal.h"

namespace {

namespace fs = std::filesystem;
using tandem::kv::Journal;
using tandem::kv::JournalFsync;

// The record layout journal.h documents: magic, length, seq, ms, replies, CRC.
constexpr std::size_t kHeader = 32;

void repair_crcs(std::string& file) {
  std::size_t off = 0;
  while (off + kHeader <= file.size()) {
    std::uint32_t len;
    std::memcpy(&len, file.data() + off + 4, 4);
    if (len > file.size() - off - kHeader) break;
    boost::crc_32_type crc;
    crc.process_bytes(file.data() + off + 4, 24);
    crc.process_bytes(file.data() + off + kHeader, len);
    std::uint32_t sum = crc.checksum();
    std::memcpy(file.data() + off + 28, &sum, 4);
    off += kHeader + len;
  }
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A directory of our own, on tmpfs when there is one (open() may fdatasync),
// removed at exit. The remover is built after the path, so it is destroyed
// before it and can still read it.
struct WorkDir {
  fs::path path;
  WorkDir() {
    fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    path = base / ("tandem-fuzz-journal-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~WorkDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const fs::path& work_dir() {
  static const WorkDir dir;
  return dir.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const fs::path dir = work_dir() / "j";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);

  std::uint8_t flags = data[0];
  std::size_t at = 1;
  if ((flags & 2) && at < size) {
    std::size_t n = data[at++];
    n = n < size - at ? n : size - at;
    write_file(dir / "journal.cursor", std::string(reinterpret_cast<const char*>(data + at), n));
    at += n;
  }
  std::string file(reinterpret_cast<const char*>(data + at), size - at);
  if (flags & 1) repair_crcs(file);
  write_file(dir / "journal.log", file);

  std::uint64_t last_seq = 0;
  {
    Journal j(dir, JournalFsync::no, std::numeric_limits<std::uint64_t>::max());
    try {
      j.open();
    } catch (const std::runtime_error&) {
      return 0;  // refused with a message: acceptable for a damaged file
    }
    FUZZ_CHECK(j.size_bytes() <= file.size(), "open keeps at most what was there");
    FUZZ_CHECK(fs::file_size(j.path()) == j.size_bytes(), "the file is cut to the records kept");
    FUZZ_CHECK(j.replay_offset() <= j.size_bytes(), "the replay offset is inside the file");
    FUZZ_CHECK(j.replayed_seq() <= j.last_seq(), "nothing is replayed beyond the last record");
    FUZZ_CHECK(j.empty() == !j.oldest_time_ms().has_value(), "an oldest record exists exactly when not empty");
    // Everything kept reads back; so does everything from the replay offset.
    auto all = j.read_from(0, std::numeric_limits<std::size_t>::max());
    std::uint64_t end = all.empty() ? 0 : all.back().end_offset;
    FUZZ_CHECK(end == j.size_bytes(), "the records kept cover the file exactly");
    (void)j.read_from(j.replay_offset(), std::numeric_limits<std::size_t>::max());
    if (j.last_seq() == std::numeric_limits<std::uint64_t>::max()) return 0;  // no next sequence number
    last_seq = j.append("*1\r\n$4\r\nPING\r\n", 1, 1'700'000'000'000LL);
    FUZZ_CHECK(last_seq == j.last_seq(), "append returns the new last sequence number");
    j.commit();
  }
  Journal again(dir, JournalFsync::no, std::numeric_limits<std::uint64_t>::max());
  again.open();
  FUZZ_CHECK(again.last_seq() == last_seq, "the appended record survives a reopen");
  FUZZ_CHECK(!again.empty(), "the appended record is still to be replayed");
  auto tail = again.read_from(again.replay_offset(), std::numeric_limits<std::size_t>::max());
  FUZZ_CHECK(!tail.empty() && tail.back().seq == last_seq, "the appended record is the last one read");
  return 0;
}
