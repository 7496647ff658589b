// The process layer: run_process and ChildProcess share one child set-up;
// each guarantee is checked on the real kernel with real programs.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tandem/sdk/file_util.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::sdk {
namespace {

using namespace std::chrono_literals;

// Descriptors the parent holds without close-on-exec, as a careless library
// would leave them: a pipe, a socket, a file at a high number.
class LeakyDescriptors {
 public:
  LeakyDescriptors() {
    EXPECT_EQ(::pipe(pipe_), 0);
    socket_ = ::socket(AF_INET, SOCK_STREAM, 0);
    high_ = ::dup2(pipe_[0], 200);
  }
  ~LeakyDescriptors() {
    for (int fd : {pipe_[0], pipe_[1], socket_, high_}) ::close(fd);
  }

 private:
  int pipe_[2] = {-1, -1};
  int socket_ = -1;
  int high_ = -1;
};

// The descriptors `ls -l /proc/self/fd` saw in itself, minus the one it
// opened to list the directory.
std::set<std::string> listed_fds(const std::string& listing) {
  std::set<std::string> fds;
  std::istringstream in(listing);
  std::string line;
  while (std::getline(in, line)) {
    auto arrow = line.find(" -> ");
    if (arrow == std::string::npos) continue;
    if (line.compare(arrow + 4, 6, "/proc/") == 0) continue;
    auto name_end = arrow;
    auto name_start = line.rfind(' ', name_end - 1) + 1;
    fds.insert(line.substr(name_start, name_end - name_start));
  }
  return fds;
}

const std::set<std::string> kOnlyStdio{"0", "1", "2"};

bool gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string content((std::istreambuf_iterator<char>(stat)), {});
  auto close = content.rfind(')');
  return close != std::string::npos && content.size() > close + 2 && content[close + 2] == 'Z';
}

TEST(RunProcess, ChildInheritsNoDescriptorButStdio) {
  LeakyDescriptors leaky;
  ProcessSpec spec;
  spec.argv = {"ls", "-l", "/proc/self/fd"};
  auto r = run_process(spec);
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_TRUE(r->succeeded()) << r->describe();
  EXPECT_EQ(listed_fds(r->stdout_text), kOnlyStdio) << r->stdout_text;
}

TEST(RunProcess, EnvCwdAndUserApply) {
  testing::TempDir dir;
  ProcessSpec spec;
  spec.argv = {"sh", "-c", "echo \"$GREETING $(pwd) $(id -un) $HOME\""};
  spec.env = {{"GREETING", "hello"}};
  spec.cwd = dir.path();
  spec.run_as_user = "nobody";
  ::chmod(dir.path().c_str(), 0755);
  auto r = run_process(spec);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->stdout_text, "hello " + dir.path().string() + " nobody /nonexistent\n") << r->stderr_text;
}

TEST(RunProcess, AStartFailureIsAnErrorNamingTheCause) {
  ProcessSpec spec;
  spec.argv = {"no-such-program-tandem"};
  auto r = run_process(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("cannot start no-such-program-tandem"), std::string::npos) << r.message();
  spec.argv = {"true"};
  spec.run_as_user = "no-such-user-tandem";
  EXPECT_EQ(run_process(spec).code(), ErrorCode::invalid_config);
  spec.argv.clear();
  EXPECT_FALSE(run_process(spec).ok());
}

// A child that cannot start ends itself in a forked copy of this process.
// Under `make test-tsan` that copy once ran ThreadSanitizer's at-exit checks
// and reported a parent thread that had finished but was not joined yet (as
// a store's rebuild thread is between two rebuilds) as a thread leak; the
// sanitizer run fails on any such report (scripts/sanitized-ctest.sh).
TEST(RunProcess, AStartFailureWhileAFinishedThreadAwaitsItsJoinIsOnlyThatError) {
  std::atomic<pid_t> tid{0};
  std::thread finished([&] { tid = ::gettid(); });
  while (tid.load() == 0 || std::filesystem::exists("/proc/self/task/" + std::to_string(tid.load())))
    std::this_thread::sleep_for(1ms);
  ProcessSpec spec;
  spec.argv = {"no-such-program-tandem"};
  auto r = run_process(spec);
  finished.join();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("cannot start no-such-program-tandem"), std::string::npos) << r.message();
}

TEST(RunProcess, TimeoutKillsTheWholeGroup) {
  ProcessSpec spec;
  spec.argv = {"sh", "-c", "sleep 600 & echo $!; wait"};
  spec.timeout = 300ms;
  auto r = run_process(spec);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(r->timed_out);
  const pid_t grandchild = std::stoi(r->stdout_text);
  EXPECT_TRUE(testing::eventually([&] { return gone(grandchild); }, 5s)) << "the background sleep survived";
}

// The cancel flag, set by another thread once the child runs, ends the call
// long before its timeout and kills what the child started too.
TEST(RunProcess, CancelKillsTheWholeGroupAndSaysSo) {
  testing::TempDir dir;
  const auto marker = dir.path() / "started";
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    testing::eventually([&] { return std::filesystem::exists(marker); }, 60s);
    cancel = true;
  });
  ProcessSpec spec;
  spec.argv = {"sh", "-c", "sleep 600 & echo $!; touch " + marker.string() + "; wait"};
  spec.timeout = std::chrono::minutes(10);
  spec.cancel = &cancel;
  auto r = run_process(spec);
  canceller.join();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(r->cancelled);
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->succeeded());
  EXPECT_EQ(r->describe().rfind("cancelled after ", 0), 0u) << r->describe();
  const pid_t grandchild = std::stoi(r->stdout_text);
  EXPECT_TRUE(testing::eventually([&] { return gone(grandchild); }, 5s)) << "the background sleep survived";
}

