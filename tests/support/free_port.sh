# Sourced by the shell scripts under tests/ with the build directory as $1.
# free_port prints a loopback port for a test server, reserved the way the C++
# tests' free_port() reserves theirs (below the kernel's ephemeral range, never
# given to two processes at once) until the calling script exits: a port probed
# with bind(0) and closed could go to any other process before the server bound it.
TANDEM_TEST_PORT="$(cd "$1" && pwd)/bin/tandem-test-port"
[ -x "$TANDEM_TEST_PORT" ] || { echo "$TANDEM_TEST_PORT not found: build the target tandem-test-port" >&2; exit 1; }
free_port() { "$TANDEM_TEST_PORT" --owner $$; }
