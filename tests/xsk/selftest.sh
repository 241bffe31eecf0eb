#!/usr/bin/env bash
# ppool-xsk's selftest, short, on ppool's pools and on the free-frame stack:
#   tests/xsk/selftest.sh PATH/TO/ppool-xsk [SECONDS]
# Checks each JSON: frames forwarded, none lost inside the forwarder, the
# end-to-end figures (what trafgen sent against what arrived) consistent and
# split by where the loss happened, none in flight after teardown, the
# eleven stats of every pool; then a run with bpffs unmounted (in a mount
# namespace of its own: the selftest needs none); then a queue the interface
# lacks, refused by name on both allocators; then a run stopped by
# SIGTERM: exit 143, JSON marked, no namespace left behind.
# Exits 77 (skipped, and says why) where the selftest cannot run: not root,
# no network namespaces, no trafgen. With PPOOL_REQUIRE_XSK=1 (scripts/test.sh
# sets it where all of those are there) a skip is a failure instead.
set -uo pipefail
exec python3 - "$1" "${2:-2}" <<'PY'
import json, os, shutil, signal, subprocess, sys, time

xsk, seconds = sys.argv[1], sys.argv[2]
failures = 0
STATS = ["alloc_fast", "alloc_slow", "alloc_slow_high_order", "alloc_empty", "alloc_refill",
         "alloc_waive", "recycle_cached", "recycle_cache_full", "recycle_ring",
         "recycle_ring_full", "recycle_released_refcnt"]


def fail(why):
    global failures
    failures += 1
    print("FAIL:", why)


def leftovers(pid):
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in netns.splitlines() if line.endswith(f"-{pid}") or
            f"-{pid} " in line]


def check(alloc, out, err, rc, pid):
    name = f"--alloc {alloc}"
    if rc != 0:
        fail(f"{name}: exit {rc}; stderr: {err[-2000:]}")
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        fail(f"{name}: no JSON on the last line: {out[-500:]!r}")
        return None
    if r["frames_forwarded"] <= 0:
        fail(f"{name}: nothing forwarded")
    if r["forwarder_lost"] != 0:
        fail(f"{name}: {r['forwarder_lost']} frames lost inside the forwarder")
    # End to end: trafgen's frames against the sink's and the generator's
    # (sent back) counters, read once nothing was in flight any more.
    where = r["frames_lost_where"]
    if r["frames_sent"] <= 0 or r["frames_received"] <= 0:
        fail(f"{name}: sent {r['frames_sent']}, received {r['frames_received']}")
    if r["frames_lost"] < 0 or where["kernel_other"] < 0:
        fail(f"{name}: more frames arrived than were sent: {r['frames_lost']} lost, {where}")
    if where["forwarder"] != r["forwarder_lost"]:
        fail(f"{name}: the forwarder's loss {where['forwarder']} is not its own count")
    if not r["xsk_socket_drops"]["read"]:
        fail(f"{name}: the sockets' XDP_STATISTICS could not be read")
    if r["inflight_after_teardown"] != 0:
        fail(f"{name}: {r['inflight_after_teardown']} frames in flight after teardown")
    if r["umem_frames_committed"] > r["umem_frames"]:
        fail(f"{name}: more frames committed than the UMEM has")
    for pool in r["pools"]:
        if sorted(pool["stats"]) != sorted(STATS):
            fail(f"{name}: pool {pool['name']} stats are {sorted(pool['stats'])}")
        if pool["inflight"] != 0:
            fail(f"{name}: pool {pool['name']} ended with {pool['inflight']} in flight")
        # The forwarder hands the queues only frames it holds: a refusal is its bug.
        for key in ("tx_refused", "rejected", "returns_refused"):
            if pool["queue"][key] != 0:
                fail(f"{name}: queue of pool {pool['name']}: {key} {pool['queue'][key]}")
    if alloc == "pool" and not r["pools"]:
        fail(f"{name}: no pools in the JSON")
    empty = [k for k, v in r["rings_at_teardown"].items() if v == 0]
    if empty:  # load-dependent (trafgen may be starved): said, not failed
        print(f"note: {name}: empty at teardown: {', '.join(empty)}")
    for ns in leftovers(pid):
        fail(f"{name}: namespace {ns} left behind")
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    print(f"ok: {name}:", {k: r[k] for k in ("frames_sent", "frames_received", "frames_lost",
                                             "frames_lost_where", "frames_dropped_on_purpose",
                                             "forwarder_received", "frames_forwarded", "pps",
                                             "recycle_ratio", "inflight_after_teardown",
                                             "ledger_after_close", "rings_at_teardown")})
    return r


