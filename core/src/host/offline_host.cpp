#include "host/offline_host.h"

#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "tandem/sdk/file_util.h"

namespace tandem::core {

namespace fs = std::filesystem;

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = (fs::path(tmp && *tmp ? tmp : "/tmp") / "tandemctl.XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary directory from " + pattern);
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);  // best effort: a leftover temp dir harms nobody
}

void StderrLogger::log(sdk::LogLevel level, std::string_view message) {
  static const char* names[] = {"debug", "info", "warn", "error"};
  std::cerr << names[static_cast<int>(level)] << " [" << store_ << "] " << message << "\n";
}

OfflineHostContext::OfflineHostContext(const HostConfig& config, std::string store_name)
    : store_name_(std::move(store_name)),
      node_{config.node.name, config.node.address, config.node.data_dir},
      peer_{config.peer.name, config.peer.address, config.peer.api_url},
      role_(config.node.initial_role),
      logger_(store_name_),
      work_(boost::asio::make_work_guard(io_)) {
  // The daemon's persisted role wins over the configured one, as in tandemd;
  // read it without NodeState, which would create the file.
  fs::path state_file = config.node.data_dir / "node-state.json";
  std::error_code ec;
  if (fs::exists(state_file, ec)) {
    try {
      auto j = nlohmann::json::parse(sdk::read_file(state_file));
      role_ = j.at("role").get<std::string>() == "primary" ? sdk::Role::primary : sdk::Role::secondary;
      epoch_ = j.at("epoch").get<std::uint64_t>();
      fenced_ = j.value("fenced", false);
    } catch (const std::exception& e) {
      logger_.warn(std::string("cannot read ") + state_file.string() + " (" + e.what() +
                   "); using the configured role");
    }
  }
  io_thread_ = std::thread([this] { io_.run(); });
}

OfflineHostContext::~OfflineHostContext() {
  work_.reset();
  io_.stop();
  io_thread_.join();
}

sdk::StateStore& OfflineHostContext::state() {
  if (!state_) {
    // A copy of the daemon's state file: a diagnostic sees what the daemon
    // persisted, and whatever it writes is thrown away.
    fs::path real = node_.data_dir / "stores" / store_name_ / "state.json";
    fs::path copy = scratch_.path() / "state.json";
    std::error_code ec;
    if (fs::exists(real, ec)) fs::copy_file(real, copy, ec);
    state_ = std::make_unique<sdk::FileStateStore>(copy);
  }
  return *state_;
}

fs::path OfflineHostContext::store_dir() {
  fs::path real = node_.data_dir / "stores" / store_name_;
  std::error_code ec;
  if (fs::is_directory(real, ec)) return real;
  fs::path scratch = scratch_.path() / "store";
  fs::create_directories(scratch, ec);
  return scratch;
}

}  // namespace tandem::core
