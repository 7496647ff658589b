#include "pull_runner.h"

#include <filesystem>
#include <sstream>
#include <system_error>

#include "tandem/sdk/process.h"

namespace tandem::config_rsync {
namespace fs = std::filesystem;

bool rsync_peer_unreachable(int exit_code, bool timed_out) {
  // 10: socket I/O (refused, reset); 30: I/O timeout; 35: daemon connect
  // timeout; 255: ssh could not connect.
  return timed_out || exit_code == 10 || exit_code == 30 || exit_code == 35 || exit_code == 255;
}

std::string describe_rsync_failure(int exit_code, bool timed_out, const std::string& stderr_text,
                                   const std::string& stdout_text) {
  std::string head = timed_out ? std::string("timed out (killed)")
                               : "exit " + std::to_string(exit_code) + " (" + rsync_exit_meaning(exit_code) + ")";
  // rsync's first "rsync: ..." / "@ERROR ..." lines say what happened; its
  // trailing "rsync error: ... (code N) at file.c(L)" line only repeats the code.
  std::istringstream in(stderr_text.empty() ? stdout_text : stderr_text);
  std::string line, text;
  // ssh's verdict ("Host key verification failed.", "Permission denied
  // (publickey)") comes after a long warning banner: it goes first.
  for (const char* verdict : {"Host key verification failed", "Permission denied"}) {
    auto at = stderr_text.find(verdict);
    if (at == std::string::npos) continue;
    auto end = stderr_text.find_first_of("\r\n", at);
    text = stderr_text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    break;
  }
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // ssh's "@@@@" / "@ WARNING ... @" banner lines and rsync's trailing
    // summary say nothing new ("@ERROR: ..." from a daemon does).
    bool banner = !line.empty() && line.front() == '@' && line.back() == '@';
    if (line.empty() || banner || line.rfind("rsync error:", 0) == 0) continue;
    if (!text.empty()) text += "; ";
    text += line;
    if (text.size() > 400) {
      text = text.substr(0, 400) + "...";
      break;
    }
  }
  if (text.empty()) {
    std::istringstream again(stderr_text);
    while (std::getline(again, line))
      if (!line.empty()) text = line;
  }
  return text.empty() ? head : head + ": " + text;
}

PullOutcome run_rsync_for_all(const Settings& settings, const std::string& peer_address, RsyncRun kind,
                              std::chrono::milliseconds timeout_cap, const std::atomic<bool>* cancel) {
  Settings effective = settings;
  if (timeout_cap < effective.timeout) effective.timeout = timeout_cap;
  PullOutcome out;
  auto started = std::chrono::steady_clock::now();
  std::string unreachable_at;  // the path whose run found the peer unreachable
  for (const auto& entry : effective.paths) {
    EntryOutcome eo;
    eo.name = entry.name;
    const bool writes = kind == RsyncRun::pull || kind == RsyncRun::pull_full_compare;
    if (cancel && cancel->load()) {
      eo.error = "not run: cancelled (a failover operation on this node is pending)";
      eo.exit_code = -1;
    } else if (!unreachable_at.empty()) {
      eo.error = "not run: the peer did not answer for path '" + unreachable_at + "'";
      eo.exit_code = -1;
    } else if (writes) {
      // rsync creates the last directory level only; the parents are ours to make.
      std::error_code ec;
      fs::create_directories(entry.is_file ? entry.path.parent_path() : entry.path, ec);
      if (ec) {
        eo.error = "cannot create " + entry.path.string() + ": " + ec.message();
        eo.exit_code = -1;
      }
    }
    if (eo.error.empty()) {
      sdk::ProcessSpec spec;
      spec.argv = kind == RsyncRun::list ? list_argv(effective, entry, peer_address)
                                         : pull_argv(effective, entry, peer_address, kind == RsyncRun::dry_run,
                                                     kind == RsyncRun::pull_full_compare);
      // rsync's --timeout catches a stalled transfer; this hard limit only
      // catches a hung process (a huge first copy may legitimately take long).
      spec.timeout = std::max(std::chrono::milliseconds(std::chrono::minutes(30)), effective.timeout * 4);
      spec.max_output_bytes = 32u << 20;
      spec.env["LC_ALL"] = "C";  // plain digits and English messages to parse
      spec.cancel = cancel;
      auto r = sdk::run_process(spec);
      if (!r) {
        eo.exit_code = 127;
        eo.error = r.message() + " (check rsync_path)";
      } else {
        eo.exit_code = r->exit_code;
        eo.stdout_text = r->stdout_text;
        eo.ok = r->succeeded();
        if (!eo.ok && !r->cancelled && rsync_peer_unreachable(r->exit_code, r->timed_out)) unreachable_at = entry.name;
        if (!eo.ok) {
          eo.error = r->cancelled ? "cancelled after " + std::to_string(r->duration.count()) +
                                        " ms (a failover operation on this node is pending)"
                                  : describe_rsync_failure(r->exit_code, r->timed_out, r->stderr_text, r->stdout_text);
          // rsync says only "auth failed on module X": name the file the
          // password came from (never the password).
          if (effective.transport == Transport::daemon && r->stderr_text.find("auth failed") != std::string::npos)
            eo.error +=
                effective.password_file
                    ? "; the daemon refused the password in password_file " + effective.password_file->string() +
                          ": make it hold exactly the password of the remote's user in the daemon's secrets file"
                    : "; the daemon requires a user and password: set password_file (mode 0600) and the "
                      "user in remote (rsync://USER@{peer})";
        }
        if (kind != RsyncRun::list) eo.stats = parse_rsync_output(r->stdout_text);
      }
    }
    out.stats.add(eo.stats);
    if (!eo.ok && out.ok) {
      out.ok = false;
      out.exit_code = eo.exit_code;
      out.error = "path '" + entry.name + "': " + eo.error;
    }
    out.entries.push_back(std::move(eo));
  }
  out.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  return out;
}

}  // namespace tandem::config_rsync
