// A hand-written manifest announcing ABI 999: the loader must refuse it
// before the factory (which would crash the test if called) runs.
#include <cstdlib>
#include <string>

#include <boost/dll/alias.hpp>

#include "tandem/sdk/abi.h"

namespace {

const tandem::sdk::PluginManifest manifest{tandem::sdk::kManifestMagic, 999,     "loader-abi999", "9.9.9",
                                           "from the future",           "99.0.0"};
const tandem::sdk::PluginManifest* manifest_function() { return &manifest; }
tandem::sdk::Plugin* factory_function(std::string*) { std::abort(); }

}  // namespace

BOOST_DLL_ALIAS(manifest_function, tandem_plugin_manifest)
BOOST_DLL_ALIAS(factory_function, tandem_create_plugin)
