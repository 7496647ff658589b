#include "tandem/sdk/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "child_setup.h"
#include "tandem/sdk/exit_now.h"

namespace tandem::sdk {
namespace {

void append_limited(std::string& out, const char* data, size_t n, size_t limit) {
  if (out.size() >= limit) return;
  out.append(data, std::min(n, limit - out.size()));
}

}  // namespace

void exit_now(int status) noexcept {
  // exit_group is what _exit does, without the sanitizers' interceptor.
  ::syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

std::string shell_quote(const std::string& arg) {
  if (!arg.empty() &&
      arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%_-+=:,./") ==
          std::string::npos)
    return arg;
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string ProcessResult::describe() const {
  std::ostringstream os;
  if (timed_out)
    os << "timed out after " << duration.count() << " ms";
  else if (cancelled)
    os << "cancelled after " << duration.count() << " ms";
  else if (signal)
    os << "killed by signal " << signal;
  else
    os << "exit " << exit_code;
  std::string err = stderr_text.empty() ? stdout_text : stderr_text;
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  auto pos = err.rfind('\n');
  std::string last = pos == std::string::npos ? err : err.substr(pos + 1);
  if (!last.empty()) os << ": " << last;
  return os.str();
}

Result<ProcessResult> run_process(const ProcessSpec& spec) {
  auto command = detail::PreparedCommand::prepare(spec);
  TANDEM_TRY(command);
  detail::Pipe in, out, err;
  if (!in.open() || !out.open() || !err.open()) return Error{std::string("pipe: ") + std::strerror(errno)};
  auto started = std::chrono::steady_clock::now();
  auto spawned = command->spawn({in.fds[0], out.fds[1], err.fds[1]});
  TANDEM_TRY(spawned);
  const pid_t pid = *spawned;
  in.close_read();
  out.close_write();
  err.close_write();

  ProcessResult result;
  size_t stdin_off = 0;
  if (spec.stdin_data.empty())
    in.close_write();
  else
    ::fcntl(in.fds[1], F_SETFL, O_NONBLOCK);
  auto deadline = started + spec.timeout;
  while (out.fds[0] >= 0 || err.fds[0] >= 0) {
    std::vector<pollfd> pfds;
    if (out.fds[0] >= 0) pfds.push_back({out.fds[0], POLLIN, 0});
    if (err.fds[0] >= 0) pfds.push_back({err.fds[0], POLLIN, 0});
    if (in.fds[1] >= 0) pfds.push_back({in.fds[1], POLLOUT, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    if (spec.cancel && spec.cancel->load()) {
      result.cancelled = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    // Woken often enough to see the cancel flag; otherwise once a second.
    const long long slice = spec.cancel ? 20 : 1000;
    int rc = ::poll(pfds.data(), pfds.size(), static_cast<int>(std::min<long long>(left.count(), slice)));
    if (rc < 0 && errno != EINTR) break;
    for (auto& p : pfds) {
      if (!p.revents) continue;
      if (p.fd == in.fds[1]) {
        ssize_t n = ::write(in.fds[1], spec.stdin_data.data() + stdin_off, spec.stdin_data.size() - stdin_off);
        if (n > 0) stdin_off += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EINTR) in.close_write();
        if (stdin_off >= spec.stdin_data.size()) in.close_write();
        continue;
      }
      char buf[65536];
      ssize_t n = ::read(p.fd, buf, sizeof buf);
      bool is_out = p.fd == out.fds[0];
      if (n > 0) {
        append_limited(is_out ? result.stdout_text : result.stderr_text, buf, static_cast<size_t>(n),
                       spec.max_output_bytes);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        if (is_out)
          out.close_read();
        else
          err.close_read();
      }
    }
  }
  in.close_write();
  int status = 0;
  while (true) {
    const bool killed = result.timed_out || result.cancelled;
    pid_t w = ::waitpid(pid, &status, killed ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (w == 0) {
      // Pipes closed but the child still runs (it closed its outputs): wait
      // until the deadline or the cancel.
      if (std::chrono::steady_clock::now() >= deadline) {
        result.timed_out = true;
        ::kill(-pid, SIGKILL);
      } else if (spec.cancel && spec.cancel->load()) {
        result.cancelled = true;
        ::kill(-pid, SIGKILL);
      } else {
        ::usleep(10000);
      }
    }
  }
  if (result.timed_out || result.cancelled) ::kill(-pid, SIGKILL);  // stragglers in the group
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) {
    result.exit_code = -1;
    result.signal = WTERMSIG(status);
  }
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  return result;
}

}  // namespace tandem::sdk
