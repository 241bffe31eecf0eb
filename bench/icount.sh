#!/usr/bin/env bash
# Instructions per op of the page pool's fast and ring paths, counted by
# callgrind (repeatable on a noisy machine). The count of one run with N
# iterations minus one with 0 cancels the warm-up; the loop's own compare and
# branch are included.
#   bench/icount.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
bin=$build/bench/icount_page_pool
n=200000
count() {  # path iterations -> instructions in the counted loops
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*icount_*_path*' \
    "$bin" "$1" "$2" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for path in fast ring; do
  a=$(count "$path" 0)
  b=$(count "$path" "$n")
  echo "$path: $(( (b - a) / n )) instructions per op ($(( b - a )) over $n ops)"
done
