#!/usr/bin/env bash
# The main job: installs what the build needs, builds ppool, and runs the
# io_uring forwarder's selftest twice, on pool pages (with a ppool-stat
# snapshot of its pools taken while it runs) and on malloc'd buffers, then
# prints the comparison; then hands pool pages to another process
# without copying (ppool-share's selftest, against a Unix socket and a pipe);
# then the AF_XDP forwarder's selftest on ppool's pools and on a free-frame
# stack (ppool-xsk, where libxdp was found; trafgen drives it).
# Each run's last line is its JSON summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
seconds=${PPOOL_FWD_SECONDS:-4}
# The pool run opens its telemetry socket; ppool-stat reads it halfway through.
socket=/tmp/ppool-fwd-run-$$.sock
echo "== ppool-fwd --selftest --alloc pool (2 queues, $seconds s), telemetry on $socket"
./build/tools/ppool-fwd --selftest --seconds "$seconds" --alloc pool --telemetry "$socket" \
  >build/fwd-pool.json &
fwd=$!
sleep "$(python3 -c "print($seconds / 2)")"
echo "== ppool-stat --socket $socket (the pools while the forwarder runs)"
./build/tools/ppool-stat --socket "$socket" || echo "(ppool-stat: no snapshot)"
./build/tools/ppool-stat --socket "$socket" --holders 1 || true
wait "$fwd"
tail -n 1 build/fwd-pool.json
echo "== ppool-fwd --selftest --alloc malloc (2 queues, $seconds s)"
./build/tools/ppool-fwd --selftest --seconds "$seconds" --alloc malloc | tee build/fwd-malloc.json
python3 - build/fwd-pool.json build/fwd-malloc.json <<'PY'
import json, sys
pool, malloc = (json.loads(open(f).read().strip().splitlines()[-1]) for f in sys.argv[1:])
print("\n== pool pages vs malloc'd buffers")
print(f"{'':28}{'pool':>14}{'malloc':>14}")
for key in ("pps", "packets_forwarded", "packets_lost", "page_faults_steady_state",
            "syscalls_per_packet", "recycle_ratio"):
    print(f"{key:28}{pool[key]:>14}{malloc[key]:>14}")
print(f"pps ratio pool/malloc: {pool['pps'] / max(malloc['pps'], 1):.2f}; "
      f"pages in flight after teardown: {sum(p['inflight'] for p in pool['pools'])}")
PY
echo
echo "== ppool-share --selftest (pool pages to another process, against a socket and a pipe)"
./build/tools/ppool-share --selftest --seconds "${PPOOL_SHARE_SECONDS:-1}"
if [ -x build/tools/ppool-xsk ]; then
  xsk_seconds=${PPOOL_XSK_SECONDS:-2}
  for alloc in pool stack; do
    echo
    echo "== ppool-xsk --selftest --alloc $alloc (2 queues, $xsk_seconds s)"
    rc=0
    ./build/tools/ppool-xsk --selftest --seconds "$xsk_seconds" --alloc "$alloc" \
      >"build/xsk-$alloc.json" || rc=$?
    [ "$rc" = 77 ] && break  # skipped: it said why on stderr
    [ "$rc" = 0 ] || exit "$rc"
    tail -n 1 "build/xsk-$alloc.json"
  done
  if [ -s build/xsk-pool.json ] && [ -s build/xsk-stack.json ] && [ "$rc" = 0 ]; then
    python3 - build/xsk-pool.json build/xsk-stack.json <<'PY'
import json, sys
pool, stack = (json.loads(open(f).read().strip().splitlines()[-1]) for f in sys.argv[1:])
print("\n== AF_XDP: ppool's pools vs a free-frame stack")
print(f"{'':28}{'pool':>14}{'stack':>14}")
for key in ("pps", "frames_sent", "frames_received", "frames_lost", "forwarder_lost",
            "cpu_ns_per_frame", "page_faults_steady_state", "recycle_ratio",
            "inflight_after_teardown"):
    print(f"{key:28}{pool[key]:>14}{stack[key]:>14}")
for name, r in (("pool", pool), ("stack", stack)):
    print(f"{name}: lost end to end {r['frames_lost']} of {r['frames_sent']} "
          f"({100 * r['frames_lost'] / max(r['frames_sent'], 1):.1f}%), where: "
          f"{r['frames_lost_where']}")
PY
  fi
fi
