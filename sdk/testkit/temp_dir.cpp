#include "tandem/sdk/testing/temp_dir.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace tandem::sdk::testing {

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + ".XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::chown_to(const std::string& user) const {
  struct passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw std::runtime_error("no OS user named '" + user + "'");
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                          std::filesystem::perms::others_exec);
  if (::chown(path_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    throw std::runtime_error("chown " + path_.string() + " failed");
  for (auto& e : std::filesystem::recursive_directory_iterator(path_))
    if (::lchown(e.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("chown " + e.path().string() + " failed");
}

bool wait_for_port(const std::string& host, int port, std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return false;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
        bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        return ok;
      },
      timeout);
}

}  // namespace tandem::sdk::testing
