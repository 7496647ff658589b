// The normal suite's side of a fuzz target: every seed input
// (tests/fuzz/<target>/corpus/) and every input a fuzzer once crashed on
// (tests/fuzz/<target>/regressions/) is run through the target's
// LLVMFuzzerTestOneInput, one test per file. A broken invariant aborts, an
// uncaught exception terminates, and under make test-asan a memory error is
// reported: each fails that file's test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs() {
  std::vector<fs::path> files;
  for (const char* sub : {"corpus", "regressions"}) {
    fs::path dir = fs::path(FUZZ_TARGET_DIR) / sub;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string test_name(const testing::TestParamInfo<fs::path>& info) {
  std::string name = info.param.parent_path().filename().string() + "_" + info.param.filename().string();
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class FuzzInput : public testing::TestWithParam<fs::path> {};

TEST_P(FuzzInput, RunsClean) {
  std::ifstream in(GetParam(), std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << GetParam();
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Files, FuzzInput, testing::ValuesIn(inputs()), test_name);

TEST(FuzzCorpus, HasSeeds) { EXPECT_FALSE(inputs().empty()) << "no seed inputs under " << FUZZ_TARGET_DIR; }

}  // namespace
