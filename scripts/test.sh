#!/usr/bin/env bash
# The whole test suite, as CI runs it (about 19 minutes on 2 cores): format
# and README checks; the main build (RelWithDebInfo, g++) with its tests,
# examples, forwarder selftests, a short benchmark run and a static install
# consumed through CMake and pkg-config; then every other configuration with
# its tests: Release g++ with shared libraries (installed and consumed too),
# the Debian packages (built, linted, installed, used and purged: tests/deb),
# statistics compiled out (tools included), Debug with PPOOL_DEBUG under
# AddressSanitizer + UBSan, clang under ThreadSanitizer; and the fuzzer.
# Warnings are errors in all of them.
#   PPOOL_BUILD_DIR=b bash scripts/test.sh   # build directories b, b-<config> (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
PPOOL_WITH_PROMTOOL=1 PPOOL_WITH_DPDK=1 bash scripts/install-deps.sh
jobs=$(nproc)
B=${PPOOL_BUILD_DIR:-build}
# Where AF_XDP can run (root, network namespaces, trafgen), its tests must:
# PPOOL_REQUIRE_XSK=1 turns test_xsk's and ppool-xsk's selftest's skips into
# failures (every ctest run below and the xsk step inherit it).
if [ "$(id -u)" = 0 ] && command -v trafgen >/dev/null && ip netns add "ppool-probe-$$" 2>/dev/null
then
  ip netns del "ppool-probe-$$"
  export PPOOL_REQUIRE_XSK=1
fi

# Each step is timed, wall clock and CPU (user + system of the commands it
# ran: on a busy machine, CPU / cores is what the step would take alone); the
# times are listed at the end.
step_names=()
step_wall=()
step_cpu=()
times_file=$(mktemp)
cpu_now() {  # sets cpu: seconds of CPU used by this script's finished commands
  times >"$times_file"  # in this shell, not a subshell: its children's times
  cpu=$(awk 'NR == 2 { gsub(/[ms]/, " "); print int($1 * 60 + $2 + $3 * 60 + $4) }' "$times_file")
}
step_start=$SECONDS
cpu_now
cpu_start=$cpu
end_step() {
  if ((${#step_names[@]} > ${#step_wall[@]})); then
    cpu_now
    step_wall+=($((SECONDS - step_start)))
    step_cpu+=($((cpu - cpu_start)))
  fi
}
step() {
  end_step
  step_names+=("$*")
  step_start=$SECONDS
  cpu_now
  cpu_start=$cpu
  printf '\n== %s\n' "$*"
}
timing() {
  end_step
  cpu_now
  printf '\n== time per step (wall, CPU)\n'
  for i in "${!step_names[@]}"; do
    printf '%5d s %6d s  %s\n' "${step_wall[$i]}" "${step_cpu[$i]}" "${step_names[$i]}"
  done
  printf '%5d s %6d s  total\n' "$SECONDS" "$cpu"
  rm -f "$times_file"
}
trap timing EXIT  # on failure too: the last step listed is the one that failed

# Installs build dir $1 into a temporary prefix and builds tests/install's
# consumers against it, with CMake (the backends built there are required
# components) and with pkg-config, and runs them.
install_and_consume() {
  local build=$1 prefix expect="" pcdir libdir
  prefix=$(mktemp -d)
  cmake --install "$build" --prefix "$prefix" >/dev/null
  compgen -G "$build/libppool_io_uring.*" >/dev/null && expect="io_uring"
  compgen -G "$build/libppool_cuda.*" >/dev/null && expect="$expect;cuda"
  compgen -G "$build/libppool_xsk.*" >/dev/null && expect="$expect;xsk"
  rm -rf "$build/install-consumer"
  cmake -S tests/install -B "$build/install-consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    -DPPOOL_EXPECT_COMPONENTS="${expect#;}" >/dev/null
  ninja -C "$build/install-consumer" >/dev/null
  "$build/install-consumer/consumer"
  pcdir=$(dirname "$(find "$prefix" -name ppool.pc)")
  libdir=$(dirname "$pcdir")
  c++ tests/install/consumer.cc -o "$build/consumer-pc" \
    $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs ppool)
  LD_LIBRARY_PATH="$libdir" "$build/consumer-pc"
  if [[ $expect == *io_uring* ]]; then
    "$build/install-consumer/uring_consumer"
    c++ tests/install/uring_consumer.cc -o "$build/uring-consumer-pc" \
      $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs ppool-io_uring)
    LD_LIBRARY_PATH="$libdir" "$build/uring-consumer-pc"
  fi
  if [[ $expect == *xsk* ]]; then
    "$build/install-consumer/xsk_consumer"
    c++ tests/install/xsk_consumer.cc -o "$build/xsk-consumer-pc" \
      $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs ppool-xsk)
    LD_LIBRARY_PATH="$libdir" "$build/xsk-consumer-pc"
  fi
  # A C program: through CMake (a C-only project, default settings) and
  # through pkg-config's ppool-c, with a C compiler.
  rm -rf "$build/install-c-consumer"
  cmake -S tests/install/c -B "$build/install-c-consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    >/dev/null
  ninja -C "$build/install-c-consumer" >/dev/null
  "$build/install-c-consumer/c_consumer"
  # shellcheck disable=SC2046  # pkg-config's flags are words
  cc -std=c11 -Wall -Wextra -Werror -pedantic tests/install/c/consumer.c -o "$build/c-consumer-pc" \
    $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs ppool-c)
  LD_LIBRARY_PATH="$libdir" "$build/c-consumer-pc"
  # The backends' C APIs: through CMake above, and through pkg-config's
  # ppool-c-io_uring and ppool-c-xsk with a C compiler.
  if [[ $expect == *io_uring* ]]; then
    "$build/install-c-consumer/c_uring_consumer"
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror -pedantic tests/install/c/uring_consumer.c \
      -o "$build/c-uring-consumer-pc" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs ppool-c-io_uring)
    LD_LIBRARY_PATH="$libdir" "$build/c-uring-consumer-pc"
  fi
  if [[ $expect == *xsk* ]]; then
    "$build/install-c-consumer/c_xsk_consumer"
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror -pedantic tests/install/c/xsk_consumer.c \
      -o "$build/c-xsk-consumer-pc" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs ppool-c-xsk)
    LD_LIBRARY_PATH="$libdir" "$build/c-xsk-consumer-pc"
  fi
  if compgen -G "$libdir/libppool.so*" >/dev/null; then
    # The consumers run on the installed shared library, found by soname.
    readelf -d "$libdir/libppool.so" | grep >/dev/null 'Library soname: \[libppool\.so\.'
    ldd "$build/install-consumer/consumer" | grep >/dev/null "$libdir/libppool\.so\."
    echo "shared libppool: $(readelf -d "$libdir/libppool.so" | sed -n 's/.*soname: //p')"
  fi
  rm -rf "$prefix"
}

