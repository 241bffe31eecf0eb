#!/usr/bin/env bash
# Every program's command line (tools/support/args.h): --help prints the usage
# on stdout and exits 0; what a program does not understand exits 2 with a
# message on stderr naming the option or the value, at once (no run).
#   tests/tools/bad_args.sh BUILD_DIR
# Programs that this build did not make (no CUDA, no liburing, no benchmarks)
# are listed as not built.
set -uo pipefail
build=$1
failures=0
checked=0

# expect PROGRAM EXIT TEXT ARGS...: exits EXIT within 20 s, TEXT on stderr
# (on stdout for exit 0), stdout empty on errors.
expect() {
  local prog=$1 code=$2 text=$3
  shift 3
  local out err rc
  out=$(mktemp) err=$(mktemp)
  timeout 20 "$prog" "$@" >"$out" 2>"$err"
  rc=$?
  local where=$err
  [ "$code" = 0 ] && where=$out
  if [ "$rc" != "$code" ] || ! grep -qF -- "$text" "$where" ||
    { [ "$code" != 0 ] && [ -s "$out" ]; }; then
    echo "FAIL: $(basename "$prog") $* exited $rc (wanted $code with '$text');" \
      "stdout: $(head -c 300 "$out"); stderr: $(head -c 300 "$err")"
    failures=$((failures + 1))
  fi
  checked=$((checked + 1))
  rm -f "$out" "$err"
}