results = {}
for alloc in ("pool", "stack"):
    p = subprocess.Popen([xsk, "--selftest", "--seconds", seconds, "--alloc", alloc],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail(f"--alloc {alloc}: still running after 120 s")
        continue
    if p.returncode == 77:
        if os.environ.get("PPOOL_REQUIRE_XSK") == "1":
            print(f"FAIL: PPOOL_REQUIRE_XSK=1, but the selftest skipped: {err.strip()}")
            sys.exit(1)
        print(f"skipped: {err.strip()}")
        sys.exit(77)
    results[alloc] = check(alloc, out, err, p.returncode, p.pid)

# A fresh machine has no bpffs mounted: the selftest must run there too. In a
# mount namespace of its own, /sys/fs/bpf unmounted (if it was mounted).
if shutil.which("unshare"):
    script = ('umount /sys/fs/bpf 2>/dev/null; '
              'if grep -q " /sys/fs/bpf bpf " /proc/self/mounts; then '
              'echo "bpffs still mounted" >&2; exit 98; fi; '
              'exec "$0" --selftest --seconds 1 --alloc pool')
    p = subprocess.run(["unshare", "-m", "sh", "-c", script, xsk], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        fail(f"without bpffs: exit {p.returncode}; stderr: {p.stderr[-1000:]}")
    else:
        r = json.loads(p.stdout.strip().splitlines()[-1])
        if r["frames_forwarded"] <= 0 or r["inflight_after_teardown"] != 0:
            fail(f"without bpffs: forwarded {r['frames_forwarded']}, "
                 f"inflight {r['inflight_after_teardown']}")
        else:
            print("ok: without bpffs (a mount namespace where /sys/fs/bpf is unmounted)")

# A queue the interface lacks: setup fails, names the queue and exits 1, on
# both allocators (the stack's teardown of a half-made queue once followed
# the rings libxdp had unmapped). In a network and mount namespace of its
# own, with its own sysfs, so the program sees the veth pair made there.
if shutil.which("unshare"):
    for alloc in ("pool", "stack"):
        script = ("mount -t sysfs none /sys && ip link add a0 type veth peer name b0 && "
                  "ip link set a0 up && ip link set b0 up && "
                  f'exec "$0" --in a0 --out b0 --queues 2 --alloc {alloc} --telemetry off')
        p = subprocess.run(["unshare", "-nm", "sh", "-c", script, xsk], capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 1 or "queue 1" not in p.stderr:
            fail(f"--alloc {alloc} on a one-queue veth with --queues 2: exit {p.returncode}, "
                 f"wanted 1 naming queue 1; stderr: {p.stderr[-1000:]}")
        else:
            print(f"ok: --alloc {alloc}: a missing queue is refused: {p.stderr.strip()}")

if results.get("pool") and results.get("stack"):
    print(f"pps: pool {results['pool']['pps']:.0f}, stack {results['stack']['pps']:.0f}")

# Stopped by SIGTERM mid-run: cleaned up, JSON marked, 143.
p = subprocess.Popen([xsk, "--selftest", "--seconds", "600"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
time.sleep(3)
p.send_signal(signal.SIGTERM)
try:
    out, err = p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
    fail("SIGTERM: still running 60 s after the signal")
if p.returncode != 143:
    fail(f"SIGTERM: exit {p.returncode}, wanted 143; stderr: {err[-2000:]}")
else:
    r = json.loads(out.strip().splitlines()[-1])
    if r.get("interrupted") != "SIGTERM":
        fail(f"SIGTERM: JSON says interrupted={r.get('interrupted')!r}")
    if r["inflight_after_teardown"] != 0 or r["forwarder_lost"] != 0:
        fail(f"SIGTERM: inflight {r['inflight_after_teardown']}, "
             f"lost in the forwarder {r['forwarder_lost']}")
    print("ok: SIGTERM: exit 143, interrupted, clean")
for ns in leftovers(p.pid):
    fail(f"SIGTERM: namespace {ns} left behind")
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)

print("ppool-xsk selftest: ok" if failures == 0 else f"{failures} failures")
sys.exit(1 if failures else 0)
PY
