// The durable write journal: writes the primary applied while the peer's Redis
// was unreachable, in the order the primary applied them, waiting to be
// replayed on the peer.
//
// One append-only file, journal.log. Record = 32-byte header (magic, payload
// length, sequence number, Unix ms, reply count, CRC-32 of header fields and
// payload) + payload (one or more RESP commands, e.g. a MULTI..EXEC block).
// A torn tail left by a crash is cut off at open. After a full replay the file
// is truncated; the replay cursor (last sequence applied on the peer) lives in
// a side file so a crash during replay resumes after it.
//
// Not thread-safe: used from the endpoint's io thread only (and before/after it runs).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "settings.h"

namespace tandem::kv {

struct JournalRecord {
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;
  std::uint32_t replies = 1;  // replies the payload produces (commands in it)
  std::string payload;
  std::uint64_t end_offset = 0;  // file offset just past this record
};

class Journal {
 public:
  Journal(std::filesystem::path dir, JournalFsync fsync, std::uint64_t max_size);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Opens (creating the directory and file), validates every record, cuts a
  // torn tail, and positions the replay cursor. Throws std::runtime_error.
  void open();
  void close();

  // Appends one record (buffered in the kernel; durable after commit()).
  // Throws std::runtime_error on I/O failure.
  std::uint64_t append(std::string_view payload, std::uint32_t replies, std::int64_t time_ms);
  // Makes appended records durable according to the fsync policy ("always":
  // fdatasync now if anything was appended since the last commit).
  void commit();
  // For "everysec": fdatasync if anything is unsynced.
  void sync_now();

  // Records not yet confirmed replayed on the peer.
  std::uint64_t depth() const { return last_seq_ - replayed_seq_; }
  bool empty() const { return depth() == 0; }
  bool full() const { return size_ >= max_size_; }
  std::uint64_t size_bytes() const { return size_; }
  std::uint64_t last_seq() const { return last_seq_; }
  // Names this journal's sequence numbering (journal.id, random, made when
  // absent): a replay cursor kept on the peer (dispatcher.h) is only trusted
  // when it carries the same id, so a journal directory started afresh (seq
  // from 1 again) never skips records because of an old cursor.
  const std::string& id() const { return id_; }
  std::uint64_t replayed_seq() const { return replayed_seq_; }
  // Unix ms of the oldest record not yet replayed (nullopt when empty).
  std::optional<std::int64_t> oldest_time_ms() const {
    return empty() ? std::nullopt : std::optional(oldest_unreplayed_ms_);
  }

  // Reads up to `max_records` records starting at file offset `offset`
  // (records wholly within the file only).
  std::vector<JournalRecord> read_from(std::uint64_t offset, std::size_t max_records) const;
  // File offset of the first record not yet replayed.
  std::uint64_t replay_offset() const { return replay_offset_; }
  // The peer applied records up to and including `seq` (ending at `end_offset`);
  // `next_time_ms` is the time of the next record, if any. Persists the cursor
  // every so often.
  void mark_replayed(std::uint64_t seq, std::uint64_t end_offset, std::optional<std::int64_t> next_time_ms);
  // Everything was replayed: truncate the file, persist the cursor.
  void reset_after_replay();
  // Moves the file aside (journal.discarded-<ms>.log) and starts empty; returns
  // the records dropped (not yet replayed). For rejoin, where a full resync
  // replaces the journal, and for a node superseded by a newer epoch (fence.h).
  // `aside` (optional) gets the new name; it stays empty when nothing was moved.
  std::uint64_t discard(std::int64_t now_ms, std::filesystem::path* aside = nullptr);

  const std::filesystem::path& path() const { return file_; }

 private:
  void persist_cursor();
  void load_or_make_id();

  std::filesystem::path dir_;
  std::filesystem::path file_;
  std::filesystem::path cursor_file_;
  std::string id_;
  JournalFsync fsync_;
  std::uint64_t max_size_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t last_seq_ = 0;
  std::uint64_t replayed_seq_ = 0;
  std::uint64_t replay_offset_ = 0;
  std::int64_t oldest_unreplayed_ms_ = 0;
  bool unsynced_ = false;
  std::uint64_t replayed_since_persist_ = 0;
};

}  // namespace tandem::kv
