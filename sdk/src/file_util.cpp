#include "tandem/sdk/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tandem::sdk {
namespace {

[[noreturn]] void throw_errno(const std::string& what, const std::filesystem::path& p) {
  throw std::runtime_error(what + " " + p.string() + ": " + std::strerror(errno));
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

}  // namespace

void atomic_write_file(const std::filesystem::path& path, std::string_view content, unsigned mode) {
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::filesystem::create_directories(dir);
  std::string name = ".";  // appended, not "." + string: see quoted() in config.cpp (GCC 12 -Wrestrict)
  name += path.filename().string();
  name += ".tmp.XXXXXX";
  std::string tmp = (dir / name).string();
  FileDescriptor fd(::mkstemp(tmp.data()));
  if (fd.get() < 0) throw_errno("cannot create temp file beside", path);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::unlink(tmp.c_str());
      throw_errno("cannot write", tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    ::unlink(tmp.c_str());
    throw_errno("cannot fsync", tmp);
  }
  ::fchmod(fd.get(), static_cast<mode_t>(mode));
  if (::close(fd.release()) != 0) {
    ::unlink(tmp.c_str());
    throw_errno("cannot close", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw_errno("cannot rename over", path);
  }
  FileDescriptor dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  if (dfd.get() >= 0) ::fsync(dfd.get());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string() + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::string> load_secret_file(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  auto refuse = [&](const std::string& why) { return Error{path.string() + " " + why, ErrorCode::invalid_config}; };
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return refuse("does not exist; create it with the secret in it (mode 0600)");
  if (!fs::is_regular_file(st)) return refuse("is not a regular file; name a file holding the secret");
  // A secret others can read is already leaked: refuse it as ssh does a key.
  if ((st.permissions() & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none)
    return refuse("can be read by group or others; run: chmod 600 " + path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) return refuse(std::string("cannot be read: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return refuse("is empty; write the secret into it");
  return s;
}

std::string read_secret_file(const std::filesystem::path& path) {
  auto secret = load_secret_file(path);
  if (!secret) throw std::runtime_error(secret.message());
  return std::move(secret.value());
}

}  // namespace tandem::sdk
