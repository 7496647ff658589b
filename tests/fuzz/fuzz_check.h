// Shared by the fuzz targets: an invariant that must hold for every input.
// A violation prints what broke and aborts, which libFuzzer records as a
// crash (and the regression test, replaying the saved input, fails on).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                                          \
  do {                                                                                                  \
    if (!(cond)) {                                                                                      \
      std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s (%s)\n", __FILE__, __LINE__, what, #cond); \
      std::abort();                                                                                     \
    }                                                                                                   \
  } while (0)