class ChildProcessTest : public ::testing::Test {
 protected:
  ChildSpec spec(std::vector<std::string> argv) {
    ChildSpec s;
    s.argv = std::move(argv);
    s.log_file = dir_.path() / "child.log";
    return s;
  }
  // Waits for the child to exit on its own.
  static bool ended(ChildProcess& child) {
    return testing::eventually([&] { return !child.running(); }, 10s);
  }
  testing::TempDir dir_;
};

TEST_F(ChildProcessTest, ChildInheritsNoDescriptorButStdio) {
  LeakyDescriptors leaky;
  ChildProcess child;
  ASSERT_TRUE(child.start(spec({"ls", "-l", "/proc/self/fd"})).ok());
  ASSERT_TRUE(ended(child));
  EXPECT_EQ(child.exit_description(), "exit 0");
  const std::string log = child.log_tail();
  EXPECT_EQ(listed_fds(log), kOnlyStdio) << log;
  EXPECT_NE(log.find("0 -> /dev/null"), std::string::npos) << "stdin is /dev/null: " << log;
}

TEST_F(ChildProcessTest, OutputIsAppendedToTheLogWithEnvAndCwd) {
  auto s = spec({"sh", "-c", "echo \"$WORD $(pwd)\"; echo oops >&2; exit 3"});
  s.env = {{"WORD", "first"}};
  s.cwd = dir_.path();
  ChildProcess child;
  ASSERT_TRUE(child.start(s).ok());
  ASSERT_TRUE(ended(child));
  EXPECT_EQ(child.exit_description(), "exit 3");
  s.env = {{"WORD", "second"}};
  ASSERT_TRUE(child.start(s).ok());
  ASSERT_TRUE(ended(child));
  EXPECT_EQ(read_file(*s.log_file),
            "first " + dir_.path().string() + "\noops\nsecond " + dir_.path().string() + "\noops\n");
  EXPECT_EQ(child.log_tail(5), "oops\n");
}

TEST_F(ChildProcessTest, StartFailuresAreReportedByStart) {
  ChildProcess child;
  auto missing = child.start(spec({"no-such-program-tandem"}));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("cannot start no-such-program-tandem"), std::string::npos) << missing.message();
  auto s = spec({"true"});
  s.cwd = dir_.path() / "absent";
  auto bad_cwd = child.start(s);
  ASSERT_FALSE(bad_cwd.ok());
  EXPECT_NE(bad_cwd.message().find("chdir"), std::string::npos) << bad_cwd.message();
  s = spec({"true"});
  s.log_file = dir_.path() / "absent" / "x.log";
  EXPECT_FALSE(child.start(s).ok());
  EXPECT_FALSE(child.running());
  EXPECT_EQ(child.pid(), -1);
}

TEST_F(ChildProcessTest, StopEscalatesToSigkillAndReachesTheGroup) {
  // The shell and its sleep ignore SIGTERM (an ignored signal stays ignored across exec).
  ChildProcess child;
  ASSERT_TRUE(child.start(spec({"sh", "-c", "trap '' TERM; sleep 600 & echo $!; wait"})).ok());
  pid_t grandchild = 0;
  ASSERT_TRUE(testing::eventually(
      [&] {
        std::string log = child.log_tail();
        if (log.find('\n') == std::string::npos) return false;
        grandchild = std::stoi(log);
        return true;
      },
      5s));
  auto before = std::chrono::steady_clock::now();
  child.stop(200ms);
  EXPECT_GE(std::chrono::steady_clock::now() - before, 200ms) << "SIGTERM was given its grace";
  EXPECT_FALSE(child.running());
  EXPECT_EQ(child.exit_description(), "killed by signal 9");
  EXPECT_TRUE(testing::eventually([&] { return gone(grandchild); }, 5s)) << "the group's sleep survived";
  child.stop();  // idempotent
  child.kill();
}

TEST_F(ChildProcessTest, AChildThatHonoursSigtermIsNotKilled) {
  ChildProcess child;
  ASSERT_TRUE(child.start(spec({"sleep", "600"})).ok());
  child.stop(10s);
  EXPECT_EQ(child.exit_description(), "killed by signal 15");
}

TEST_F(ChildProcessTest, KillIsImmediateAndTheDestructorStops) {
  pid_t pid = 0;
  {
    ChildProcess child;
    ASSERT_TRUE(child.start(spec({"sleep", "600"})).ok());
    child.kill();
    EXPECT_EQ(child.exit_description(), "killed by signal 9");
    ASSERT_TRUE(child.start(spec({"sleep", "600"})).ok());
    pid = child.pid();
    ChildProcess moved = std::move(child);
    EXPECT_EQ(child.pid(), -1);
    EXPECT_EQ(moved.pid(), pid);
    EXPECT_TRUE(moved.running());
  }
  EXPECT_TRUE(gone(pid)) << "the destructor of the moved-to object stopped and reaped it";
}

}  // namespace
}  // namespace tandem::sdk