step "format (.clang-format)"
git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror

step "README's Using it is examples/using_it.cc, its memory example a piece of examples/shared_pool.cc"
python3 - <<'PY'
import re
readme = open("README.md").read()
m = re.search(r"^## Using it\n.*?^```cpp\n(.*?)^```$", readme, re.S | re.M)
assert m, "README.md: no ```cpp block under '## Using it'"
assert m.group(1) == open("examples/using_it.cc").read(), \
    "README.md's Using it differs from examples/using_it.cc: copy the file into the README"
m = re.search(r"From `examples/shared_pool.cc`.*?^```cpp\n(.*?)^```$", readme, re.S | re.M)
assert m, "README.md: no ```cpp block from examples/shared_pool.cc"
indented = "".join("  " + line if line.strip() else line for line in m.group(1).splitlines(True))
assert indented in open("examples/shared_pool.cc").read(), \
    "README.md's memory example is not a piece of examples/shared_pool.cc: copy it again"
m = re.search(r"^## Using it from C\n.*?^```c\n(.*?)^```$", readme, re.S | re.M)
assert m, "README.md: no ```c block under '## Using it from C'"
assert m.group(1) == open("examples/using_it.c").read(), \
    "README.md's Using it from C differs from examples/using_it.c: copy the file into the README"
m = re.search(r"^## Using it from Rust.*?^```rust\n(.*?)^```$", readme, re.S | re.M)
assert m, "README.md: no ```rust block under '## Using it from Rust'"
assert m.group(1) == open("examples/using_it.rs").read(), \
    "README.md's Using it from Rust differs from examples/using_it.rs: copy the file into the README"
