#include "cli_test_support.h"

#include <fstream>
#include <stdexcept>

namespace tandem::clitest {

sdk::ProcessResult tandemctl(const std::vector<std::string>& args) {
  sdk::ProcessSpec spec;
  spec.argv = {TANDEMCTL_BINARY};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = {{"TANDEM_CONFIG", ""}, {"TANDEM_PLUGIN_PATH", ""}};
  spec.timeout = std::chrono::seconds(60);
  auto r = sdk::run_process(spec);
  if (!r.ok()) throw std::runtime_error("cannot run tandemctl: " + r.message());
  return *r;
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p);
  out << text;
}

std::filesystem::path write_config(const std::filesystem::path& dir, int port, const std::string& stores) {
  write_file(dir / "api-token", "cli-test-token\n");
  // Secret files are owner-only, or the check and the daemon refuse them.
  std::filesystem::permissions(dir / "api-token",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string text =
      "[node]\nname = \"alpha\"\naddress = \"127.0.0.1\"\nrole = \"primary\"\ndata_dir = \"data\"\n\n"
      "[peer]\nname = \"beta\"\naddress = \"127.0.0.1\"\napi_url = \"http://127.0.0.1:1\"\n\n"
      "[api]\nlisten = \"127.0.0.1:" +
      std::to_string(port) +
      "\"\ntoken_file = \"api-token\"\n\n"
      "[plugins]\nsearch_dirs = [\"" TANDEM_TEST_PLUGIN_DIR "\"]\n\n" +
      stores;
  write_file(dir / "tandem.toml", text);
  return dir / "tandem.toml";
}

}  // namespace tandem::clitest
