#include "tandem/sdk/clone_test.h"

#include <chrono>
#include <fstream>
#include <system_error>

namespace tandem::sdk {
namespace fs = std::filesystem;
using nlohmann::json;

Result<CloneTestArgs> CloneTestArgs::parse(const json& args) {
  auto bad = [](const std::string& why) { return Result<CloneTestArgs>::error(ErrorCode::invalid_argument, why); };
  if (!args.is_object()) return bad("clone-test arguments must be a JSON object");
  CloneTestArgs out;
  if (!args.contains("dir") || !args["dir"].is_string() || args["dir"].get<std::string>().empty())
    return bad("clone-test needs 'dir', the absolute directory the clone of this store goes into");
  out.dir = args["dir"].get<std::string>();
  if (!out.dir.is_absolute()) return bad("clone-test 'dir' must be an absolute path, not '" + out.dir.string() + "'");
  if (args.contains("port")) {
    if (!args["port"].is_number_integer() || args["port"].get<long>() < 1 || args["port"].get<long>() > 65535)
      return bad("clone-test 'port' must be a TCP port (1-65535)");
    out.port = args["port"].get<int>();
  }
  if (args.contains("refresh")) {
    if (!args["refresh"].is_boolean()) return bad("clone-test 'refresh' must be true or false");
    out.refresh = args["refresh"].get<bool>();
  }
  if (args.contains("mask_sql")) {
    if (!args["mask_sql"].is_string() || !fs::path(args["mask_sql"].get<std::string>()).is_absolute())
      return bad("clone-test 'mask_sql' must be the absolute path of a SQL file");
    out.mask_sql = args["mask_sql"].get<std::string>();
  }
  if (args.contains("mask_command")) {
    if (!args["mask_command"].is_string() || args["mask_command"].get<std::string>().empty())
      return bad("clone-test 'mask_command' must be a non-empty command line");
    out.mask_command = args["mask_command"].get<std::string>();
  }
  return out;
}

json CloneTestArgs::to_json() const {
  json out{{"dir", dir.string()}, {"refresh", refresh}};
  if (port) out["port"] = port;
  if (mask_sql) out["mask_sql"] = mask_sql->string();
  if (mask_command) out["mask_command"] = *mask_command;
  return out;
}

Action clone_test_action(std::string description, std::function<Result<json>(const CloneTestArgs&)> clone) {
  return {kCloneTestAction, std::move(description), [clone = std::move(clone)](const json& args) -> Result<json> {
            auto parsed = CloneTestArgs::parse(args);
            if (!parsed) return Result<json>(parsed.error());
            return clone(*parsed);
          }};
}

Result<bool> prepare_clone_dir(const CloneTestArgs& args) {
  std::error_code ec;
  const bool marked = fs::exists(args.dir / kCloneMarkerFile, ec);
  if (marked && !args.refresh)
    return Result<bool>::error(ErrorCode::refused, args.dir.string() +
                                                       " already holds a clone: pass refresh to replace it with a "
                                                       "newer copy, or choose another directory");
  if (!marked && fs::exists(args.dir, ec) && !fs::is_empty(args.dir, ec))
    return Result<bool>::error(ErrorCode::refused, args.dir.string() + " is not empty and holds no clone (" +
                                                       kCloneMarkerFile +
                                                       "): tandem writes a clone only into an empty or new directory");
  fs::create_directories(args.dir, ec);
  if (ec) return Result<bool>::failure("cannot create " + args.dir.string() + ": " + ec.message());
  return marked;
}

Status write_clone_marker(const fs::path& dir, const json& what) {
  json marker = what;
  marker["made_at_unix"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::ofstream out(dir / kCloneMarkerFile, std::ios::trunc);
  out << marker.dump(2) << "\n";
  if (!out) return Status::failure("cannot write " + (dir / kCloneMarkerFile).string());
  return {};
}

}  // namespace tandem::sdk
