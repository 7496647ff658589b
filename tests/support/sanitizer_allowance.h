// Memory bounds in tests measure the real process RSS. Under `make test-asan`
// that RSS also holds AddressSanitizer's quarantine of freed memory (256 MiB by
// default), its shadow memory and redzones; under `make test-tsan` it holds
// ThreadSanitizer's shadow memory (several times the heap). A bound that is
// right for the product is wrong for the instrumented build, so tests add this
// allowance to their RSS bound: zero in the normal suite, which checks the
// real bound.
#pragma once

#include <cstdint>

namespace tandem::testsupport {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr std::uint64_t kSanitizerRssAllowanceBytes = 384ull << 20;
#else
inline constexpr std::uint64_t kSanitizerRssAllowanceBytes = 0;
#endif

inline constexpr double kSanitizerRssAllowanceMiB = static_cast<double>(kSanitizerRssAllowanceBytes >> 20);

}  // namespace tandem::testsupport
