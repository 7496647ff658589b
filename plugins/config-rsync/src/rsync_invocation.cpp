#include "rsync_invocation.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>

namespace tandem::config_rsync {
namespace {

// Options shared by every run against the peer: timeouts, auth, transport.
void add_transport_options(const Settings& s, std::vector<std::string>& argv) {
  auto seconds = std::max<long long>(1, s.timeout.count() / 1000);
  argv.push_back("--timeout=" + std::to_string(seconds));
  if (s.transport == Transport::daemon) {
    argv.push_back("--contimeout=" + std::to_string(seconds));
    if (s.password_file) argv.push_back("--password-file=" + s.password_file->string());
  } else if (!s.rsh.empty()) {
    argv.push_back("--rsh=" + s.rsh);
  }
}

// "1,234" or "1234" at the start of `text` (after the label), as a number.
std::int64_t leading_number(std::string_view text) {
  std::int64_t v = 0;
  size_t i = 0;
  while (i < text.size() && text[i] == ' ') ++i;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == ',' || c == '.') continue;  // digit grouping, whatever the locale
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    v = v * 10 + (c - '0');
  }
  return v;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// An --itemize-changes line: "YXcstpoguax name" or "*deleting   name".
bool is_itemized(std::string_view line) {
  if (starts_with(line, "*deleting")) return true;
  if (line.size() < 13 || line[11] != ' ') return false;
  const std::string_view update_types = "<>ch.";
  const std::string_view file_types = "fdLDS";
  return update_types.find(line[0]) != std::string_view::npos && file_types.find(line[1]) != std::string_view::npos;
}

// An itemized line that reports no change at all (".d          ./" style).
bool is_unchanged(std::string_view line) {
  if (line[0] != '.') return false;
  for (size_t i = 2; i < 11; ++i)
    if (line[i] != ' ' && line[i] != '.') return false;
  return true;
}

}  // namespace

void TransferStats::add(const TransferStats& o) {
  files_transferred += o.files_transferred;
  files_created += o.files_created;
  files_deleted += o.files_deleted;
  bytes_transferred += o.bytes_transferred;
  bytes_received += o.bytes_received;
  changes_total += o.changes_total;
  for (auto& c : o.changes)
    if (changes.size() < kMaxListedChanges) changes.push_back(c);
  stats_seen = stats_seen || o.stats_seen;
}

std::vector<std::string> pull_argv(const Settings& s, const SyncedPath& entry, const std::string& peer_address,
                                   bool dry_run, bool full_compare) {
  // -a: archive (perms, times, owner, links); -8: non-ASCII names unescaped in
  // the itemized output. Never --inplace: rsync's temp file + rename is what
  // makes each file appear whole; --delay-updates moves all renames to the
  // end of the run so a multi-file change appears (nearly) together.
  std::vector<std::string> argv{s.rsync_path,         "-a", "-8", "--delay-updates", "--itemize-changes", "--stats",
                                "--no-human-readable"};
  // rsync skips a file whose size and mtime match; by default mtimes match
  // to the second, so a same-size edit within a second would be missed.
  // Nanosecond comparison narrows that; full_compare closes it.
  argv.push_back("--modify-window=-1");
  if (full_compare) argv.push_back("--checksum");
  if (dry_run) argv.push_back("--dry-run");
  if (s.mirror_deletes && !entry.is_file) {
    argv.push_back("--delete");
    argv.push_back("--delete-delay");  // deletions also wait for the end of the run
  }
  if (s.bwlimit_bytes_per_second > 0)
    argv.push_back("--bwlimit=" + std::to_string((s.bwlimit_bytes_per_second + 1023) / 1024) + "K");
  for (auto& pattern : s.excludes) argv.push_back("--exclude=" + pattern);
  add_transport_options(s, argv);
  argv.push_back(s.source_for(entry, peer_address));
  argv.push_back(s.destination_for(entry));
  return argv;
}

std::vector<std::string> list_argv(const Settings& s, const SyncedPath& entry, const std::string& peer_address) {
  std::vector<std::string> argv{s.rsync_path, "--list-only", "-8"};
  add_transport_options(s, argv);
  argv.push_back(s.source_for(entry, peer_address));
  return argv;
}

TransferStats parse_rsync_output(std::string_view text) {
  TransferStats st;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::string_view l = line;
    if (is_itemized(l)) {
      if (starts_with(l, "*deleting") || !is_unchanged(l)) {
        ++st.changes_total;
        if (st.changes.size() < kMaxListedChanges) st.changes.push_back(line);
      }
      continue;
    }
    auto value_after = [&](std::string_view label) -> std::optional<std::int64_t> {
      if (!starts_with(l, label)) return std::nullopt;
      return leading_number(l.substr(label.size()));
    };
    if (auto v = value_after("Number of regular files transferred:"))
      st.files_transferred = *v, st.stats_seen = true;
    else if (auto v2 = value_after("Number of created files:"))
      st.files_created = *v2;
    else if (auto v3 = value_after("Number of deleted files:"))
      st.files_deleted = *v3;
    else if (auto v4 = value_after("Total transferred file size:"))
      st.bytes_transferred = *v4;
    else if (auto v5 = value_after("Total bytes received:"))
      st.bytes_received = *v5;
  }
  return st;
}

std::string rsync_exit_meaning(int code) {
  switch (code) {
    case 0: return "success";
    case 1: return "syntax or usage error";
    case 2: return "protocol incompatibility";
    case 3: return "errors selecting input/output files, dirs";
    case 5: return "error starting client-server protocol (is the module name right? is the daemon up?)";
    case 10: return "error in socket I/O (is the peer reachable and the daemon running?)";
    case 11: return "error in file I/O";
    case 12: return "error in rsync protocol data stream";
    case 23: return "partial transfer due to error";
    case 24: return "partial transfer due to vanished source files";
    case 30: return "timeout in data send/receive";
    case 35: return "timeout waiting for daemon connection";
    case 127: return "rsync not found";
    case 255: return "remote shell failed (ssh could not connect or authenticate)";
    default: return "rsync error";
  }
}

}  // namespace tandem::config_rsync
