#!/usr/bin/env bash
# Installs the Debian packages tandem needs to build, test and run the demo.
# Only missing packages are installed; a machine that has them all is untouched.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  libboost-dev libboost-filesystem-dev libboost-system-dev
  libpq-dev libhiredis-dev libtomlplusplus-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev libsystemd-dev
  libssl-dev
  # make fuzz: clang with libFuzzer and the sanitizer runtimes
  # (make test-asan / test-tsan use gcc's, which build-essential brings)
  clang libclang-rt-dev
  # the format check (tests/style) and make format
  clang-format
  # real servers and tools the tests, benchmarks and demo drive
  postgresql-15 postgresql-client-15 postgresql-contrib
  redis-server redis-tools rsync etcd-server etcd-client
  wrk nginx-light curl procps iproute2 nftables python3
  # tests/e2e/haproxy_reroute_test and tests/bench/client_reroute: a real HAProxy in front of the pair
  haproxy
  # tests/e2e/rq_job_queue_test: python-rq workers and producers through the KV endpoint
  python3-rq
  # plugins/virtual-ip: gratuitous ARP and duplicate-address probes
  iputils-arping
  # config-rsync's ssh transport (its test starts a real sshd per namespace)
  openssh-server openssh-client
  # certificates for the TLS tests and demo-netns (scripts/make-test-certs.sh),
  # and the packet capture that checks nothing secret crosses in clear
  openssl tcpdump
  # promtool (prometheus) checks /metrics and docs/monitoring's alert rules;
  # the dashboard test drives a headless chromium; make package runs lintian
  prometheus chromium lintian
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Packaged services must not start on install: tests start their own servers.
policy_added=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  policy_added=1
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ $policy_added -eq 0 ] || $SUDO rm -f /usr/sbin/policy-rc.d
