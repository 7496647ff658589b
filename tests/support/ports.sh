# Sourced by the shell scripts under tests/ with the build directory as $1.
#
# free_port prints a loopback port for a test server, reserved the way the C++
# tests' free_port() reserves theirs (below the kernel's ephemeral range, never
# given to two processes at once) until the calling script exits: a port probed
# with bind(0) and closed could go to any other process before the server bound it.
TANDEM_TEST_PORT="$(cd "$1" && pwd)/bin/tandem-test-port"
[ -x "$TANDEM_TEST_PORT" ] || { echo "$TANDEM_TEST_PORT not found: build the target tandem-test-port" >&2; exit 1; }
free_port() { "$TANDEM_TEST_PORT" --owner $$; }
# wait_port PORT [SECONDS]: until something accepts connections on
# 127.0.0.1:PORT (default 20 s); otherwise says so and fails.
wait_port() {
  local tries=$(( ${2:-20} * 20 ))
  for _ in $(seq 1 "$tries"); do
    (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "${0##*/}: nothing listening on port $1" >&2; return 1
}