print("README's Using it, from C, from Rust, and memory example: ok")
PY
if pkg-config --exists libxdp libbpf; then
  mkdir -p "$B"
  # The AF_XDP snippet is a function body: it must compile as one.
  python3 - "$B/readme_xsk.cc" <<'PY'
import re, sys
readme = open("README.md").read()
m = re.search(r"^## AF_XDP.*?^```cpp\n(.*?)^```$", readme, re.S | re.M)
assert m, "README.md: no ```cpp block under '## AF_XDP'"
open(sys.argv[1], "w").write('#include <net/if.h>\n#include <cstdio>\n#include <string>\n'
                             '#include "ppool/xsk.h"\n#include "ppool/xsk_redirect.h"\n'
                             "int main() {\n" + m.group(1) + "  return 0;\n}\n")
PY
  # shellcheck disable=SC2046
  g++ -std=c++20 -fsyntax-only -Wall -Wextra -Werror -Iinclude $(pkg-config --cflags libxdp libbpf) \
    "$B/readme_xsk.cc"
  echo "README's AF_XDP snippet compiles: ok"
fi

step "main build (RelWithDebInfo, g++) and tests"
bash scripts/build.sh "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPPOOL_WERROR=ON
ctest --test-dir "$B" --output-on-failure -j "$jobs"

step "main build: the concurrency tests, 150 times each"
# The tests that race threads (LABELS concurrency, tests/CMakeLists.txt)
# pass a single run even when their race is lost now and then: 150 runs
# find a race lost 1 time in 50 with probability 1 - (49/50)^150 = 95%.
# Left out ("slow"): those that take 100 ms or more a run (looping over their
# race by themselves, or waiting), run once above.
ctest --test-dir "$B" --output-on-failure -j "$jobs" -L concurrency -LE slow \
  --repeat until-fail:150

step "example: using_it (the README's)"
"$B/examples/using_it"

step "example: napi_poll"
"$B/examples/napi_poll" | tail -n 1 | tee "$B/napi_poll.json"
python3 - "$B/napi_poll.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["stats"]
assert r["inflight"] == 0 and r["dma_live_mappings"] == 0 and r["dma_errors"] == 0, r
for k in ("alloc_fast", "alloc_slow", "recycle_cached", "recycle_ring", "recycle_released_refcnt"):
    assert s[k] > 0, (k, s)
print("napi_poll: ok")
PY

step "examples in C (the C API, <ppool.h>): using_it.c (the README's) and napi_poll.c"
"$B/examples/using_it_c"
"$B/examples/napi_poll_c" | tail -n 1 | tee "$B/napi_poll_c.json"
python3 - "$B/napi_poll_c.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["stats"]
assert r["inflight"] == 0 and r["dma_live_mappings"] == 0 and r["dma_errors"] == 0, r
for k in ("alloc_fast", "alloc_slow", "recycle_cached", "recycle_ring", "recycle_released_refcnt"):
    assert s[k] > 0, (k, s)
print("napi_poll_c: ok")
PY

step "example in Rust: using_it.rs (the README's), over bindgen's bindings of <ppool.h>"
# install-deps.sh installs bindgen and rustc: the example must have been built.
"$B/examples/using_it_rs"

if [ -x "$B/examples/xsk_forward_c" ]; then
  step "example in C: xsk_forward.c, an AF_XDP forwarder between two veth pairs"
  # 77: skipped, and it said why (no root or namespaces); a failure where
  # PPOOL_REQUIRE_XSK=1.
  rc=0
  "$B/examples/xsk_forward_c" --selftest >"$B/xsk_forward_c.out" || rc=$?
  [ "$rc" = 0 ] || { [ "$rc" = 77 ] && [ "${PPOOL_REQUIRE_XSK:-0}" != 1 ]; }
  tail -n 1 "$B/xsk_forward_c.out" | tee "$B/xsk_forward_c.json"
  [ "$rc" = 77 ] || python3 - "$B/xsk_forward_c.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["frames_received"] > 0 and r["frames_forwarded"] >= r["frames_received"], r
assert r["frames_received"] <= r["frames_sent"], r
for k in ("tx_refused", "rejected", "returns_refused", "inflight_after_teardown",
          "pools_pending_release"):
    assert r[k] == 0, (k, r)
