#include <gtest/gtest.h>

#include "config/host_config.h"
#include "test_schema.h"

namespace tandem::core {
namespace {

const char* kHead = R"([node]
name = "a"
address = "127.0.0.1"
role = "primary"
data_dir = "/x"
[peer]
name = "b"
address = "127.0.0.2"
api_url = "http://127.0.0.2:7480"
)";  // 9 lines

HostConfig parse(const std::string& stores, const std::string& name = "/etc/tandem/t.toml") {
  auto loaded = parse_host_config(std::string(kHead) + stores, name);
  if (auto* e = std::get_if<ConfigErrors>(&loaded)) {
    ADD_FAILURE() << e->joined();
    return {};
  }
  return std::get<HostConfig>(std::move(loaded));
}

sdk::StoreConfig must_validate(const StoreEntry& store) {
  auto v = validate_store_table(store, testing::example_schema());
  if (auto* e = std::get_if<ConfigErrors>(&v)) {
    ADD_FAILURE() << e->joined();
    return {};
  }
  return std::get<sdk::StoreConfig>(std::move(v));
}

TEST(StoreTable, ValidTableBecomesAStoreConfigWithLocations) {
  auto c = parse(R"([stores.db]
plugin = "example"
host = "db.local"
port = 6000
interval = "5m"
max_size = 1024
data_path = "data/db"
tags = ["x", "y"]
ratio = 2
verbose = true
)");
  ASSERT_EQ(c.stores.size(), 1u);
  auto config = must_validate(c.stores[0]);
  EXPECT_EQ(config.store_name(), "db");
  EXPECT_EQ(config.string("host"), "db.local");
  EXPECT_EQ(config.integer("port"), 6000);
  EXPECT_EQ(config.duration("interval"), std::chrono::minutes(5));
  EXPECT_EQ(config.size("max_size"), 1024u);
  EXPECT_EQ(config.string("data_path"), "/etc/tandem/data/db");  // relative to the file's directory
  EXPECT_EQ(config.strings("tags"), (std::vector<std::string>{"x", "y"}));
  EXPECT_DOUBLE_EQ(config.number("ratio"), 2.0);
  EXPECT_TRUE(config.boolean("verbose"));
  EXPECT_FALSE(config.has("plugin")) << "host keys are not the plugin's";
  EXPECT_EQ(config.where("port"), "/etc/tandem/t.toml:13:8");
  EXPECT_EQ(config.where("password_file"), "/etc/tandem/t.toml:10:1") << "unset keys point at the table";
  try {
    config.fail("port", "is reserved");
    FAIL() << "fail() must throw";
  } catch (const sdk::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "/etc/tandem/t.toml:13:8: store 'db', key 'port': is reserved");
  }
}

TEST(StoreTable, DefaultsComeFromTheSchema) {
  auto c = parse("[stores.db]\nplugin = \"example\"\nhost = \"h\"\n");
  auto config = must_validate(c.stores.at(0));
  EXPECT_EQ(config.integer("port"), 5432);
  EXPECT_EQ(config.duration("interval"), std::chrono::seconds(60));
  EXPECT_EQ(config.size("max_size"), 64u * 1024 * 1024);
  EXPECT_FALSE(config.boolean("verbose"));
  EXPECT_TRUE(config.strings("tags").empty());
}

TEST(StoreTable, TableArrayChildrenCarryTheirOwnLocations) {
  auto c = parse(R"([stores.search]
plugin = "example"
host = "h"

[[stores.search.indices]]
alias = "products"
query = "SELECT 1"

[[stores.search.indices]]
alias = "orders"
)");
  auto config = must_validate(c.stores.at(0));
  auto indices = config.tables("indices");
  ASSERT_EQ(indices.size(), 2u);
  EXPECT_EQ(indices[0].string("alias"), "products");
  EXPECT_EQ(indices[0].string("query"), "SELECT 1");
  EXPECT_EQ(indices[1].string("alias"), "orders");
  EXPECT_EQ(indices[1].where("alias"), "/etc/tandem/t.toml:19:9");
  EXPECT_EQ(indices[1].where("query"), "/etc/tandem/t.toml:18:1") << "an unset child key points at its table";
}

TEST(StoreTable, InlineTableArraysAreAccepted) {
  auto c = parse("[stores.s]\nplugin = \"example\"\nhost = \"h\"\nindices = [{ alias = \"a\" }, { alias = \"b\" }]\n");
  auto config = must_validate(c.stores.at(0));
  EXPECT_EQ(config.tables("indices").size(), 2u);
}

TEST(StoreTable, ReportsEveryProblemOfTheTable) {
  auto c = parse(R"([stores.db]
plugin = "example"
port = 1.5
verbose = "yes"
secret = "x"
)");
  auto v = validate_store_table(c.stores.at(0), testing::example_schema());
  ASSERT_TRUE(std::holds_alternative<ConfigErrors>(v));
  const auto& e = std::get<ConfigErrors>(v);
  EXPECT_EQ(e.messages.size(), 4u) << e.joined();
  std::string all = e.joined();
  EXPECT_NE(all.find("t.toml:12:8: store 'db': key 'port' must be an integer, got float"), std::string::npos) << all;
  EXPECT_NE(all.find("t.toml:13:11: store 'db': key 'verbose' must be true or false, got string"), std::string::npos)
      << all;
  EXPECT_NE(all.find("t.toml:14:1: store 'db': key 'secret' holds a secret inline; secrets come from files: use "
                     "'secret_file'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("t.toml:10:1: store 'db': missing required key 'host'"), std::string::npos) << all;
}

TEST(StoreTable, DurationsAndSizesKeepTheirWrittenForm) {
  auto c = parse("[stores.db]\nplugin = \"example\"\nhost = \"h\"\ninterval = 90\nmax_size = \"1GiB\"\n");
  auto config = must_validate(c.stores.at(0));
  EXPECT_EQ(config.values().at("interval"), 90);
  EXPECT_EQ(config.values().at("max_size"), "1GiB");
  EXPECT_EQ(config.duration("interval"), std::chrono::seconds(90));
  EXPECT_EQ(config.size("max_size"), 1024ull * 1024 * 1024);
}

}  // namespace
}  // namespace tandem::core
