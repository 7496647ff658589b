// Loads plugin shared objects with Boost.DLL and hands out plugin objects that
// keep their library loaded for as long as they live.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tandem/sdk/plugin.h"
#include "tandem/sdk/result.h"

namespace tandem::core {

struct PluginManifestInfo {
  std::string name;
  std::string version;
  std::string description;
  std::string sdk_version;
  std::uint32_t abi_version = 0;
  std::filesystem::path path;
};

// A created plugin. The shared_ptr's deleter holds the library, so the code
// stays mapped until the last reference to the object is gone.
struct LoadedPlugin {
  PluginManifestInfo manifest;
  std::shared_ptr<sdk::Plugin> plugin;
};

class PluginLoader {
 public:
  // search_dirs empty: <dir of the running executable>/../lib/tandem/plugins,
  // then TANDEM_PLUGIN_INSTALL_DIR.
  explicit PluginLoader(std::vector<std::filesystem::path> search_dirs = {});

  // `plugin` is a type name ("config-rsync" -> tandem-config-rsync.so in the
  // search dirs) or a path to a .so. Distinct errors: file not found (lists
  // where it looked), not a loadable library, not a tandem plugin (no
  // manifest), ABI mismatch, manifest name differs, factory threw.
  sdk::Result<LoadedPlugin> load(const std::string& plugin) const;

  // Reads only the manifest (for `tandemctl plugins`); never calls the factory.
  sdk::Result<PluginManifestInfo> inspect(const std::filesystem::path& file) const;
  // Every tandem-*.so in the search dirs.
  std::vector<std::filesystem::path> discover() const;

  const std::vector<std::filesystem::path>& search_dirs() const { return dirs_; }

 private:
  std::vector<std::filesystem::path> dirs_;
};

}  // namespace tandem::core
