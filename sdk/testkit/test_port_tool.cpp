// tandem-test-port: free_port() for shell scripts (benchmarks, the Redis suite
// runner). Prints one port reserved exactly as the C++ tests reserve theirs,
// then exits; a detached child keeps the reservation until the owner process
// (--owner PID, normally the script's $$) exits. A fork: record locks are not
// inherited, so the child takes the port itself and hands it to the parent,
// and `$(tandem-test-port --owner $$)` returns at once.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tandem/sdk/testing/temp_dir.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: tandem-test-port --owner PID\n"
               "  prints a loopback port for a test server, reserved until process PID exits\n");
  return 2;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--owner") return usage();
  char* end = nullptr;
  long owner = std::strtol(argv[2], &end, 10);
  if (*end != '\0' || owner <= 1 || !alive(static_cast<pid_t>(owner))) {
    std::fprintf(stderr, "tandem-test-port: --owner %s is not a running process id\n", argv[2]);
    return 2;
  }
  int fds[2];
  if (::pipe(fds) != 0) return std::perror("tandem-test-port: pipe"), 1;
  pid_t holder = ::fork();
  if (holder < 0) return std::perror("tandem-test-port: fork"), 1;
  if (holder == 0) {
    ::close(fds[0]);
    std::string line;
    try {
      line = std::to_string(tandem::sdk::testing::free_port()) + "\n";
    } catch (const std::exception& e) {
      line = std::string("error: ") + e.what() + "\n";
    }
    if (::write(fds[1], line.data(), line.size()) < 0) ::_exit(1);
    ::close(fds[1]);
    // Detach: no terminal signals, no descriptors the script waits on.
    ::setsid();
    int null = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
    if (line.rfind("error", 0) == 0) ::_exit(1);
    while (alive(static_cast<pid_t>(owner))) ::sleep(1);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  if (got.empty() || got.rfind("error: ", 0) == 0) {
    std::fprintf(stderr, "tandem-test-port: %s", got.empty() ? "the reserving process died\n" : got.c_str() + 7);
    ::waitpid(holder, nullptr, 0);
    return 1;
  }
  std::fputs(got.c_str(), stdout);
  return 0;
}
