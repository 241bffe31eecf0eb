#!/usr/bin/env bash
# Where ppool-xsk's own CPU goes, per frame received: samples the selftest
# with perf's cpu-clock (these VMs have no hardware counters), interleaving
# the two allocators, and prints ns per frame of the forwarder's user-space
# code, total and per function, for each run.
#   scripts/xsk-user-cost.sh PATH/TO/ppool-xsk [REPS] [SECONDS]
set -euo pipefail
xsk=$1
reps=${2:-3}
seconds=${3:-4}
command -v perf >/dev/null || { echo "xsk-user-cost.sh: needs perf (Debian package linux-perf)" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
freq=4999
for rep in $(seq "$reps"); do
  for alloc in pool stack; do
    perf record -q -e cpu-clock -F $freq -o "$dir/perf.data" -- \
      "$xsk" --selftest --seconds "$seconds" --alloc "$alloc" >"$dir/out.json" 2>/dev/null
    perf report -i "$dir/perf.data" --comm ppool-xsk --sort dso,sym -n --stdio 2>/dev/null |
      python3 -c '
import json, sys
alloc, freq, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
frames = json.loads(open(out).read().strip().splitlines()[-1])["forwarder_received"]
ns = {}
for line in sys.stdin:
    f = line.split()
    if line.startswith("#") or len(f) < 5 or "[kernel" in line or not f[1].isdigit():
        continue
    ns[" ".join(f[4:])] = int(f[1]) * 1e9 / freq / frames
top = sorted(ns.items(), key=lambda kv: -kv[1])[:8]
print(json.dumps({"alloc": alloc, "frames": frames,
                  "user_ns_per_frame": round(sum(ns.values()), 1),
                  "top": {k: round(v, 1) for k, v in top}}))
' "$alloc" "$freq" "$dir/out.json"
  done
done
