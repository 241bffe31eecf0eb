#!/usr/bin/env bash
# The issue's check, as a user runs it: `ppool-stat --socket PATH --json`
# against a running ppool-fwd returns every pool with the kernel's eleven
# counters, and they move between two reads; the holder report names the
# forwarder's holders; the forwarder ends clean.
#   tests/telemetry/fwd_stat.sh PPOOL-FWD PPOOL-STAT
set -euo pipefail
fwd=$1
stat=$2
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
"$stat" --socket "$socket" --holders "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pools"][0]["id"])' "$dir/a.json")" --json >"$dir/h.json"
wait "$pid"
pid=""
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
a, b, h = (json.load(open(f"{d}/{n}.json")) for n in ("a", "b", "h"))
kernel = {"alloc_fast", "alloc_slow", "alloc_slow_high_order", "alloc_empty", "alloc_refill",
          "alloc_waive", "recycle_cached", "recycle_cache_full", "recycle_ring",
          "recycle_ring_full", "recycle_released_refcnt"}
assert a["pid"] == b["pid"] > 0, (a["pid"], b["pid"])
assert len(a["pools"]) == 2 and [p["id"] for p in a["pools"]] == [p["id"] for p in b["pools"]], a
for pa, pb in zip(a["pools"], b["pools"]):
    assert set(pa["stats"]) == kernel, pa["stats"].keys()
    for key in ("id", "name", "queue", "nid", "order", "inflight", "inflight_mem",
                "detach_time", "dma_device"):
        assert key in pa, key
    assert pa["dma_device"] == "io_uring" and pa["detach_time"] == 0, pa
    assert pb["stats"]["alloc_fast"] > pa["stats"]["alloc_fast"], (pa, pb)
    recycled = lambda p: p["stats"]["recycle_cached"] + p["stats"]["recycle_ring"]
    assert recycled(pb) > recycled(pa), (pa, pb)
names = {g["name"] for g in h["holders"]}
assert any("receive ring" in n for n in names), h
fwd = json.loads(open(f"{d}/fwd.json").read().strip().splitlines()[-1])
assert fwd["packets_lost"] == 0 and all(p["inflight"] == 0 for p in fwd["pools"]), fwd
print("ppool-stat against ppool-fwd: 2 pools, counters moving, holders", sorted(names))
PY
