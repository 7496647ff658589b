// Memory bounds in tests measure the real process RSS. Under `make test-asan`
// that RSS also holds AddressSanitizer's quarantine of freed memory (256 MiB by
// default), its shadow memory and redzones, so a bound that is right for the
// product is wrong for the instrumented build. Tests add this allowance to
// their RSS bound: zero in the normal suite, which checks the real bound.
#pragma once

#include <cstdint>

namespace tandem::testsupport {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::uint64_t kSanitizerRssAllowanceBytes = 384ull << 20;
#else
inline constexpr std::uint64_t kSanitizerRssAllowanceBytes = 0;
#endif

inline constexpr double kSanitizerRssAllowanceMiB = static_cast<double>(kSanitizerRssAllowanceBytes >> 20);

}  // namespace tandem::testsupport
