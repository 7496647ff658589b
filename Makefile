# Thin wrapper over CMake. The README's two quick-start commands are
# `make demo` and `make test`; each installs missing Debian packages first.
BUILD_DIR ?= build
JOBS ?= 2
CTEST_ARGS ?=

.PHONY: all deps configure build test demo demo-down bench clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 900 $(CTEST_ARGS)

demo: build
	scripts/demo-up.sh $(BUILD_DIR)

demo-down:
	scripts/demo-down.sh

clean:
	rm -rf $(BUILD_DIR)
