#include "tandem/sdk/testing/temp_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace {

int ephemeral_low() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  in >> low;
  return low;
}

// Runs `child` in a forked process and returns the numbers it wrote to stdout.
template <class Child>
std::vector<int> numbers_from_child(Child child) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    for (int n : child()) out += std::to_string(n) + "\n";
    if (::write(fds[1], out.data(), out.size()) != static_cast<ssize_t>(out.size())) ::_exit(2);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("the child failed");
  std::vector<int> numbers;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    numbers.push_back(std::stoi(text.substr(at, end - at)));
    at = end + 1;
  }
  return numbers;
}

}  // namespace

// The kernel hands ports of its ephemeral range to any bind(0) or connect() of
// any process at any moment: a test port there can be taken before the test's
// server binds it.
TEST(FreePort, IsBelowTheKernelsEphemeralRange) {
  int low = ephemeral_low();
  ASSERT_GT(low, 0);
  for (int i = 0; i < 50; ++i) {
    int port = tandem::sdk::testing::free_port();
    EXPECT_GE(port, 1024);
    EXPECT_LT(port, low);
  }
}

TEST(FreePort, EachCallInAProcessGivesANewPort) {
  std::set<int> seen;
  for (int i = 0; i < 300; ++i) EXPECT_TRUE(seen.insert(tandem::sdk::testing::free_port()).second);
}

// The case that failed in CI: two test processes at once. A port one process
// was given is reserved against every other process (free_port() skips a
// reserved port) while the first lives, though nothing listens on it yet: the
// reservation is a record lock on byte <port> of one shared file, and another
// process sees it held by this one.
TEST(FreePort, APortOneProcessWasGivenIsReservedAgainstOthers) {
  std::vector<int> mine;
  for (int i = 0; i < 50; ++i) mine.push_back(tandem::sdk::testing::free_port());
  const char* base = std::getenv("TMPDIR");
  std::string file = std::string(base && *base ? base : "/tmp") + "/tandem-test-ports.lock";
  auto holders = numbers_from_child([&] {
    std::vector<int> pids;
    int fd = ::open(file.c_str(), O_RDWR);
    for (int port : mine) {
      struct flock fl {};
      fl.l_type = F_WRLCK;
      fl.l_whence = SEEK_SET;
      fl.l_start = port;
      fl.l_len = 1;
      pids.push_back(fd >= 0 && ::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? fl.l_pid : 0);
    }
    return pids;
  });
  ASSERT_EQ(holders.size(), mine.size());
  for (size_t i = 0; i < mine.size(); ++i)
    EXPECT_EQ(holders[i], ::getpid()) << "port " << mine[i] << " is not reserved by this process";
}
