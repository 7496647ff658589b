// PluginLoader: finds tandem-<type>.so, checks its manifest before any
// plugin code beyond static initialisers runs, and creates the plugin.
#include "loader/plugin_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include <boost/dll/shared_library.hpp>

#include "tandem/sdk/abi.h"

namespace tandem::core {
namespace {

namespace fs = std::filesystem;

bool looks_like_path(const std::string& plugin) {
  return plugin.find('/') != std::string::npos ||
         (plugin.size() > 3 && plugin.compare(plugin.size() - 3, 3, ".so") == 0);
}

std::vector<fs::path> default_search_dirs() {
  std::vector<fs::path> dirs;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((exe.parent_path() / ".." / "lib" / "tandem" / "plugins").lexically_normal());
  dirs.emplace_back(TANDEM_PLUGIN_INSTALL_DIR);
  return dirs;
}

std::vector<fs::path> env_search_dirs() {
  std::vector<fs::path> dirs;
  const char* env = std::getenv("TANDEM_PLUGIN_PATH");
  if (!env) return dirs;
  std::stringstream in(env);
  std::string part;
  while (std::getline(in, part, ':'))
    if (!part.empty()) dirs.emplace_back(part);
  return dirs;
}

std::string join(const std::vector<fs::path>& dirs) {
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ", ") + d.string();
  return out.empty() ? "(none)" : out;
}

// A library whose manifest passed the checks.
struct OpenedPlugin {
  std::shared_ptr<boost::dll::shared_library> library;
  PluginManifestInfo manifest;
};

sdk::Result<OpenedPlugin> open_plugin(const fs::path& file) {
  const std::string where = "plugin " + file.string();
  std::error_code ec;
  if (!fs::exists(file, ec)) return sdk::Error{where + ": no such file"};
  if (!fs::is_regular_file(file, ec)) return sdk::Error{where + ": not a regular file"};

  // Boost.DLL drops dlerror()'s text, and that text (wrong ELF class, missing
  // dependency, undefined symbol) is what the operator needs: probe first.
  dlerror();
  void* probe = dlopen(file.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (!probe) {
    const char* why = dlerror();
    return sdk::Error{where + ": not a loadable shared object: " + std::string(why ? why : "dlopen failed") +
                      "; check that the file is a plugin built for this machine and its libraries are installed"};
  }
  auto library = std::make_shared<boost::dll::shared_library>();
  boost::dll::fs::error_code load_error;
  library->load(file.string(), boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local, load_error);
  dlclose(probe);  // the library stays mapped through `library`
  if (load_error) return sdk::Error{where + ": not a loadable shared object: " + load_error.message()};

  if (!library->has(sdk::kManifestSymbol))
    return sdk::Error{where + ": not a tandem plugin: it exports no '" + std::string(sdk::kManifestSymbol) +
                      "' (a plugin declares itself with TANDEM_PLUGIN(...) from tandem/sdk/export.h)"};
  const sdk::PluginManifest* m = library->get_alias<sdk::ManifestFunction>(sdk::kManifestSymbol)();
  if (!m || m->magic != sdk::kManifestMagic)
    return sdk::Error{where + ": not a tandem plugin: its '" + std::string(sdk::kManifestSymbol) +
                      "' does not return a tandem manifest (wrong magic number)"};
  if (m->abi_version != sdk::kAbiVersion)
    return sdk::Error{where + ": ABI mismatch: the plugin was built for tandem plugin ABI " +
                      std::to_string(m->abi_version) + ", this host speaks ABI " + std::to_string(sdk::kAbiVersion) +
                      "; rebuild the plugin against SDK " TANDEM_SDK_VERSION_STRING};
  if (!library->has(sdk::kFactorySymbol))
    return sdk::Error{where + ": not a tandem plugin: it has a manifest but exports no '" +
                      std::string(sdk::kFactorySymbol) + "' factory"};

  OpenedPlugin out;
  out.library = std::move(library);
  out.manifest.name = m->name ? m->name : "";
  out.manifest.version = m->version ? m->version : "";
  out.manifest.description = m->description ? m->description : "";
  out.manifest.sdk_version = m->sdk_version ? m->sdk_version : "";
  out.manifest.abi_version = m->abi_version;
  out.manifest.path = fs::absolute(file, ec);
  return out;
}

}  // namespace

PluginLoader::PluginLoader(std::vector<fs::path> search_dirs) {
  dirs_ = env_search_dirs();
  auto configured = search_dirs.empty() ? default_search_dirs() : std::move(search_dirs);
  dirs_.insert(dirs_.end(), configured.begin(), configured.end());
}

sdk::Result<LoadedPlugin> PluginLoader::load(const std::string& plugin) const {
  fs::path file;
  std::string requested_type;
  if (looks_like_path(plugin)) {
    file = plugin;
  } else {
    requested_type = plugin;
    const std::string file_name = "tandem-" + plugin + ".so";
    std::error_code ec;
    for (const auto& dir : dirs_) {
      if (fs::exists(dir / file_name, ec)) {
        file = dir / file_name;
        break;
      }
    }
    if (file.empty()) {
      std::string available;
      for (const auto& p : discover()) {
        std::string stem = p.stem().string();
        available += (available.empty() ? "" : ", ") + stem.substr(std::string("tandem-").size());
      }
      return sdk::Error{"plugin '" + plugin + "' not found: looked for " + file_name + " in " + join(dirs_) +
                        (available.empty() ? "" : " (found: " + available + ")") +
                        "; set [plugins] search_dirs or TANDEM_PLUGIN_PATH, or give the path to the .so"};
    }
  }

  auto opened = open_plugin(file);
  if (!opened) return sdk::Error{opened.message()};
  OpenedPlugin& op = opened.value();
  if (!requested_type.empty() && op.manifest.name != requested_type)
    return sdk::Error{"plugin " + file.string() + ": manifest name '" + op.manifest.name +
                      "' differs from the requested type '" + requested_type + "'; rename the file to tandem-" +
                      op.manifest.name + ".so or fix the plugin's TANDEM_PLUGIN name"};

  std::string factory_error;
  sdk::Plugin* raw = op.library->get_alias<sdk::FactoryFunction>(sdk::kFactorySymbol)(&factory_error);
  if (!raw)
    return sdk::Error{"plugin " + file.string() + " ('" + op.manifest.name +
                      "'): the factory threw: " + (factory_error.empty() ? "no reason given" : factory_error)};

  // The deleter owns the library: the plugin's code (its destructor included)
  // stays mapped until the last reference to the object is gone.
  auto library = op.library;
  LoadedPlugin loaded;
  loaded.manifest = op.manifest;
  loaded.plugin = std::shared_ptr<sdk::Plugin>(raw, [library](sdk::Plugin* p) { delete p; });
  return loaded;  // info()'s name and version are the manifest's (sdk/export.h): nothing to compare
}

sdk::Result<PluginManifestInfo> PluginLoader::inspect(const fs::path& file) const {
  auto opened = open_plugin(file);
  if (!opened) return sdk::Error{opened.message()};
  return opened->manifest;
}

std::vector<fs::path> PluginLoader::discover() const {
  std::vector<fs::path> found;
  std::set<std::string> seen;  // the first directory holding a name wins, as in load()
  for (const auto& dir : dirs_) {
    std::error_code ec;
    std::vector<fs::path> here;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (name.rfind("tandem-", 0) == 0 && it->path().extension() == ".so") here.push_back(it->path());
    }
    std::sort(here.begin(), here.end());
    for (auto& p : here)
      if (seen.insert(p.filename().string()).second) found.push_back(p);
  }
  return found;
}

}  // namespace tandem::core
