#!/usr/bin/env bash
# Telemetry end to end, as a user runs it: `ppool-stat --socket PATH --json`
# against a running ppool-fwd returns every pool with the kernel's eleven
# counters, and they move between two reads (with STATS 0, the build's
# PPOOL_STATS off, "compiled out" instead, also in the table); the holder
# report names the forwarder's holders; the forwarder ends clean. Then a
# forwarder without --telemetry: its endpoint is in the user's private
# runtime directory (as root /run/ppool, 0700), and ppool-stat finds it
# there without being told.
#   tests/telemetry/fwd_stat.sh PPOOL-FWD PPOOL-STAT STATS
set -euo pipefail
fwd=$1
stat=$2
stats=${3:?STATS: the build PPOOL_STATS, 1 or 0}
dir=$(mktemp -d)
socket=$dir/ppool-fwd-test.sock
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
"$fwd" --selftest --seconds 4 --port 9310 --telemetry "$socket" >"$dir/fwd.json" 2>"$dir/fwd.err" &
pid=$!
for _ in $(seq 100); do
  [ -S "$socket" ] && "$stat" --socket "$socket" --json >/dev/null 2>&1 && break
  sleep 0.05
done
sleep 0.5  # traffic is flowing
"$stat" --socket "$socket" --json >"$dir/a.json"
sleep 1
"$stat" --socket "$socket" --json >"$dir/b.json"
"$stat" --socket "$socket" >"$dir/table.out"
"$stat" --socket "$socket" --holders "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pools"][0]["id"])' "$dir/a.json")" --json >"$dir/h.json"
wait "$pid"
pid=""
python3 - "$dir" "$stats" <<'PY'
import json, sys
d, stats = sys.argv[1], sys.argv[2] == "1"
a, b, h = (json.load(open(f"{d}/{n}.json")) for n in ("a", "b", "h"))
kernel = {"alloc_fast", "alloc_slow", "alloc_slow_high_order", "alloc_empty", "alloc_refill",
          "alloc_waive", "recycle_cached", "recycle_cache_full", "recycle_ring",
          "recycle_ring_full", "recycle_released_refcnt"}
assert a["pid"] == b["pid"] > 0, (a["pid"], b["pid"])
assert len(a["pools"]) == 2 and [p["id"] for p in a["pools"]] == [p["id"] for p in b["pools"]], a
table = open(f"{d}/table.out").read()
for pa, pb in zip(a["pools"], b["pools"]):
    for key in ("id", "name", "queue", "nid", "order", "inflight", "inflight_mem",
                "detach_time", "dma_device"):
        assert key in pa, key
    assert pa["dma_device"] == "io_uring" and pa["detach_time"] == 0, pa
    if not stats:
        assert pa["stats"] == pb["stats"] == "compiled out", (pa, pb)
        assert table.count("statistics compiled out") == 2, table
        continue
    assert set(pa["stats"]) == kernel, pa["stats"].keys()
    assert pb["stats"]["alloc_fast"] > pa["stats"]["alloc_fast"], (pa, pb)
    recycled = lambda p: p["stats"]["recycle_cached"] + p["stats"]["recycle_ring"]
    assert recycled(pb) > recycled(pa), (pa, pb)
names = {g["name"] for g in h["holders"]}
assert any("receive ring" in n for n in names), h
fwd = json.loads(open(f"{d}/fwd.json").read().strip().splitlines()[-1])
assert fwd["packets_lost"] == 0 and all(p["inflight"] == 0 for p in fwd["pools"]), fwd
print("ppool-stat against ppool-fwd: 2 pools,",
      "counters moving," if stats else "statistics compiled out,", "holders", sorted(names))
PY

# The default endpoint, found by discovery.
if [ "$(id -u)" = 0 ]; then
  rundir=/run/ppool
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then
  rundir=$XDG_RUNTIME_DIR/ppool
else
  rundir=/tmp/ppool-$(id -u)
fi
PPOOL_TELEMETRY= "$fwd" --selftest --seconds 3 --port 9312 >"$dir/fwd2.json" 2>"$dir/fwd2.err" &
pid=$!
expected=$rundir/ppool-fwd-$pid.sock
for _ in $(seq 100); do
  "$stat" >"$dir/found.out" 2>&1 && grep -q "^pid $pid  " "$dir/found.out" && break
  sleep 0.05
done
grep -q "^pid $pid  $expected " "$dir/found.out" ||
  { echo "FAIL: ppool-stat did not find $expected: $(cat "$dir/found.out" "$dir/fwd2.err")"; exit 1; }
[ "$(stat -c %a:%u "$rundir")" = "700:$(id -u)" ] ||
  { echo "FAIL: $rundir is $(stat -c %a:%u "$rundir"), not 700:$(id -u)"; exit 1; }
wait "$pid"
pid=""
[ ! -e "$expected" ] || { echo "FAIL: $expected left behind"; exit 1; }
echo "the default endpoint: $expected, found by discovery"
