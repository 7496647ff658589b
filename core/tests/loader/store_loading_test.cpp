#include <gtest/gtest.h>

#include "config/host_config.h"
#include "config/store_names.h"
#include "loader/store_loading.h"
#include "tandem/sdk/testing/test_host.h"

namespace tandem::core {
namespace {

const std::string kHead = R"([node]
name = "a"
address = "127.0.0.1"
role = "primary"
data_dir = "/x"
[peer]
name = "b"
address = "127.0.0.2"
api_url = "http://127.0.0.2:7480"
)";  // 9 lines

HostConfig parse(const std::string& stores) {
  auto loaded = parse_host_config(kHead + stores, "/etc/tandem/t.toml");
  if (auto* e = std::get_if<ConfigErrors>(&loaded)) {
    ADD_FAILURE() << e->joined();
    return {};
  }
  return std::get<HostConfig>(std::move(loaded));
}

::testing::AssertionResult has(const std::string& text, const std::string& fragment) {
  if (text.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << fragment << "'";
}

PluginLoader loader() { return PluginLoader({TANDEM_TEST_PLUGIN_DIR}); }

TEST(StoreLoading, LoadsValidatesAndConfiguresAStore) {
  auto config = parse("[stores.greeter]\nplugin = \"loader-good\"\ngreeting = \"hello\"\nsync_interval = \"2m\"\n");
  sdk::testing::TestHostOptions options;
  options.store_name = "greeter";
  sdk::testing::TestHost host(options);
  auto store = load_store(config.stores.at(0), loader(), host);
  ASSERT_TRUE(store.ok()) << store.message();
  EXPECT_EQ(store->name, "greeter");
  EXPECT_EQ(store->loaded.manifest.name, "loader-good");
  EXPECT_EQ(store->config.string("greeting"), "hello");
  EXPECT_EQ(store->config.sync_interval(), std::chrono::minutes(2)) << "the host's key, validated with the table";
  auto diag = store->loaded.plugin->diagnose("echo", {});
  ASSERT_TRUE(diag.ok());
  EXPECT_EQ(diag->output, "greeter: hello");
}

TEST(StoreLoading, SchemaErrorsNameTheStoreAndTheirPosition) {
  auto config = parse("[stores.greeter]\nplugin = \"loader-good\"\ngreting = \"hello\"\n");
  sdk::testing::TestHost host;
  auto store = load_store(config.stores.at(0), loader(), host);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(has(store.message(),
                  "/etc/tandem/t.toml:12:1: store 'greeter': unknown key 'greting'; did you mean "
                  "'greeting'?"));
  EXPECT_TRUE(has(store.message(), "/etc/tandem/t.toml:10:1: store 'greeter': missing required key 'greeting'"));
}

TEST(StoreLoading, ConfigureRefusalKeepsTheKeysPosition) {
  auto config = parse("[stores.greeter]\nplugin = \"loader-good\"\ngreeting = \"refuse\"\n");
  sdk::testing::TestHost host;
  auto store = load_store(config.stores.at(0), loader(), host);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.message(), "/etc/tandem/t.toml:12:12: store 'greeter', key 'greeting': must not be 'refuse'");
}

TEST(StoreLoading, ConfigureThatThrowsIsReportedWithItsText) {
  auto config = parse("[stores.boom]\nplugin = \"loader-throwing-configure\"\n");
  sdk::testing::TestHost host;
  auto store = load_store(config.stores.at(0), loader(), host);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.message(),
            "/etc/tandem/t.toml:10:1: store 'boom' (plugin loader-throwing-configure): configure failed: configure "
            "exploded on purpose");
}

TEST(StoreLoading, LoaderErrorsNameTheStore) {
  auto config = parse("[stores.x]\nplugin = \"loader-abi999\"\n");
  sdk::testing::TestHost host;
  auto store = load_store(config.stores.at(0), loader(), host);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(has(store.message(), "/etc/tandem/t.toml:10:1: store 'x': plugin "));
  EXPECT_TRUE(has(store.message(), "ABI mismatch"));
}

TEST(StoreLoading, StoresWithEquivalentNamesAreRefused) {
  HostConfig config;
  config.stores.push_back({"pg-main", "p", true, "f:1:1", nullptr});
  config.stores.push_back({"other", "p", true, "f:4:1", nullptr});
  config.stores.push_back({"PG_Main", "p", true, "f:7:1", nullptr});
  auto errors = check_store_set(config);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "f:7:1: store 'PG_Main' has the same name as store 'pg-main' at f:1:1 (names are compared ignoring case, "
            "'-' and '_'); give each store a distinct name");
  config.stores.pop_back();
  EXPECT_TRUE(check_store_set(config).empty());
}

}  // namespace
}  // namespace tandem::core
