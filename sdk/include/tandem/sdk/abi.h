// The binary contract between tandemd and a plugin shared object.
#pragma once

#include <cstdint>
#include <string>

namespace tandem::sdk {

// Bumped whenever a change to the SDK headers breaks binary compatibility
// (a virtual method added in the middle, a struct layout change). The loader
// refuses a plugin whose manifest carries another value.
inline constexpr std::uint32_t kAbiVersion = 8;

// First field of every manifest; tells a tandem plugin from another library
// that happens to export a symbol of the same name.
inline constexpr std::uint32_t kManifestMagic = 0x54414e44;  // "TAND"

#define TANDEM_SDK_VERSION_STRING "0.1.0"

// Plain data the loader reads before running any plugin code.
struct PluginManifest {
  std::uint32_t magic;
  std::uint32_t abi_version;
  const char* name;         // plugin type, e.g. "config-rsync"
  const char* version;      // plugin version
  const char* description;  // one line
  const char* sdk_version;  // TANDEM_SDK_VERSION_STRING the plugin was built with
};

class Plugin;

// Symbol aliases exported by every plugin (see TANDEM_PLUGIN in export.h).
inline constexpr const char* kManifestSymbol = "tandem_plugin_manifest";
inline constexpr const char* kFactorySymbol = "tandem_create_plugin";

using ManifestFunction = const PluginManifest*();
// Returns a new plugin, or nullptr with *error set (the constructor threw).
using FactoryFunction = Plugin*(std::string* error);

}  // namespace tandem::sdk
