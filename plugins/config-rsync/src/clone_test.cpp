// The clone-test action (tandem/sdk/clone_test.h): a copy of this node's
// synced trees for a test instance, made with a local rsync into
// DIR/<entry name>. No store runs for it on the test node (it has no peer to
// pull from or serve to): the test instance's applications read the copies.
#include "tandem/sdk/clone_test.h"
#include "config_rsync_plugin.h"
#include "tandem/sdk/process.h"

namespace tandem::config_rsync {
namespace fs = std::filesystem;
using nlohmann::json;

sdk::Result<json> ConfigRsyncPlugin::clone_test(const sdk::CloneTestArgs& args) {
  if (args.masks())
    return sdk::Result<json>::error(sdk::ErrorCode::invalid_argument,
                                    "config-rsync cannot mask a copy of its trees: leave this store out of the mask "
                                    "options (no unmasked copy is made)");
  auto prepared = sdk::prepare_clone_dir(args);
  if (!prepared) return sdk::Result<json>(prepared.error());
  const auto started = std::chrono::steady_clock::now();
  json copies = json::array();
  for (const auto& entry : settings_.paths) {
    const fs::path target = args.dir / entry.name;
    sdk::ProcessSpec spec;
    // -a keeps modes and times; --delete: a refresh leaves no file the source no longer has.
    spec.argv = {settings_.rsync_path, "-a", "--delete", "--stats"};
    for (const auto& e : settings_.excludes) spec.argv.push_back("--exclude=" + e);
    if (entry.is_file) {
      fs::create_directories(target);
      spec.argv.push_back(entry.path.string());
      spec.argv.push_back((target / entry.path.filename()).string());
    } else {
      spec.argv.push_back(entry.path.string() + "/");
      spec.argv.push_back(target.string() + "/");
    }
    spec.timeout = std::chrono::hours(1);
    auto ran = sdk::run_process(spec);
    if (!ran) throw std::runtime_error("cannot run " + settings_.rsync_path + ": " + ran.message());
    if (!ran->succeeded())
      throw std::runtime_error("copying " + entry.path.string() + " to " + target.string() + " failed (" +
                               ran->describe() + ")");
    copies.push_back({{"name", entry.name}, {"from", entry.path.string()}, {"to", target.string()}});
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  json details{{"copies", copies}, {"seconds", seconds}, {"refreshed", *prepared}};
  if (auto marked = sdk::write_clone_marker(args.dir, details); !marked.ok())
    throw std::runtime_error(marked.message());
  return json{{"summary", std::string(*prepared ? "refreshed " : "copied ") + std::to_string(copies.size()) +
                              " tree(s) into " + args.dir.string() + "; the test instance reads them there"},
              {"store", nullptr},
              {"stop", ""},
              {"details", details}};
}

std::vector<sdk::Action> ConfigRsyncPlugin::actions() {
  return {sdk::clone_test_action(
      "Copy this node's synced trees into a test instance (tandemctl clone-test), under dir/<entry name>. "
      "Args: {\"dir\", \"refresh\"}",
      [this](const sdk::CloneTestArgs& args) { return clone_test(args); })};
}

}  // namespace tandem::config_rsync
