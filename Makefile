# Thin wrapper over CMake. The README's two quick-start commands are
# `make demo` and `make test`; each installs missing Debian packages first.
#
# The demo and benchmarks use an optimised build in build/; the test suite
# uses its own unoptimised build in build-test/, which compiles about three
# times faster on a 2-core machine (the tests measure behaviour, not speed).
BUILD_DIR ?= build
TEST_BUILD_DIR ?= build-test
JOBS ?= 2
CTEST_ARGS ?=

PACKAGE_BUILD_DIR ?= build-package

.PHONY: all deps build build-tests test package package-test test-asan test-tsan fuzz demo demo-down demo-netns demo-netns-down clean format tidy

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD_DIR) -j$(JOBS)

build-tests: deps
	cmake -S . -B $(TEST_BUILD_DIR) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0
	cmake --build $(TEST_BUILD_DIR) -j$(JOBS)

test: build-tests
	cd $(TEST_BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 900 $(CTEST_ARGS)

# The test suite under sanitizers, each in its own build dir: AddressSanitizer
# with UndefinedBehaviorSanitizer, and ThreadSanitizer. -O1 keeps the
# instrumented tests fast enough; -g1 gives the reports file:line. Any report
# from any process the tests start fails the run (scripts/sanitized-ctest.sh).
ASAN_BUILD_DIR ?= build-asan
TSAN_BUILD_DIR ?= build-tsan
SANITIZER_CMAKE_ARGS = -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1"

test-asan: deps
	cmake -S . -B $(ASAN_BUILD_DIR) $(SANITIZER_CMAKE_ARGS) -DTANDEM_SANITIZE=address,undefined
	cmake --build $(ASAN_BUILD_DIR) -j$(JOBS)
	scripts/sanitized-ctest.sh $(ASAN_BUILD_DIR) --output-on-failure -j$(JOBS) --timeout 900 $(CTEST_ARGS)

test-tsan: deps
	cmake -S . -B $(TSAN_BUILD_DIR) $(SANITIZER_CMAKE_ARGS) -DTANDEM_SANITIZE=thread
	cmake --build $(TSAN_BUILD_DIR) -j$(JOBS)
	scripts/sanitized-ctest.sh $(TSAN_BUILD_DIR) --output-on-failure -j$(JOBS) --timeout 900 $(CTEST_ARGS)

# libFuzzer targets (tests/fuzz/: RESP requests, HTTP requests, TOML config
# + store schema, KV journal), built with clang + ASan/UBSan in build-fuzz/,
# each run FUZZ_SECONDS from its seed corpus. Only the fuzz targets and the
# libraries they need are built.
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

fuzz: deps
	cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_CXX_COMPILER=clang++ $(SANITIZER_CMAKE_ARGS) \
	  -DTANDEM_SANITIZE=address,undefined -DTANDEM_FUZZ=ON
	cmake --build $(FUZZ_BUILD_DIR) -j$(JOBS) --target fuzz_targets
	scripts/run-fuzzers.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: build
	scripts/demo-up.sh $(BUILD_DIR)

demo-down:
	scripts/demo-down.sh

# The pair in two network namespaces with their own addresses, to try a
# partition by hand (root): scripts/demo-netns.sh partition|heal|status|down.
demo-netns: build
	scripts/demo-netns.sh up $(BUILD_DIR)

demo-netns-down:
	scripts/demo-netns.sh down

# Debian packages tandem and tandem-dev (CPack, packaging/), in their own
# optimised build without the test suites; lintian-checked. The .deb paths
# are the last lines printed.
package: deps
	scripts/build-package.sh $(PACKAGE_BUILD_DIR) $(JOBS)

# The install test on those packages: dpkg -i into a scratch root (nothing is
# installed on this machine), tandemd --check, plugins loading, the unit,
# remove and purge. Also `ctest -L package` with -DTANDEM_PACKAGE_TEST=ON.
package-test: package
	scripts/package-install-test.sh $(PACKAGE_BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(TEST_BUILD_DIR) $(ASAN_BUILD_DIR) $(TSAN_BUILD_DIR) $(FUZZ_BUILD_DIR) $(PACKAGE_BUILD_DIR)

# The tree's formatting (.clang-format) and lint (.clang-tidy). Not part of
# `make test`: formatting is kept by running clang-format on what you touch.
format:
	git ls-files '*.cpp' '*.h' | xargs clang-format -i

tidy: build-tests
	git ls-files 'core/*.cpp' 'sdk/*.cpp' 'plugins/*.cpp' | xargs clang-tidy -p $(TEST_BUILD_DIR) --quiet
