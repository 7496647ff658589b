// The one line a plugin author writes to export a plugin:
//
//   TANDEM_PLUGIN(MyStorePlugin, "my-store", "1.0.0", "Keeps my store in sync")
//
// in exactly one .cpp of the plugin (by convention src/export.cpp). It is the
// only place the plugin's name, version and description are written: the
// host reads them from the manifest, info() answers them from it (the
// plugin's own info() leaves them empty), and tandem_add_plugin() in CMake
// reads the name from this line for the file name tandem-<name>.so. It exports
// the manifest and the factory under fixed Boost.DLL aliases, and wraps the
// plugin in a guard that turns every exception into an error result, so no
// exception crosses the library boundary.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <utility>

#include <boost/dll/alias.hpp>

#include "tandem/sdk/abi.h"
#include "tandem/sdk/plugin.h"

namespace tandem::sdk::detail {

inline std::string current_exception_text() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

// A logic_error is a bug (internal); anything else a failure of the operation.
inline ErrorCode exception_code() {
  try {
    throw;
  } catch (const ConfigError&) {
    return ErrorCode::invalid_config;
  } catch (const std::logic_error&) {
    return ErrorCode::internal;
  } catch (...) {
    return ErrorCode::failed;
  }
}

// Forwards every call to the author's plugin inside try/catch, and answers
// the plugin's identity (name, version, description) from its manifest: the
// TANDEM_PLUGIN line is the one place they are written.
class GuardedPlugin final : public Plugin {
 public:
  GuardedPlugin(std::unique_ptr<Plugin> inner, const PluginManifest& manifest)
      : inner_(std::move(inner)), manifest_(manifest) {}

  PluginInfo info() const override {
    PluginInfo out;
    std::string trouble;
    try {
      out = inner_->info();
    } catch (...) {
      out = PluginInfo{};
      trouble = " (info() threw: " + current_exception_text() + ")";
    }
    out.name = manifest_.name;
    out.version = manifest_.version;
    out.description = manifest_.description + trouble;
    return out;
  }
  ConfigSchema schema() const override {
    try {
      return inner_->schema();
    } catch (...) {
      return {};
    }
  }
  Status configure(const StoreConfig& config, HostContext& host) override {
    try {
      return inner_->configure(config, host);
    } catch (const ConfigError& e) {
      return Status::error(ErrorCode::invalid_config, e.what());
    } catch (...) {
      return Status::failure("configure failed: " + current_exception_text());
    }
  }
  Status start() override {
    return guard_status("start", [&] { return inner_->start(); });
  }
  void stop() override {
    try {
      inner_->stop();
    } catch (...) { /* stop must not throw; nothing left to report to */
    }
  }
  void interrupt() override {
    try {
      inner_->interrupt();
    } catch (...) { /* the stop that follows reports what is left */
    }
  }
  Result<SyncReport> sync() override {
    return guard("sync", [&] { return inner_->sync(); });
  }
  Health health() const override {
    try {
      return inner_->health();
    } catch (...) {
      return Health::make(HealthStatus::failed, "health() threw: " + current_exception_text());
    }
  }
  Result<PrepareReport> prepare(const FailoverRequest& r) override {
    return guard("prepare", [&] { return inner_->prepare(r); });
  }
  Result<StepReport> promote(const FailoverRequest& r) override {
    return guard("promote", [&] { return inner_->promote(r); });
  }
  Result<StepReport> demote(const FailoverRequest& r) override {
    return guard("demote", [&] { return inner_->demote(r); });
  }
  Result<StepReport> rejoin(const FailoverRequest& r) override {
    return guard("rejoin", [&] { return inner_->rejoin(r); });
  }
  void on_role_change(Role role, std::uint64_t epoch) override {
    try {
      inner_->on_role_change(role, epoch);
    } catch (...) { /* reported through health by the plugin */
    }
  }
  // The rows' handlers are wrapped here, in the plugin's own code, so that
  // an exception from one never reaches the host that runs it.
  std::vector<Diagnostic> diagnostics() override {
    return guarded_rows("diagnose ", [&] { return inner_->diagnostics(); });
  }
  std::vector<Action> actions() override {
    return guarded_rows("action ", [&] { return inner_->actions(); });
  }
  void on_peer_event(const nlohmann::json& event) override {
    try {
      inner_->on_peer_event(event);
    } catch (...) { /* a bad peer message must not kill the host */
    }
  }

 private:
  template <class F>
  static auto guarded_rows(const std::string& what, F&& list) -> decltype(list()) {
    decltype(list()) rows;
    try {
      rows = list();
    } catch (...) {
      return {};
    }
    for (auto& row : rows) {
      if (!row.run) continue;
      row.run = [what = what + row.name, run = std::move(row.run)](const auto& args) {
        return guard(what, [&] { return run(args); });
      };
    }
    return rows;
  }
  template <class F>
  static auto guard(const std::string& what, F&& f) -> decltype(f()) {
    using R = decltype(f());
    try {
      return f();
    } catch (...) {
      return R::error(exception_code(), what + " failed: " + current_exception_text());
    }
  }
  template <class F>
  static Status guard_status(const std::string& what, F&& f) {
    try {
      return f();
    } catch (...) {
      return Status::error(exception_code(), what + " failed: " + current_exception_text());
    }
  }

  std::unique_ptr<Plugin> inner_;
  const PluginManifest& manifest_;
};

template <class PluginClass>
Plugin* create_guarded(const PluginManifest& manifest, std::string* error) noexcept {
  try {
    return new GuardedPlugin(std::make_unique<PluginClass>(), manifest);
  } catch (...) {
    if (error) {
      try {
        *error = current_exception_text();
      } catch (...) {}
    }
    return nullptr;
  }
}

}  // namespace tandem::sdk::detail

#define TANDEM_PLUGIN(PluginClass, NAME, VERSION, DESCRIPTION)                                            \
  namespace {                                                                                             \
  const ::tandem::sdk::PluginManifest tandem_manifest_instance_{::tandem::sdk::kManifestMagic,            \
                                                                ::tandem::sdk::kAbiVersion,               \
                                                                NAME,                                     \
                                                                VERSION,                                  \
                                                                DESCRIPTION,                              \
                                                                TANDEM_SDK_VERSION_STRING};               \
  const ::tandem::sdk::PluginManifest* tandem_manifest_function_() { return &tandem_manifest_instance_; } \
  ::tandem::sdk::Plugin* tandem_factory_function_(std::string* error) {                                   \
    return ::tandem::sdk::detail::create_guarded<PluginClass>(tandem_manifest_instance_, error);          \
  }                                                                                                       \
  }                                                                                                       \
  BOOST_DLL_ALIAS(tandem_manifest_function_, tandem_plugin_manifest)                                      \
  BOOST_DLL_ALIAS(tandem_factory_function_, tandem_create_plugin)
