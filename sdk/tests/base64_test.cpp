// sdk::base64_encode / base64_decode: RFC 4648's test vectors, binary bytes,
// and what the decoder refuses.
#include <gtest/gtest.h>

#include "tandem/sdk/base64.h"

namespace tandem::sdk {
namespace {

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    auto back = base64_decode(encoded);
    ASSERT_TRUE(back) << encoded << ": " << back.message();
    EXPECT_EQ(*back, plain);
  }
}

TEST(Base64Test, EveryByteValueRoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t len = 0; len <= all.size(); len += 37) {
    auto back = base64_decode(base64_encode(all.substr(0, len)));
    ASSERT_TRUE(back) << back.message();
    EXPECT_EQ(*back, all.substr(0, len));
  }
}

TEST(Base64Test, RefusesWhatIsNotBase64) {
  for (const char* bad : {"Zg=", "Zm9", "Zg==Zg==", "Z===", "Zm9v!A==", "=Zm9", "Zm=v"}) {
    auto r = base64_decode(bad);
    EXPECT_FALSE(r) << bad << " decoded";
    if (!r) {
      EXPECT_EQ(r.code(), ErrorCode::invalid_argument) << bad;
    }
  }
}

}  // namespace
}  // namespace tandem::sdk
