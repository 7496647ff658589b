#include "tree_checksum.h"

#include <fnmatch.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace tandem::config_rsync {
namespace fs = std::filesystem;

namespace {

// RAII over OpenSSL's digest context.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("cannot initialise SHA-256 (libcrypto)");
  }
  void update(const void* data, size_t n) {
    if (n && EVP_DigestUpdate(ctx_.get(), data, n) != 1) throw std::runtime_error("SHA-256 update failed");
  }
  // Length-prefixed, so ("ab","c") and ("a","bc") hash differently.
  void field(const std::string& s) {
    std::uint64_t n = s.size();
    update(&n, sizeof n);
    update(s.data(), s.size());
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), digest, &len) != 1) throw std::runtime_error("SHA-256 final failed");
    std::string out;
    char buf[3];
    for (unsigned i = 0; i < len; ++i) {
      std::snprintf(buf, sizeof buf, "%02x", digest[i]);
      out += buf;
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

bool is_rsync_temporary(const std::string& name) {
  // --delay-updates staging directory, and in-flight ".name.XXXXXX" temp files.
  return name == ".~tmp~";
}

struct Record {
  std::string relative;
  fs::path absolute;
  fs::file_type type;
};

void hash_entry(Sha256& h, const Record& r, TreeChecksum& out) {
  std::error_code ec;
  auto st = fs::symlink_status(r.absolute, ec);
  if (ec == std::errc::no_such_file_or_directory) {  // removed while we walked: a tree in flux
    h.field("vanished:" + r.relative);
    return;
  }
  if (ec) throw std::runtime_error("cannot stat " + r.absolute.string() + ": " + ec.message());
  char type = fs::is_directory(st) ? 'd' : fs::is_symlink(st) ? 'l' : fs::is_regular_file(st) ? 'f' : 'o';
  h.field(std::string(1, type));
  h.field(r.relative);
  h.field(std::to_string(static_cast<unsigned>(st.permissions()) & 07777));
  ++out.entries;
  if (type == 'l') {
    h.field(fs::read_symlink(r.absolute).string());
  } else if (type == 'f') {
    std::ifstream in(r.absolute, std::ios::binary);
    if (!in) {
      if (!fs::exists(r.absolute, ec)) return h.field("vanished");
      throw std::runtime_error("cannot read " + r.absolute.string());
    }
    auto size = fs::file_size(r.absolute, ec);
    h.field(std::to_string(ec ? 0 : size));
    char buf[64 * 1024];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      h.update(buf, static_cast<size_t>(in.gcount()));
      out.bytes += static_cast<std::uint64_t>(in.gcount());
    }
  }
}

}  // namespace

bool is_excluded(const std::vector<std::string>& patterns, const std::string& rel, bool is_directory) {
  std::string base = rel.substr(rel.rfind('/') == std::string::npos ? 0 : rel.rfind('/') + 1);
  for (std::string p : patterns) {
    if (p.size() > 1 && p.back() == '/') {
      if (!is_directory) continue;
      p.pop_back();
    }
    bool matched = false;
    if (p.front() == '/')
      matched = ::fnmatch(p.c_str() + 1, rel.c_str(), FNM_PATHNAME) == 0;
    else if (p.find('/') != std::string::npos)
      matched =
          ::fnmatch(p.c_str(), rel.c_str(), FNM_PATHNAME) == 0 || ::fnmatch(("*/" + p).c_str(), rel.c_str(), 0) == 0;
    else
      matched = ::fnmatch(p.c_str(), base.c_str(), 0) == 0;
    if (matched) return true;
  }
  return false;
}

TreeChecksum compute_tree_checksum(const Settings& settings) {
  Sha256 h;
  TreeChecksum out;
  for (const auto& entry : settings.paths) {
    h.field("entry:" + entry.name);
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(entry.path, ec))) {
      h.field("missing");
      continue;
    }
    if (entry.is_file || !fs::is_directory(entry.path, ec)) {
      hash_entry(h, Record{"", entry.path, fs::file_type::regular}, out);
      continue;
    }
    std::vector<Record> records{Record{".", entry.path, fs::file_type::directory}};  // the root's own mode
    fs::recursive_directory_iterator it(entry.path, fs::directory_options::none, ec), end;
    if (ec) throw std::runtime_error("cannot list " + entry.path.string() + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) throw std::runtime_error("cannot list " + entry.path.string() + ": " + ec.message());
      std::string rel = it->path().lexically_relative(entry.path).generic_string();
      bool dir = it->is_directory(ec) && !it->is_symlink(ec);
      if (is_rsync_temporary(it->path().filename().string()) || is_excluded(settings.excludes, rel, dir)) {
        if (dir) it.disable_recursion_pending();
        continue;
      }
      records.push_back(Record{rel, it->path(), dir ? fs::file_type::directory : fs::file_type::regular});
    }
    std::sort(records.begin(), records.end(), [](const Record& a, const Record& b) { return a.relative < b.relative; });
    for (auto& r : records) hash_entry(h, r, out);
  }
  out.sha256 = h.hex();
  return out;
}

}  // namespace tandem::config_rsync
