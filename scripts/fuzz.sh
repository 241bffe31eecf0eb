#!/usr/bin/env bash
# Fuzzes the page pool (tests/fuzz/fuzz_pool.cc) for SECONDS (default 60):
# configures build-fuzz with clang, AddressSanitizer + UBSan and libFuzzer,
# builds the target and runs it from the committed seed corpus. New corpus
# entries go to a temporary directory, never into the repository. Exits
# non-zero on any crash, leak or sanitizer report; the reproducer is kept in
# build-fuzz/findings/.
#   bash scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
# Needs clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
dir=${PPOOL_FUZZ_BUILD_DIR:-build-fuzz}

CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S . -B "$dir" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPPOOL_SANITIZE=address,undefined \
  -DPPOOL_BUILD_FUZZ=ON -DPPOOL_BUILD_BENCH=OFF -DPPOOL_BUILD_EXAMPLES=OFF >/dev/null
ninja -C "$dir" fuzz_pool

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$dir/findings"
log="$dir/fuzz.log"
# The temporary directory first: libFuzzer writes new inputs only there; the
# committed corpus is read. An input running past 60 s (a hang) is a finding.
set +e
"$dir/tests/fuzz/fuzz_pool" -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
  -artifact_prefix="$dir/findings/" "$@" "$corpus" tests/fuzz/corpus 2>&1 |
  tee "$log" | grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|ERROR|fuzz_pool:|SUMMARY|Test unit written'
status=${PIPESTATUS[0]}
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
echo "fuzz_pool: ${runs:-?} executions in ${seconds} s (${rate:-?}/s), exit status $status"
if [ "$status" -ne 0 ]; then
  echo "fuzz_pool: FAILED; full log in $log, reproducer in $dir/findings/" >&2
  exit 1
fi
