// RAII temporary directory and loopback port helpers for tests.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

namespace tandem::sdk::testing {

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "tandem-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // chown -R the directory to an OS user (e.g. "postgres", which refuses to
  // run as root) and make it traversable. Throws when the user is unknown.
  void chown_to(const std::string& user) const;
  // Keep the directory after destruction (for post-mortem debugging).
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

// A TCP port on 127.0.0.1 for a test's server: free now, below the kernel's
// ephemeral range, and reserved for this process's lifetime against every other
// process calling free_port() (two test binaries never get the same port). A
// process holds each port it was given until it exits; each call returns a new one.
int free_port();
// Poll until something accepts TCP connections on host:port, or the timeout passes.
bool wait_for_port(const std::string& host, int port, std::chrono::milliseconds timeout);
// Poll `predicate` every 20 ms until it returns true or the timeout passes.
template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return predicate();
}

}  // namespace tandem::sdk::testing
