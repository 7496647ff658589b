#include "support/rsync_daemon.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

namespace tandem::testsupport {
namespace fs = std::filesystem;

RsyncDaemon::RsyncDaemon(RsyncDaemonOptions options)
    : options_(std::move(options)), temp_(std::make_unique<sdk::testing::TempDir>("tandem-rsyncd")) {
  if (options_.modules.empty()) throw std::runtime_error("RsyncDaemon: no modules given");
  port_ = options_.port ? options_.port : sdk::testing::free_port();
  const fs::path conf = temp_->path() / "rsyncd.conf";
  std::ofstream c(conf);
  // uid/gid: serve as the test's own user (as root rsync would drop to nobody).
  c << "use chroot = no\n"
    << "uid = " << ::geteuid() << "\n"
    << "gid = " << ::getegid() << "\n"
    << "list = yes\n"
    << "read only = " << (options_.read_only ? "yes" : "no") << "\n"
    << "hosts allow = " << options_.hosts_allow << "\n";
  if (options_.auth_user) {
    const fs::path secrets = temp_->path() / "rsyncd.secrets";
    {
      std::ofstream s(secrets);
      s << *options_.auth_user << ":" << options_.auth_password.value_or("") << "\n";
    }
    fs::permissions(secrets, fs::perms::owner_read | fs::perms::owner_write);  // rsync refuses others-readable
    c << "auth users = " << *options_.auth_user << "\n"
      << "secrets file = " << secrets.string() << "\n";
  }
  for (auto& [name, path] : options_.modules) c << "\n[" << name << "]\n  path = " << path.string() << "\n";
  c.close();
  if (!c) throw std::runtime_error("RsyncDaemon: cannot write " + conf.string());
  launch();
}

RsyncDaemon::~RsyncDaemon() { process_.stop(); }

std::string RsyncDaemon::url(const std::string& module) const {
  return "rsync://" + options_.address + ":" + std::to_string(port_) + (module.empty() ? "" : "/" + module);
}

void RsyncDaemon::launch() {
  sdk::ChildSpec spec;
  spec.argv = options_.exec_prefix;
  const fs::path log_file = temp_->path() / "rsyncd.log";
  for (std::string arg : {std::string("rsync"), std::string("--daemon"), std::string("--no-detach"),
                          "--config=" + (temp_->path() / "rsyncd.conf").string(), "--port=" + std::to_string(port_),
                          "--address=" + options_.address, "--log-file=" + log_file.string()})
    spec.argv.push_back(arg);
  spec.log_file = temp_->path() / "rsyncd.out";
  auto log_size = [&] {
    std::error_code ec;
    auto n = fs::file_size(log_file, ec);
    return ec ? 0 : n;
  };
  const auto logged_before = log_size();
  process_ = start_background(spec);
  // In another namespace the port cannot be probed from here: the daemon's
  // own "listening on port" line (after any earlier run's) says it is up.
  auto listening = [&] {
    if (options_.exec_prefix.empty())
      return sdk::testing::wait_for_port(options_.address, port_, std::chrono::seconds(10));
    return sdk::testing::eventually(
        [&] {
          std::ifstream log(log_file);
          log.seekg(static_cast<std::streamoff>(logged_before));
          std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
          return text.find("listening on port") != std::string::npos;
        },
        std::chrono::seconds(10));
  };
  if (!listening() || !process_.running()) {
    std::string tail = process_.log_tail();
    std::ifstream log(temp_->path() / "rsyncd.log");
    std::string line, log_text;
    while (std::getline(log, line)) log_text += line + "\n";
    process_.stop();
    throw std::runtime_error("rsync daemon on port " + std::to_string(port_) + " did not start: " + tail + log_text);
  }
}

void RsyncDaemon::restart() {
  process_.stop();
  launch();
}

}  // namespace tandem::testsupport
