#!/usr/bin/env bash
# scripts/check-layers.sh can fail: on a copy of the real src/, include/ and
# src/README.md it passes, then fails naming the file and line for one
# upward include in src/, one in a public header, and one from a layer to
# another of the same number; with --programs it fails for a program that
# reaches into src/ (and without --programs leaves programs alone).
#   tests/layers/rejects.sh CHECK_LAYERS SOURCE_DIR
set -uo pipefail
check=$1
source_dir=$2
dir=$(mktemp -d /tmp/ppool-layers-test.XXXXXX)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect NAME RC PATTERN [ARGS...]: runs the check on the copy; a failure
# unless it exits RC and (PATTERN non-empty) its output has PATTERN.
expect() {
  local name=$1 want=$2 pattern=$3
  shift 3
  bash "$check" "$@" "$dir" >"$dir.$name.out" 2>&1
  local rc=$?
  [ "$rc" = "$want" ] || fail "$name: exited $rc, not $want: $(cat "$dir.$name.out")"
  if [ -n "$pattern" ] && ! grep -qF -- "$pattern" "$dir.$name.out"; then
    fail "$name: no '$pattern' in: $(cat "$dir.$name.out")"
  fi
  rm -f "$dir.$name.out"
}

cp -r "$source_dir/src" "$source_dir/include" "$dir/"
expect clean 0 ""

# One upward include in src/: the memory layer reaching into the pool's.
zero=$dir/src/mem/zero.cc
cp "$zero" "$dir/zero.cc"
line=$(($(wc -l <"$zero") + 1))
echo '#include "pool/pool_internal.h"' >>"$zero"
expect src_upward 1 "src/mem/zero.cc:$line: 'pool/pool_internal.h' goes up from mem to pool"
cp "$dir/zero.cc" "$zero"
expect restored 0 ""

# A public header including one of a layer above.
header=$dir/include/ppool/page_pool.h
cp "$header" "$dir/page_pool.h"
line=$(($(wc -l <"$header") + 1))
echo '#include "ppool/xdp.h"' >>"$header"
expect header_upward 1 "include/ppool/page_pool.h:$line: 'ppool/xdp.h' goes up from pool to xdp"
cp "$dir/page_pool.h" "$header"

# A public header including an internal one.
header=$dir/include/ppool/dma.h
cp "$header" "$dir/dma.h"
echo '#include "telemetry/json.h"' >>"$header"
expect header_internal 1 "include/ppool/dma.h:"
cp "$dir/dma.h" "$header"

# Two layers of one number: share may not include xsk.
echo '#include "ppool/xsk.h"' >>"$dir/src/share/shm_ring.cc"
expect across 1 "'ppool/xsk.h' goes across from share to xsk"
cp "$source_dir/src/share/shm_ring.cc" "$dir/src/share/shm_ring.cc"

# The C header is the capi layer's: the pool layer, below it, may not
# include it, and the C header itself includes no internal header.
echo '#include "ppool.h"' >>"$dir/src/pool/put.cc"
expect c_header_upward 1 "'ppool.h' goes up from pool to capi"
cp "$source_dir/src/pool/put.cc" "$dir/src/pool/put.cc"
cp "$dir/include/ppool.h" "$dir/ppool.h"
echo '#include "capi/capi.h"' >>"$dir/include/ppool.h"
expect c_header_internal 1 "include/ppool.h:"
cp "$dir/ppool.h" "$dir/include/ppool.h"
# The backends' C headers are the capi layer's too, and a C header the
# table does not place is refused.
echo '#include "ppool_xsk.h"' >>"$dir/src/xsk/queue.cc"
expect c_backend_header_upward 1 "'ppool_xsk.h' goes up from xsk to capi"
cp "$source_dir/src/xsk/queue.cc" "$dir/src/xsk/queue.cc"
echo '#include "ppool.h"' >"$dir/include/ppool_demo.h"
expect c_header_unplaced 1 "include/ppool_demo.h:1: a public header that src/README.md"
rm "$dir/include/ppool_demo.h"
expect c_headers_restored 0 ""

# A program reaching into src/: refused with --programs only.
mkdir -p "$dir/tools/demo"
printf '#include <ppool/page_pool.h>\n#include "dma/cuda_driver.h"\n' >"$dir/tools/demo/main.cc"
expect programs_off 0 ""
expect programs_on 1 "tools/demo/main.cc:2: 'dma/cuda_driver.h' goes into the dma layer's internals" \
  --programs

rm "$dir/tools/demo/main.cc"

# The support library is any program's (bench's too); another program's
# files are not.
mkdir -p "$dir/tools/support" "$dir/tools/fwd" "$dir/bench/demo"
touch "$dir/tools/support/args.h" "$dir/tools/fwd/forwarder.h"
printf '#include <ppool/page_pool.h>\n#include "support/args.h"\n' >"$dir/bench/demo/main.cc"
expect support_ok 0 "" --programs
printf '#include "../../tools/fwd/forwarder.h"\n' >>"$dir/bench/demo/main.cc"
expect other_program 1 "bench/demo/main.cc:3:" --programs

[ "$failures" = 0 ] && echo "check-layers rejects every upward include tried"
exit $((failures > 0))
