// The schema's one value check (sdk::check_value): range checks that never
// overflow, and secret files refused unless only their owner can read them.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tandem/sdk/config.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::sdk {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string refusal(const ConfigKey& key, const json& value) {
  Status st = check_value(key, value);
  return st.ok() ? std::string("accepted") : st.message();
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(SchemaCheck, DurationsPastTheirRangeAreRefusedWithTheRangeNeverWrapped) {
  const ConfigKey timeout{.name = "timeout", .type = ValueType::duration, .min = "1s", .max = "1d"};
  // 18446744073709552 seconds once wrapped to 384 ms.
  EXPECT_EQ(refusal(timeout, json(18446744073709552LL)), "must be between 1s and 1d, got 18446744073709552");
  EXPECT_EQ(refusal(timeout, json("200000000000000d")), "must be between 1s and 1d, got 200000000000000d");
  EXPECT_EQ(refusal(timeout, json("200000d")), "must be between 1s and 1d, got 200000d");
  EXPECT_EQ(refusal(timeout, json("0ms")), "must be between 1s and 1d, got 0ms");
  EXPECT_EQ(refusal(timeout, json(-1)), "a duration cannot be negative");
  EXPECT_EQ(refusal(timeout, json("5 fortnights")),
            "'5 fortnights' has unknown duration unit 'fortnights' (use ms, s, m, h or d)");
  EXPECT_EQ(refusal(timeout, json("30s")), "accepted");
  EXPECT_EQ(refusal(timeout, json(86400)), "accepted");
}

TEST(SchemaCheck, ADurationTooLargeToRepresentIsRefusedEvenWithoutAMax) {
  const ConfigKey open{.name = "wait", .type = ValueType::duration};
  EXPECT_TRUE(has(refusal(open, json(18446744073709552LL)), "is too large"))
      << refusal(open, json(18446744073709552LL));
  EXPECT_TRUE(has(refusal(open, json("99999999999999999999h")), "is too large"));
  EXPECT_FALSE(parse_duration("99999999999999999999h").ok());
}

TEST(SchemaCheck, SizesPastTheirRangeAreRefusedWithTheRange) {
  const ConfigKey size{.name = "limit", .type = ValueType::size, .min = "1KiB", .max = "4GiB"};
  EXPECT_EQ(refusal(size, json("5GiB")), "must be between 1KiB and 4GiB, got 5GiB");
  EXPECT_EQ(refusal(size, json("99999999999TiB")), "must be between 1KiB and 4GiB, got 99999999999TiB");
  EXPECT_EQ(refusal(size, json(0)), "must be between 1KiB and 4GiB, got 0");
  EXPECT_EQ(refusal(size, json("64MiB")), "accepted");
  EXPECT_FALSE(parse_size("99999999999TiB").ok());
  EXPECT_EQ(*parse_size("16TiB"), 16ull << 40);
}

TEST(SchemaCheck, PortsAndIntegersStateTheirRange) {
  const ConfigKey port{.name = "port", .type = ValueType::port};
  EXPECT_EQ(refusal(port, json(70000)), "must be a TCP port between 1 and 65535, got 70000");
  EXPECT_EQ(refusal(port, json(-1)), "must be a TCP port between 1 and 65535, got -1");
  const ConfigKey db{.name = "db", .type = ValueType::integer, .min = "0", .max = "15"};
  EXPECT_EQ(refusal(db, json(99)), "must be between 0 and 15, got 99");
}

void write_secret(const fs::path& p, const std::string& content, fs::perms perms) {
  std::ofstream(p) << content;
  fs::permissions(p, perms);
}

TEST(SecretFile, OnlyANonEmptyRegularFileItsOwnerAloneCanReadIsAccepted) {
  testing::TempDir dir;
  const auto owner = fs::perms::owner_read | fs::perms::owner_write;
  const fs::path good = dir.path() / "good.pw";
  write_secret(good, "s3cret\n", owner);
  auto read = load_secret_file(good);
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_EQ(*read, "s3cret");
  EXPECT_EQ(read_secret_file(good), "s3cret");

  const fs::path shared = dir.path() / "shared.pw";
  write_secret(shared, "s3cret", owner | fs::perms::group_read | fs::perms::others_read);
  EXPECT_EQ(load_secret_file(shared).message(),
            shared.string() + " can be read by group or others; run: chmod 600 " + shared.string());
  EXPECT_THROW(read_secret_file(shared), std::runtime_error);

  const fs::path group_only = dir.path() / "group.pw";
  write_secret(group_only, "s3cret", owner | fs::perms::group_read);
  EXPECT_TRUE(has(load_secret_file(group_only).message(), "chmod 600"));

  const fs::path empty = dir.path() / "empty.pw";
  write_secret(empty, "\n", owner);
  EXPECT_EQ(load_secret_file(empty).message(), empty.string() + " is empty; write the secret into it");

  EXPECT_TRUE(has(load_secret_file(dir.path() / "missing.pw").message(), "does not exist"));
  EXPECT_TRUE(has(load_secret_file(dir.path()).message(), "is not a regular file"));
  // The secret itself never appears in a refusal.
  EXPECT_FALSE(has(load_secret_file(shared).message(), "s3cret"));
}

TEST(SecretFile, ASecretPathKeyIsReadBeforeConfigureAndByItsAccessor) {
  testing::TempDir dir;
  const ConfigKey key{
      .name = "password_file", .type = ValueType::path, .path_rule = PathRule::absolute, .secret = true};
  const ConfigKey plain{.name = "log_file", .type = ValueType::path, .path_rule = PathRule::absolute};
  const fs::path file = dir.path() / "pw";
  write_secret(file, "pw", fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  const std::string missing = (dir.path() / "nothing").string();
  auto config = StoreConfig::from_json("s", {key, plain}, {{"password_file", file.string()}, {"log_file", missing}});
  // The schema check itself reads no file (a sample.toml names files of another machine).
  EXPECT_EQ(refusal(key, json(file.string())), "accepted");
  const auto problems = check_secret_files(config);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "store 's': key 'password_file': " + file.string() +
                             " can be read by group or others; run: chmod 600 " + file.string());
  try {
    (void)config.path("password_file");
    ADD_FAILURE() << "a secret file others can read was accepted";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(has(e.what(), "run: chmod 600")) << e.what();
  }
  EXPECT_EQ(config.path("log_file"), missing) << "a plain path key is not read";
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(check_secret_files(config).empty());
  EXPECT_EQ(config.path("password_file"), file.string());
}

}  // namespace
}  // namespace tandem::sdk
