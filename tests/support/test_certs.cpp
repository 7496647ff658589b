#include "support/test_certs.h"

#include <stdexcept>

#include "tandem/sdk/process.h"

namespace tandem::testsupport {

TestCerts::TestCerts(const std::vector<std::pair<std::string, std::string>>& nodes) {
  sdk::ProcessSpec spec;
  spec.argv = {std::string(TANDEM_SOURCE_DIR) + "/scripts/make-test-certs.sh", dir().string()};
  for (const auto& [name, addresses] : nodes) spec.argv.push_back(name + "=" + addresses);
  spec.timeout = std::chrono::seconds(60);
  auto run = sdk::run_process(spec);
  if (!run || !run->succeeded())
    throw std::runtime_error("scripts/make-test-certs.sh failed: " + (run ? run->describe() : run.message()));
}

}  // namespace tandem::testsupport
