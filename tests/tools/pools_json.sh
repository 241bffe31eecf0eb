#!/usr/bin/env bash
# The pools in ppool-fwd's and ppool-xsk's JSON, parsed by python3's json
# module: each pool's name is a JSON string, whatever it holds.
#   tests/tools/pools_json.sh PATH/TO/ppool-fwd|none PATH/TO/ppool-xsk|none
# ppool-fwd: a short selftest; its pools are "fwd rxqN". ppool-xsk names its
# pools after the interfaces (`xsk IN rxqN`, `xsk OUT txqN`), and an
# interface name may hold a quote or a backslash: it forwards between two
# veth pairs, one named x"\q, in a network and mount namespace of its own
# (unshare -n -m; /sys remounted there so that the program sees its
# interfaces), is stopped by SIGTERM, and its names must come back exact.
# The ppool-xsk part needs root and skips, saying so, without it; exits 77
# when nothing could run.
set -uo pipefail
exec python3 - "$1" "$2" <<'PY'
import json, os, subprocess, sys

fwd, xsk = sys.argv[1], sys.argv[2]
failures = 0
ran = 0


def fail(why):
    global failures
    failures += 1
    print("FAIL:", why)


def last_json(name, out):
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError) as e:
        fail(f"{name}: the last line is not JSON ({e}): {out[-600:]!r}")
        return None


if fwd != "none":
    ran += 1
    port = str(9300 + os.getpid() % 150)
    p = subprocess.run([fwd, "--selftest", "--seconds", "1", "--port", port, "--telemetry", "off"],
                       capture_output=True, text=True, timeout=60)
    r = last_json("ppool-fwd", p.stdout)
    if p.returncode != 0:
        fail(f"ppool-fwd: exit {p.returncode}: {p.stderr[-1000:]}")
    elif r is not None:
        names = [pool["name"] for pool in r["pools"]]
        if not names or names != [f"fwd rxq{i}" for i in range(len(names))]:
            fail(f"ppool-fwd: pool names {names}")
        else:
            print("ok: ppool-fwd:", names)

IN = 'x"\\q'
SCRIPT = r'''
set -e
mount -t sysfs sysfs /sys
ip link set lo up
ip link add "$2" numrxqueues 2 numtxqueues 2 type veth peer name p0 numrxqueues 2 numtxqueues 2
ip link add o1 numrxqueues 2 numtxqueues 2 type veth peer name p1 numrxqueues 2 numtxqueues 2
for dev in "$2" p0 o1 p1; do ip link set "$dev" up; done
"$1" --in "$2" --out o1 --queues 2 --telemetry off &
pid=$!
sleep 1
kill -TERM "$pid"
wait "$pid"
'''
if xsk != "none":
    if os.geteuid() != 0:
        print("skipped: ppool-xsk: needs root (network namespaces, XDP)")
    else:
        ran += 1
        p = subprocess.run(["unshare", "-n", "-m", "sh", "-c", SCRIPT, "sh", xsk, IN],
                           capture_output=True, text=True, timeout=60)
        r = last_json("ppool-xsk", p.stdout)
        if p.returncode != 0:
            fail(f"ppool-xsk: exit {p.returncode}: {p.stderr[-1000:]}")
        elif r is not None:
            names = sorted(pool["name"] for pool in r["pools"])
            wanted = sorted([f"xsk {IN} rxq0", f"xsk {IN} rxq1", "xsk o1 txq0", "xsk o1 txq1"])
            if names != wanted:
                fail(f"ppool-xsk: pool names {names}, wanted {wanted}")
            else:
                print("ok: ppool-xsk:", names)

if ran == 0:
    print("skipped: nothing to run")
    sys.exit(77)
print("pools' JSON: ok" if failures == 0 else f"{failures} failures")
sys.exit(1 if failures else 0)
PY
