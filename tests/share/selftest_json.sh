#!/usr/bin/env bash
# ppool-share --selftest, short, and the invariants of its last line:
# a consumer killed holding pages (N > 0) gets all N reclaimed, nothing is
# left in flight, no stale byte is seen, and every transport moved data in
# both passes: untouched ("sizes") and touched ("sizes_touched", the last key:
# every payload byte written and checked; a wrong one fails the selftest).
# Rates are only checked > 0: how they compare depends on the machine.
#   tests/share/selftest_json.sh PPOOL_SHARE [SECONDS]
set -uo pipefail
prog=$1
seconds=${2:-0.2}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout 120 "$prog" --selftest --seconds "$seconds" >"$out"
rc=$?
cat "$out"
[ "$rc" = 0 ] || { echo "FAIL: ppool-share --selftest exited $rc"; exit 1; }
exec python3 - "$out" <<'PY'
import json, sys
last = open(sys.argv[1]).read().strip().splitlines()[-1]
j = json.loads(last)
bad = []
n = j["consumer_killed_holding"]
if not n > 0: bad.append(f"consumer_killed_holding is {n}, not > 0")
if j["pages_reclaimed"] != n: bad.append(f"pages_reclaimed {j['pages_reclaimed']} != {n}")
if j["inflight_after"] != 0: bad.append(f"inflight_after is {j['inflight_after']}")
if j["stale_bytes_seen"] != 0: bad.append(f"stale_bytes_seen is {j['stale_bytes_seen']}")
if [s["bytes"] for s in j["sizes"]] != [64, 1500, 65536]: bad.append("sizes are not 64, 1500, 65536")
if list(j)[-1] != "sizes_touched": bad.append("sizes_touched is not the last key")
if [s["bytes"] for s in j.get("sizes_touched", [])] != [64, 1500, 65536]:
    bad.append("sizes_touched are not 64, 1500, 65536")
for key in ("sizes", "sizes_touched"):
    for s in j.get(key, []):
        for t in ("share", "socket", "pipe"):
            for unit in ("pps", "gbps"):
                if not s[f"{t}_{unit}"] > 0:
                    bad.append(f"{key}: {t}_{unit} at {s['bytes']} B is {s[f'{t}_{unit}']}")
for b in bad: print("FAIL:", b)
if not bad: print("selftest JSON: invariants hold")
sys.exit(1 if bad else 0)
PY
