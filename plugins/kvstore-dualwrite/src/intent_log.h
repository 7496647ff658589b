// The intent log: the keys every write in flight touches, recorded before the
// write is sent to any Redis, so a crash of tandemd (kill -9) between the two
// servers applying a write can be repaired at the next start (reconcile.h).
//
// Hot path: note() buffers an intent in memory; flush() — called just before
// either backend link writes to its socket — writes the buffer with one
// write() (and, with intent_fsync = "always", one fdatasync): a batch per
// event-loop turn, so pipelined load costs one system call per batch, not per
// write. done() marks a write settled; the lowest unsettled sequence number is
// carried in every batch's header (the watermark), so recovery skips intents
// known settled.
//
// Two files, intent.0.log and intent.1.log, used in turn: once the current one
// passes a size limit and every intent in the other is settled, the other is
// emptied and becomes current. Record = header (magic, payload length, CRC-32,
// watermark) + entries (seq, key count or kAllKeys, keys). A torn tail (crash
// mid-write) is ignored: its writes were not sent yet.
//
// Not thread-safe: the endpoint's io thread only (and its constructor).
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "settings.h"

namespace tandem::kv {

// The keys one write touches, encoded for the intent log (u32 length + bytes
// each). `all`: the write may touch any key (FLUSHDB, or a command whose keys
// the endpoint cannot tell).
struct IntentKeys {
  std::string encoded;
  std::uint32_t count = 0;
  bool all = false;
  void add(std::string_view key);
  // Whether one of the keys begins with `prefix`.
  bool has_prefix(std::string_view prefix) const;
  // Calls f(key) for each key until f returns true; returns whether one did.
  template <typename F>
  bool any_of(F&& f) const {
    std::size_t at = 0;
    while (at + 4 <= encoded.size()) {
      std::uint32_t n;
      std::memcpy(&n, encoded.data() + at, 4);
      if (f(std::string_view(encoded.data() + at + 4, n))) return true;
      at += 4 + n;
    }
    return false;
  }
  // Whether the two may touch a common key.
  bool overlaps(const IntentKeys& other) const;
  void clear() {
    encoded.clear();
    count = 0;
    all = false;
  }
};

// What a previous run left unsettled.
struct PendingIntents {
  std::set<std::string> keys;
  bool all = false;  // a write that may have touched any key was in flight
  std::uint64_t writes = 0;
  bool empty() const { return !all && keys.empty(); }
};

class IntentLog {
 public:
  IntentLog(std::filesystem::path dir, JournalFsync fsync);
  ~IntentLog();
  IntentLog(const IntentLog&) = delete;
  IntentLog& operator=(const IntentLog&) = delete;

  // Reads what the files hold (intents above the last watermark). Touches nothing.
  PendingIntents recover() const;
  // Empties both files and opens intent.0.log for appending: call once
  // whatever recover() returned has been reconciled. Throws std::runtime_error.
  void start_fresh();
  void close();

  // Records the keys of a write about to be sent; returns its sequence number.
  std::uint64_t note(const IntentKeys& keys);
  // The write `seq` settled (applied where it will be, or failed).
  void done(std::uint64_t seq);
  // Writes (and per policy fdatasyncs) the buffered intents. Throws std::runtime_error.
  void flush();
  // For "everysec": fdatasync if anything written is not yet synced.
  void sync_now();

 private:
  std::filesystem::path file(int i) const;
  void write_all(const std::string& bytes);
  void rotate_if_needed();

  std::filesystem::path dir_;
  JournalFsync fsync_;
  int fd_ = -1;
  int current_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t next_seq_ = 1;
  std::uint64_t other_max_seq_ = 0;  // highest intent in the other file (0: it is empty)
  std::uint64_t current_max_seq_ = 0;
  // Unsettled writes from settled_base_ on (true = settled); the front is the watermark.
  std::deque<bool> settled_;
  std::uint64_t settled_base_ = 1;
  std::string buf_;  // entries not yet written
  bool unsynced_ = false;
};

class RespParser;
// Adds the keys the write command `cmd` (a parsed RESP array) touches; sets
// keys.all when they cannot be told (FLUSHDB, a command not listed).
void collect_write_keys(const RespParser& cmd, IntentKeys& keys);

}  // namespace tandem::kv
