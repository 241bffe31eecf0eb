#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, the release build's tests,
# the example and a short benchmark run, an install consumed through CMake and
# pkg-config, then the suite again under AddressSanitizer + UBSan and under
# ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
jobs=$(nproc)
step() { printf '\n== %s\n' "$*"; }

step "format (.clang-format)"
git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror

step "release build and tests"
bash tools/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest --test-dir build --output-on-failure -j "$jobs"

step "example: napi_poll"
./build/examples/napi_poll | tail -n 1 | tee build/napi_poll.json
python3 - build/napi_poll.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["stats"]
assert r["inflight"] == 0 and r["dma_live_mappings"] == 0 and r["dma_errors"] == 0, r
for k in ("alloc_fast", "alloc_slow", "recycle_cached", "recycle_ring", "recycle_released_refcnt"):
    assert s[k] > 0, (k, s)
print("napi_poll: ok")
PY

step "example: xdp_redirect, one page per packet and two fragments per page"
for mode in "" --frags; do
  ./build/examples/xdp_redirect $mode | tail -n 1 >build/xdp_redirect.json
  python3 - build/xdp_redirect.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["frames_redirected"] > 0, r
for p in r["pools"]:
    assert p["inflight"] == 0 and p["dma_live_mappings"] == 0, p
    assert p["stats"]["recycle_ring"] > 0, p  # redirected frames came home through the ring
print("xdp_redirect: ok,", {k: v for k, v in r.items() if k != "pools"})
PY
done

step "ppool-fwd: short selftests (pool, fragments, malloc)"
for args in "" "--frags" "--alloc malloc"; do
  ./build/tools/ppool-fwd --selftest --seconds 2 $args 2>/dev/null | tail -n 1 >build/fwd.json
  python3 - build/fwd.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["packets_forwarded"] > 0, r
for p in r["pools"]:
    assert p["inflight"] == 0, p
if r["alloc_mode"] == "pool":
    assert r["recycle_ratio"] >= 0.999, r
print("ppool-fwd:", {k: v for k, v in r.items() if k != "pools"})
PY
done

step "ppool-h2d: measures on a GPU, says why not elsewhere"
if [ -x build/tools/ppool-h2d ]; then
  ./build/tools/ppool-h2d --gib 0.05 | tail -n 1 >build/h2d.json
  python3 - build/h2d.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert "skipped" in r or all(r[k] > 0 for k in (
    "ppool_gbps", "pageable_gbps", "register_per_copy_gbps", "kept_registered_gbps")), r
print("ppool-h2d:", r)
PY
fi

step "benchmark smoke run"
./build/bench/bench_page_pool --benchmark_min_time=0.01 >/dev/null
echo "bench_page_pool: ok"
./build/bench/bench_redirect --frames 20000 --repeat 1
./build/bench/ppool-bench --quick --json build/ppool-bench.json 2>/dev/null | tail -n 3
python3 - build/ppool-bench.json <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
workloads = {"fast_path", "ring_path", "slow_path", "bulk16", "bulk64", "cross_core", "ws256", "ws4096"}
impls = {"ppool", "dpdk_mempool", "glibc", "jemalloc", "mimalloc", "tcmalloc", "mmap", "baseline"}
seen = {(r["workload"], r["impl"]) for r in rows}
for r in rows:
    assert r["impl"] in impls and r["ns_per_op"] > 0 and r["ops_per_sec"] > 0, r
assert workloads <= {w for w, i in seen if i == "ppool"}, seen
print("ppool-bench: ok,", len(rows), "measurements,", sorted({i for _, i in seen}))
PY

step "install, then build a consumer with find_package and pkg-config"
prefix=$(mktemp -d)
cmake --install build --prefix "$prefix" >/dev/null
cmake -S tests/install -B build/install-consumer -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
ninja -C build/install-consumer >/dev/null
./build/install-consumer/consumer
if [ -x build/install-consumer/uring_consumer ]; then ./build/install-consumer/uring_consumer; fi
pcdir=$(dirname "$(find "$prefix" -name ppool.pc)")
c++ tests/install/consumer.cc -o build/consumer-pc $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs ppool)
./build/consumer-pc
rm -rf "$prefix"

step "AddressSanitizer + UndefinedBehaviorSanitizer"
bash tools/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DPPOOL_SANITIZE=address,undefined \
  -DPPOOL_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j "$jobs"
./build-asan/examples/napi_poll | tail -n 1
./build-asan/examples/xdp_redirect --frames 20000 --frags | tail -n 1 | cut -c 1-100
./build-asan/tools/ppool-fwd --selftest --seconds 1 --port 9100 2>/dev/null | tail -n 1 | cut -c 1-100

step "ThreadSanitizer"
bash tools/build.sh build-tsan -DCMAKE_BUILD_TYPE=Debug -DPPOOL_SANITIZE=thread \
  -DPPOOL_BUILD_BENCH=OFF
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure -j "$jobs"
TSAN_OPTIONS=halt_on_error=1 ./build-tsan/examples/napi_poll | tail -n 1
TSAN_OPTIONS=halt_on_error=1 ./build-tsan/examples/xdp_redirect --frames 20000 | tail -n 1 | cut -c 1-100
TSAN_OPTIONS=halt_on_error=1 ./build-tsan/tools/ppool-fwd --selftest --seconds 1 --port 9200 2>/dev/null |
  tail -n 1 | cut -c 1-100

step "all green"