assert r["ledger_before_close"]["app"] == 0 and r["ledger_before_close"]["tx"] == 0, r
print("xsk_forward_c: ok")
PY
fi

step "example: xdp_redirect, one page per packet and two fragments per page"
for mode in "" --frags; do
  "$B/examples/xdp_redirect" $mode | tail -n 1 >"$B/xdp_redirect.json"
  python3 - "$B/xdp_redirect.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["frames_redirected"] > 0, r
for p in r["pools"]:
    assert p["inflight"] == 0 and p["dma_live_mappings"] == 0, p
    assert p["stats"]["recycle_ring"] > 0, p  # redirected frames came home through the ring
print("xdp_redirect: ok,", {k: v for k, v in r.items() if k != "pools"})
PY
done

step "example: shared_pool (zero-copy to a child process, watermarks, zeroing)"
"$B/examples/shared_pool" | tail -n 1 | tee "$B/shared_pool.json"
python3 - "$B/shared_pool.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["inflight_after_destroy"] == 0 and r["consumer_exit"] == 0, r
assert r["watermark_rises"] > 0 and r["extra"]["pages_zeroed"] > 0, r
assert r["extra"]["inflight_peak"] <= 2048, r  # max_inflight
print("shared_pool: ok")
PY

step "ppool-fwd: short selftests (pool, fragments, malloc)"
for args in "" "--frags" "--alloc malloc"; do
  "$B/tools/ppool-fwd" --selftest --seconds 2 $args 2>/dev/null | tail -n 1 >"$B/fwd.json"
  python3 - "$B/fwd.json" <<'PY'
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

step "ppool-share: zero-copy to another process against a Unix socket and a pipe"
bash tests/share/selftest_json.sh "$B/tools/ppool-share" 0.2 | tail -n 3

step "ppool-xsk: AF_XDP forwarder on ppool and on a free-frame stack, driven by trafgen"
if [ -x "$B/tools/ppool-xsk" ]; then
  rc=0
  bash tests/xsk/selftest.sh "$B/tools/ppool-xsk" || rc=$?
  # 77: skipped, and it said why; a failure where PPOOL_REQUIRE_XSK=1.
  [ "$rc" = 0 ] || { [ "$rc" = 77 ] && [ "${PPOOL_REQUIRE_XSK:-0}" != 1 ]; }
else
  echo "ppool-xsk not built (no libxdp/libbpf)"
fi

step "ppool-h2d: measures on a GPU, says why not elsewhere"
if [ -x "$B/tools/ppool-h2d" ]; then
  "$B/tools/ppool-h2d" --gib 0.05 | tail -n 1 >"$B/h2d.json"
  python3 - "$B/h2d.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert "skipped" in r or all(r[k] > 0 for k in (
    "ppool_gbps", "pageable_gbps", "register_per_copy_gbps", "kept_registered_gbps")), r
print("ppool-h2d:", r)
PY
fi

step "benchmark smoke run"
"$B/bench/bench_page_pool" --benchmark_min_time=0.01 >/dev/null
echo "bench_page_pool: ok"
"$B/bench/bench_zero" --benchmark_min_time=0.01 >/dev/null
echo "bench_zero: ok"
"$B/bench/bench_redirect" --frames 20000 --repeat 1
"$B/bench/ppool-bench" --quick --json "$B/ppool-bench.json" 2>/dev/null | tail -n 3
python3 - "$B/ppool-bench.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
workloads = {"fast_path", "ring_path", "slow_path", "bulk16", "bulk64", "cross_core", "ws256", "ws4096",
             "cycle_4k", "cycle_16k", "cycle_64k", "cycle_16k_remote"}
impls = {"ppool", "dpdk_mempool", "stack", "glibc", "jemalloc", "mimalloc", "tcmalloc", "mmap",
         "baseline"}
seen = {(r["workload"], r["impl"]) for r in rows}
for r in rows:
    assert r["impl"] in impls and r["ns_per_op"] > 0 and r["ops_per_sec"] > 0, r
