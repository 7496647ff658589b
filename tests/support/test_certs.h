// Certificates for one test, made by scripts/make-test-certs.sh in a temp dir
// (never committed): a CA, one certificate per node naming its addresses
// (plus 127.0.0.1 and localhost), and the bad ones: expired.pem, wrong-name.pem
// (names only wrong.invalid / 192.0.2.99), other.pem (signed by other-ca.pem).
// Every .key is mode 0600. Throws std::runtime_error when openssl fails.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testsupport {

class TestCerts {
 public:
  // nodes: {"alpha", "10.0.0.1"}, {"beta", "10.0.0.2,beta.example"}.
  explicit TestCerts(const std::vector<std::pair<std::string, std::string>>& nodes = {{"alpha", "127.0.0.1"},
                                                                                      {"beta", "127.0.0.1"}});
  std::filesystem::path dir() const { return dir_.path() / "tls"; }
  std::filesystem::path ca() const { return dir() / "ca.pem"; }
  std::filesystem::path cert(const std::string& name) const { return dir() / (name + ".pem"); }
  std::filesystem::path key(const std::string& name) const { return dir() / (name + ".key"); }

 private:
  sdk::testing::TempDir dir_{"tandem-certs"};
};

}  // namespace tandem::testsupport
