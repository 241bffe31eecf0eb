#!/usr/bin/env bash
# Instructions per op of the page pool's paths, counted by callgrind
# (repeatable on a noisy machine). The count of a run with N iterations minus
# one with 0 cancels the warm-up; the fast and ring paths count their whole
# loop (its own compare and branch included), the bulk paths put_page_bulk or
# alloc_pages_bulk alone, the slow path its whole loop (alloc, release to the
# page allocator) per page;
# sync, ring_sync and bulk_sync are the fast, ring and bulk paths on a device
# that needs syncs (the counting device's sync call included).
# The fast and slow paths are counted twice, on a pool without and with
# kZeroPages: the same fast-path count shows that zeroing is not on it, the
# slow path's difference is the clear's share (under valgrind, whose CPUID
# hides ERMS and AVX-512 from glibc, memset runs a vector loop: its count is
# not the native clear's).
#   scripts/icount.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
bin=$build/bench/icount_page_pool
count() {  # path iterations function -> instructions inside function
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="$3" \
    "$bin" "$1" "$2" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_op() {  # path iterations function ops-per-iteration label
  local a b
  a=$(count "$1" 0 "$3")
  b=$(count "$1" "$2" "$3")
  echo "$5: $(((b - a) / ($2 * $4))) instructions per op ($((b - a)) over $(($2 * $4)) ops)"
}
per_op fast 200000 '*icount_fast_path*' 1 "fast path (alloc + recycle_direct)"
per_op ring 200000 '*icount_ring_path*' 1 "ring path (alloc + put through the ring)"
per_op bulk 20000 '*put_page_bulk*' 64 "bulk put of 64, per page"
per_op bulk_alloc 20000 '*alloc_pages_bulk*' 64 "bulk alloc of 64, per page"
per_op sync 200000 '*icount_sync_path*' 1 "fast path on a device that needs syncs"
per_op ring_sync 200000 '*icount_ring_sync_path*' 1 "ring path on a device that needs syncs"
per_op bulk_sync 20000 '*put_page_bulk*' 64 "bulk put of 64 on a device that needs syncs, per page"
per_op fast_zero 200000 '*icount_fast_path*' 1 "fast path (alloc + recycle_direct), kZeroPages pool"
per_op slow 20000 '*icount_slow_path*' 1 "slow path (alloc + release, refill of 64 from the page allocator), per page"
per_op holder 200000 '*icount_holder_path*' 1 "fast path with a holder tag set on each page (set_page_holder)"
per_op slow_zero 20000 '*icount_slow_path*' 1 "slow path, kZeroPages pool (clear of each page included), per page"

# The fast path through the C API (<ppool.h>): the same loop, two calls into
# libppool per op, the calls' own instructions included.
bin=$build/bench/icount_capi
per_op fast 200000 '*icount_c_fast_path*' 1 "fast path through the C API (ppool_alloc_pages + ppool_recycle_direct)"

# DPDK's mempool in the same loop, when it was built (DPDK found at configure).
if [ -x "$build/bench/icount_dpdk" ]; then
  bin=$build/bench/icount_dpdk
  per_op fast 200000 '*icount_dpdk_path*' 1 "dpdk mempool get + put, cache 256"
  per_op ring 200000 '*icount_dpdk_path*' 1 "dpdk mempool get + put, no cache (ring)"
fi