assert workloads <= {w for w, i in seen if i == "ppool"}, seen
# The floor: the bare stack runs the owner-only loops and nothing else.
stack = {"fast_path", "bulk16", "bulk64", "ws256", "ws4096", "cycle_4k", "cycle_16k", "cycle_64k"}
assert {w for w, i in seen if i == "stack"} == stack, seen
# The backings' rows: ppool's alone; the hugetlb ones may be skipped (not root).
backing = {"slow_path_zero", "slow_path_thp", "fresh_4k", "fresh_zero", "fresh_thp",
           "touch_4k", "touch_thp"}
hugetlb = {"slow_path_hugetlb", "fresh_hugetlb", "touch_hugetlb"}
assert backing <= {w for w, i in seen if i == "ppool"}, seen
assert all(i == "ppool" for w, i in seen if w in backing | hugetlb), seen
for r in rows:
    if r["workload"] in backing:
        assert "ratio_vs_4k" in r and "huge_backed_bytes" in r, r
# The remote cycle: DPDK runs it too where it was built (a thread with a cache of its own).
if any(i == "dpdk_mempool" for _, i in seen):
    assert ("cycle_16k_remote", "dpdk_mempool") in seen, seen
print("ppool-bench: ok,", len(rows), "measurements,", sorted({i for _, i in seen}))
PY
# The curves: every point of ppool (and of DPDK and the stack where they run it) in the
# table, and a plot drawn.
rm -f "$B/ppool-curves.svg"
"$B/bench/ppool-bench" --quick --curves "$B/ppool-curves.svg" 2>/dev/null >"$B/ppool-curves.txt"
test -s "$B/ppool-curves.svg"
python3 - "$B/ppool-curves.txt" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 4 and f[0] in ("inflight", "pools", "threads"):
        assert float(f[3]) > 0, line
        rows[(f[0], int(f[1]), f[2])] = float(f[3])
points = ([("inflight", 256 << (2 * i)) for i in range(6)] + [("pools", 1 << i) for i in range(7)] +
          [("threads", t) for t in range(1, 9)])
for impl in ["ppool", "dpdk_mempool", "stack"]:
    have = {(c, x) for c, x, i in rows if i == impl}
    want = {p for p in points if impl != "stack" or p[0] != "threads"}
    assert impl != "ppool" and not have or have == want, (impl, sorted(want - have))
print("ppool-bench --curves: ok,", len(rows), "points")
PY
# The ladder from the stack to ppool runs only when named (the default run
# above has none of its rows). A rung whose check misses a double put is
# skipped by its factory (no rows); one that refuses a put of the loops, or
# loses a frame, fails the run.
"$B/bench/ppool-bench" --quick --only stack_loop,stack_tag,stack_ref,stack_pf,stack_dense \
  --workloads bulk64,cycle_4k --json "$B/ppool-bench-ladder.json" 2>/dev/null | grep "^# stack_"
python3 - "$B/ppool-bench-ladder.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
rungs = {"stack_loop", "stack_tag", "stack_ref", "stack_pf", "stack_dense"}
seen = {(r["workload"], r["impl"]) for r in rows}
assert seen == {(w, i) for w in ("bulk64", "cycle_4k") for i in rungs}, seen
assert all(r["ns_per_op"] > 0 for r in rows), rows
print("ppool-bench ladder: ok,", sorted(rungs))
PY
# ppool through its C API (ppool_c) runs only when named too: its rows
# beside ppool's, every workload it has measured (no timing is asserted).
"$B/bench/ppool-bench" --quick --only ppool,ppool_c \
  --workloads fast_path,bulk16,bulk64,ring_path,cycle_16k --json "$B/ppool-bench-c.json" \
  2>/dev/null | tail -n 2
python3 - "$B/ppool-bench-c.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
workloads = ("fast_path", "bulk16", "bulk64", "ring_path", "cycle_16k")
seen = {(r["workload"], r["impl"]) for r in rows}
assert seen == {(w, i) for w in workloads for i in ("ppool", "ppool_c")}, seen
assert all(r["ns_per_op"] > 0 for r in rows), rows
print("ppool-bench ppool_c: ok")
PY

step "install (static), consumers through find_package and pkg-config"
install_and_consume "$B"

step "Release, g++, shared libraries: tests, install, consumers"
bash scripts/build.sh "$B-release-gcc" -DCMAKE_BUILD_TYPE=Release -DPPOOL_WERROR=ON \
  -DBUILD_SHARED_LIBS=ON -DPPOOL_BUILD_BENCH=OFF
