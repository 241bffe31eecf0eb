#!/usr/bin/env bash
# ppool-xsk on ppool's pools against the free-frame stack: interleaved
# selftests (pool, stack, pool, stack, ...), medians of each.
#   scripts/xsk-compare.sh PATH/TO/ppool-xsk [REPS] [SECONDS] [EXTRA ARGS...]
# pps is what the pipeline received per second (trafgen and the forwarder
# share the machine's cores, so it moves with the forwarder's CPU cost);
# cpu_ns_per_frame is the whole process's CPU time (user + kernel: the TX
# copies run in its sendto()) per frame received.
set -euo pipefail
xsk=$1
reps=${2:-3}
seconds=${3:-4}
shift $(($# < 3 ? $# : 3))
exec python3 - "$xsk" "$reps" "$seconds" "$@" <<'PY'
import json, statistics, subprocess, sys

xsk, reps, seconds, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
keys = ("pps", "cpu_ns_per_frame", "recycle_ratio", "recycle_ratio_steady_state",
        "page_faults_steady_state", "frames_lost", "forwarder_lost", "inflight_after_teardown")
runs = {"pool": [], "stack": []}
for rep in range(reps):
    for alloc in ("pool", "stack"):
        p = subprocess.run([xsk, "--selftest", "--seconds", seconds, "--alloc", alloc, *extra],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"{alloc}: exit {p.returncode}: {p.stderr[-1000:]}\n{p.stdout[-3000:]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        runs[alloc].append(r)
        print(json.dumps({"rep": rep, "alloc": alloc, **{k: r[k] for k in keys}}))
summary = {}
for alloc, rs in runs.items():
    summary[alloc] = {k: statistics.median(r[k] for r in rs) for k in keys}
    summary[alloc]["max_faults"] = max(r["page_faults_steady_state"] for r in rs)
summary["pps_pool_over_stack"] = summary["pool"]["pps"] / summary["stack"]["pps"]
summary["cpu_pool_over_stack"] = (summary["pool"]["cpu_ns_per_frame"] /
                                  summary["stack"]["cpu_ns_per_frame"])
print(json.dumps(summary))
PY
