#!/usr/bin/env bash
# Installs the Debian packages ppool's build, tests and benchmarks need, when
# they are missing (clang and its runtime libraries: the clang build and the
# fuzzer; help2man, which makes the programs' man pages, and man-db, whose
# man checks every page as lintian does; dpkg-dev, debhelper and lintian:
# the Debian packages, scripts/package.sh and tests/deb). Safe to
# run again: it installs nothing already present.
#   PPOOL_WITH_DPDK=1 bash scripts/install-deps.sh      # also DPDK, for the benchmarks
#   PPOOL_WITH_PROMTOOL=1 bash scripts/install-deps.sh  # also prometheus and promtool (test.sh sets it)
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in cmake ninja-build g++ libgtest-dev libgmock-dev libbenchmark-dev valgrind pkg-config python3 git \
  clang-format libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 gnuplot-nox liburing-dev libxdp-dev libbpf-dev iproute2 netsniff-ng \
  clang libclang-rt-14-dev \
  dpkg-dev debhelper lintian help2man man-db; do
  have_pkg "$pkg" || need+=("$pkg")
done

# The README's Rust example (examples/using_it.rs): bindgen reads <ppool.h>,
# rustc builds it. A rustc already on PATH (rustup's) serves.
have_pkg bindgen || need+=(bindgen)
command -v rustc >/dev/null || have_pkg rustc || need+=(rustc)

# Optional peers for the benchmarks: PPOOL_WITH_DPDK=1 adds Debian's DPDK
# (about 230 packages), found by CMake with pkg-config when present. It also
# brings dpdk-telemetry.py, DPDK's telemetry client, which
# tests/telemetry/dpdk_telemetry.sh runs against ppool (bookworm ships it in
# dpdk-dev only), so scripts/test.sh sets it.
if [ "${PPOOL_WITH_DPDK:-0}" = 1 ] && ! have_pkg dpdk-dev; then need+=(dpdk-dev); fi
# promtool checks the telemetry's Prometheus text (tests/telemetry), and the
# server itself scrapes `ppool-stat --listen` there (prometheus_scrape.py,
# which starts its own on loopback). Debian ships both in the prometheus
# package: a policy-rc.d keeps the install from starting the service.
no_start=""
if [ "${PPOOL_WITH_PROMTOOL:-0}" = 1 ] && ! have_pkg prometheus; then
  need+=(prometheus)
  [ -e /usr/sbin/policy-rc.d ] || no_start=/usr/sbin/policy-rc.d
fi

if ((${#need[@]})); then
  echo "install-deps: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  if [ -n "$no_start" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$no_start" >/dev/null
    $SUDO chmod +x "$no_start"
    trap '$SUDO rm -f "$no_start"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