ctest --test-dir "$B-release-gcc" --output-on-failure -j "$jobs" -LE netns_stress
install_and_consume "$B-release-gcc"

step "Debian packages: built, lintian, installed with apt-get, consumed and run from /usr, purged"
bash tests/deb/packages.sh "$B-deb"

step "statistics compiled out (PPOOL_STATS=OFF): tests, tools and examples included"
# Debug: the counters' absence is what is tested, and -O0 builds faster.
bash scripts/build.sh "$B-stats-off" -DCMAKE_BUILD_TYPE=Debug -DPPOOL_STATS=OFF -DPPOOL_WERROR=ON \
  -DPPOOL_BUILD_BENCH=OFF
ctest --test-dir "$B-stats-off" --output-on-failure -j "$jobs" -LE netns_stress

# The Debug build with PPOOL_DEBUG (the headers' debug-only checks) is the
# sanitizers' build: one build and one test run for both, not two.
step "Debug with PPOOL_DEBUG, AddressSanitizer + UndefinedBehaviorSanitizer"
bash scripts/build.sh "$B-asan" -DCMAKE_BUILD_TYPE=Debug -DPPOOL_DEBUG=ON \
  -DPPOOL_SANITIZE=address,undefined -DPPOOL_WERROR=ON -DPPOOL_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir "$B-asan" --output-on-failure -j "$jobs" -LE netns_stress
"$B-asan/examples/napi_poll" | tail -n 1
"$B-asan/examples/xdp_redirect" --frames 20000 --frags | tail -n 1 | cut -c 1-100
"$B-asan/examples/using_it" | tail -n 1
"$B-asan/examples/napi_poll_c" | tail -n 1 | cut -c 1-100
# The AF_XDP example needs root and namespaces: where AF_XDP must run.
if [ "${PPOOL_REQUIRE_XSK:-0}" = 1 ]; then
  "$B-asan/examples/xsk_forward_c" --selftest --frames 500 | tail -n 1 | cut -c 1-100
fi
"$B-asan/tools/ppool-fwd" --selftest --seconds 1 --port 9100 2>/dev/null | tail -n 1 | cut -c 1-100

# clang's build is the ThreadSanitizer one (optimised: clang's warnings and
# code generation at -O2, and the races at the speed the tests ran): one
# build and test run for both, not two.
step "clang (RelWithDebInfo) under ThreadSanitizer"
CC=clang CXX=clang++ bash scripts/build.sh "$B-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPPOOL_SANITIZE=thread -DPPOOL_WERROR=ON -DPPOOL_BUILD_BENCH=OFF
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir "$B-tsan" --output-on-failure -j "$jobs" \
  -LE netns_stress
# The concurrency tests again, 3 times more: ThreadSanitizer reports an
# unordered pair of accesses whether or not that run's interleaving went
# wrong, so a race shows in nearly every run; these cost 2 to 6 s each here.
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir "$B-tsan" --output-on-failure -j "$jobs" \
  -L concurrency -LE slow --repeat until-fail:3
TSAN_OPTIONS=halt_on_error=1 "$B-tsan/examples/napi_poll" | tail -n 1
TSAN_OPTIONS=halt_on_error=1 "$B-tsan/examples/xdp_redirect" --frames 20000 | tail -n 1 | cut -c 1-100
TSAN_OPTIONS=halt_on_error=1 "$B-tsan/examples/using_it" | tail -n 1
TSAN_OPTIONS=halt_on_error=1 "$B-tsan/examples/napi_poll_c" | tail -n 1 | cut -c 1-100
if [ "${PPOOL_REQUIRE_XSK:-0}" = 1 ]; then
  TSAN_OPTIONS=halt_on_error=1 "$B-tsan/examples/xsk_forward_c" --selftest --frames 500 |
    tail -n 1 | cut -c 1-100
fi
TSAN_OPTIONS=halt_on_error=1 "$B-tsan/tools/ppool-fwd" --selftest --seconds 1 --port 9200 2>/dev/null |
  tail -n 1 | cut -c 1-100

if [ -f scripts/fuzz.sh ]; then
  step "fuzzing (scripts/fuzz.sh 60)"
  PPOOL_FUZZ_BUILD_DIR="$B-fuzz" bash scripts/fuzz.sh 60
fi

step "all green"
