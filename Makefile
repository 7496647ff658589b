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

.PHONY: all deps build build-tests test demo demo-down clean format tidy

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

demo: build
	scripts/demo-up.sh $(BUILD_DIR)

demo-down:
	scripts/demo-down.sh

clean:
	rm -rf $(BUILD_DIR) $(TEST_BUILD_DIR)

# The tree's formatting (.clang-format) and lint (.clang-tidy). Not part of
# `make test`: formatting is kept by running clang-format on what you touch.
format:
	git ls-files '*.cpp' '*.h' | xargs clang-format -i

tidy: build-tests
	git ls-files 'core/*.cpp' 'sdk/*.cpp' 'plugins/*.cpp' | xargs clang-tidy -p $(TEST_BUILD_DIR) --quiet