# common PROGRAM: what every program must do.
# The tools' usage starts "Usage:", as help2man reads it (their man pages are
# built from it); the benchmarks' and examples' "usage:".
common() {
  local prog=$1 name usage
  name=$(basename "$prog")
  usage="usage: $name"
  [[ $prog == "$build"/tools/* ]] && usage="Usage: $name"
  expect "$prog" 0 "$usage" --help
  expect "$prog" 0 "$usage" -h
  expect "$prog" 2 "unknown option '--bogus'" --bogus
  expect "$prog" 2 "unexpected argument 'stray'" stray
  expect "$prog" 2 "unknown option '-x'" -x
}

have() {
  if [ -x "$build/$1" ]; then return 0; fi
  echo "not built: $1"
  return 1
}

if have tools/ppool-fwd; then
  p=$build/tools/ppool-fwd
  common "$p"
  expect "$p" 2 "--port: 99999 is not in 1..65535" --selftest --port 99999
  expect "$p" 2 "--port: '+80' is not a number in 1..65535" --selftest --port +80
  expect "$p" 2 "--port: ' 4' is not a number in 1..65535" --selftest --port " 4"
  expect "$p" 2 "--dest: '10.0.0.1:-5' is not IPv4:PORT" --dest 10.0.0.1:-5
  expect "$p" 2 "--dest and --selftest exclude each other" --selftest --dest 10.0.0.1:9
  expect "$p" 2 "--queues needs a value (1..16)" --selftest --queues
fi

if have tools/ppool-xsk; then
  p=$build/tools/ppool-xsk
  common "$p"
  expect "$p" 2 "--queues: 0 is not in 1..16" --selftest --queues 0
  expect "$p" 2 "--queues: 17 is not in 1..16" --selftest --queues 17
  expect "$p" 2 "--seconds: 'x' is not a number in 1..86400" --selftest --seconds x
  expect "$p" 2 "--seconds needs a value (1..86400)" --selftest --seconds
  expect "$p" 2 "--alloc: 'malloc' is not one of pool|stack" --selftest --alloc malloc
  expect "$p" 2 "--verdict: 'pass' is not one of mix|tx|drop|redirect|back" --selftest --verdict pass
  expect "$p" 2 "--seconds needs --selftest" --in a --out b --seconds 3
  expect "$p" 2 "--in and --selftest exclude each other" --selftest --in eth0
  expect "$p" 2 "one of --selftest or --in IFACE --out IFACE is needed"
  expect "$p" 2 "--next-hop: 'zz' is not a MAC address" --in a --out b --next-hop zz
fi

if have tools/ppool-h2d; then
  p=$build/tools/ppool-h2d
  common "$p"
  expect "$p" 2 "--gib: '1e3' is not a number in 0.01..1024" --gib 1e3
  expect "$p" 2 "--gib: 2000 is not in 0.01..1024" --gib 2000
  expect "$p" 2 "--streams: 99999999999999999999 is not in 1..32" --streams 99999999999999999999
  expect "$p" 2 "--fill: 'slow' is not one of memcpy|stream|none" --fill slow
  expect "$p" 2 "--batch (8) may not exceed --depth (4)" --depth 4 --batch 8
fi

if have tools/ppool-share; then
  p=$build/tools/ppool-share
  common "$p"
  expect "$p" 2 "nothing to do: pass --selftest"
  expect "$p" 2 "--touch needs --selftest" --touch
  expect "$p" 2 "--seconds: '1e3' is not a number in 0.01..60" --selftest --seconds 1e3
  expect "$p" 2 "--seconds: 100 is not in 0.01..60" --selftest --seconds 100
  expect "$p" 2 "--sizes: '64,abc' is not a comma-separated list of sizes in 64..65536" \
    --selftest --sizes 64,abc
  expect "$p" 2 "--sizes: '32' is not a comma-separated list" --selftest --sizes 32
  expect "$p" 2 "--ring: 1000 is not a power of two" --selftest --ring 1000
  expect "$p" 2 "--sizes needs a value" --selftest --sizes
fi

if have examples/napi_poll; then
  p=$build/examples/napi_poll
  common "$p"
  expect "$p" 2 "--polls: 0 is not in 1..1000000" --polls 0
  expect "$p" 2 "--polls: '-3' is not a number in 1..1000000" --polls -3
fi

if have examples/xdp_redirect; then
  p=$build/examples/xdp_redirect
  common "$p"
  expect "$p" 2 "--frames: 99999999999999999999 is not in 1..1000000000" \
    --frames 99999999999999999999
  expect "$p" 2 "--frames: '-1' is not a number" --frames -1
  expect "$p" 2 "--queues: 0 is not in 1..64" --queues 0
  expect "$p" 2 "--frames needs a value" --frames
fi

if have examples/shared_pool; then
  p=$build/examples/shared_pool
  common "$p"
  expect "$p" 2 "--messages: 0 is not in 1..100000000" --messages 0
fi

if have bench/ppool-bench; then
  p=$build/bench/ppool-bench
  common "$p"
  expect "$p" 0 "workloads:" --help
  expect "$p" 2 "--only: unknown implementation 'foo'" --only foo
  expect "$p" 2 "--only: unknown implementation 'foo'" --only ppool,foo
  expect "$p" 2 "--workloads: unknown workload 'nope'" --workloads nope
  expect "$p" 2 "--json needs a value" --json
  expect "$p" 2 "--repeat: 0 is not in 1..1000" --repeat 0
  expect "$p" 2 "--repeat: 'x' is not a number in 1..1000" --repeat x
  expect "$p" 2 "--repeat needs a value (1..1000)" --quick --repeat
fi

if have bench/bench_redirect; then
  p=$build/bench/bench_redirect
  common "$p"
  expect "$p" 2 "--frames: 0 is not in 1..1000000000" --frames 0
  expect "$p" 2 "--repeat: 'x' is not a number in 1..1000" --repeat x
  expect "$p" 2 "--repeat: 0 is not in 1..1000" --repeat 0
  expect "$p" 2 "--repeat needs a value (1..1000)" --frames 10 --repeat
fi

if have tools/ppool-stat; then
  p=$build/tools/ppool-stat
  common "$p"
  expect "$p" 2 "--watch: 0 is not in 0.05..86400" --watch 0
  expect "$p" 2 "--holders: 'x' is not a number" --holders x
  expect "$p" 2 "--socket needs a value" --socket
  expect "$p" 1 "/nonexistent/ppool.sock" --socket /nonexistent/ppool.sock
  expect "$p" 2 "--listen needs a value" --listen
  expect "$p" 2 "--listen: '9464' is not HOST:PORT" --listen 9464
  expect "$p" 2 "--listen: '127.0.0.1:65536' is not HOST:PORT" --listen 127.0.0.1:65536
  expect "$p" 2 "exclude each other" --listen 127.0.0.1:0 --watch
  expect "$p" 2 "--json goes with" --listen 127.0.0.1:0 --json
  expect "$p" 1 "192.0.2.1:9464: bind" --listen 192.0.2.1:9464
fi

if have bench/bench_send; then
  p=$build/bench/bench_send
  common "$p"
  expect "$p" 2 "--size: 10 is not in 64..65000" --size 10
  expect "$p" 2 "--packets: '1e9' is not a number" --packets 1e9
fi

[ "$checked" -gt 0 ] || {
  echo "no program found under $build"
  exit 1
}
[ "$failures" = 0 ] && echo "command lines: $checked checks ok"
exit "$failures"
