// Servers a test starts are sdk::ChildProcess objects (tandem's one process
// layer); this adds only what a test wants: a start that throws, because a
// test cannot go on without its server.
#pragma once

#include <stdexcept>

#include "tandem/sdk/process.h"

namespace tandem::testsupport {

// Starts `spec`; throws std::runtime_error with the reason when it cannot.
inline sdk::ChildProcess start_background(const sdk::ChildSpec& spec) {
  sdk::ChildProcess child;
  if (auto started = child.start(spec); !started.ok()) throw std::runtime_error(started.message());
  return child;
}

}  // namespace tandem::testsupport
