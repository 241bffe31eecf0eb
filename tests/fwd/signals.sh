#!/usr/bin/env bash
# ppool-fwd stopped by SIGTERM or SIGINT: it cleans up and prints its JSON.
#   tests/fwd/signals.sh PATH/TO/ppool-fwd
# A selftest cut short exits 128 + the signal (143, 130) with "interrupted"
# in its JSON; the forwarder (--dest) exits 0; with --netns (as root, where
# `ip netns add` works) neither namespace nor the veth pair is left behind.
set -uo pipefail
exec python3 - "$1" <<'PY'
import json, os, signal, subprocess, sys, time

fwd = sys.argv[1]
failures = 0


def fail(why):
    global failures
    failures += 1
    print("FAIL:", why)


def stop(args, sig, after, wanted, port):
    """Starts ppool-fwd, sends sig after `after` seconds; checks exit and JSON."""
    p = subprocess.Popen([fwd, *args, "--port", str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    if p.poll() is not None:
        out, err = p.communicate()
        fail(f"{args}: ended before the signal: exit {p.returncode}: {err[-2000:]}")
        return None
    p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail(f"{args}: still running 30 s after {sig.name}")
        return None
    name = f"{' '.join(args)} + {sig.name}"
    if p.returncode != wanted:
        fail(f"{name}: exit {p.returncode}, wanted {wanted}; stderr: {err[-2000:]}")
        return p.pid
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        fail(f"{name}: no JSON on the last line: {out[-500:]!r}")
        return p.pid
    if r.get("interrupted") != sig.name:
        fail(f"{name}: JSON says interrupted={r.get('interrupted')!r}")
    for pool in r.get("pools", []):
        if pool["inflight"] != 0:
            fail(f"{name}: pool {pool['name']} ended with {pool['inflight']} pages in flight")
    print(f"ok: {name}: exit {p.returncode},",
          {k: v for k, v in r.items() if k in ("packets_forwarded", "packets_received",
                                               "seconds", "interrupted")})
    return p.pid


base = 9500 + os.getpid() % 400
stop(["--selftest", "--seconds", "600"], signal.SIGTERM, 1.5, 143, base)
stop(["--selftest", "--seconds", "600", "--alloc", "malloc"], signal.SIGINT, 1.5, 130, base + 1)
stop(["--dest", "127.0.0.1:9"], signal.SIGTERM, 1.0, 0, base + 2)
stop(["--dest", "127.0.0.1:9"], signal.SIGINT, 1.0, 0, base + 3)

# --netns: needs root and iproute2; skipped (and said so) where it cannot work.
probe = f"ppool-probe-{os.getpid()}"
can_netns = os.geteuid() == 0 and subprocess.run(
    ["ip", "netns", "add", probe], capture_output=True).returncode == 0
if can_netns:
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    pid = stop(["--selftest", "--seconds", "600", "--netns"], signal.SIGTERM, 3.0, 143, base + 4)
    if pid:
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        for ns in (f"ppool-fwd-{pid}", f"ppool-gen-{pid}"):
            if ns in netns:
                fail(f"--netns: namespace {ns} left behind")
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for veth in (f"ppf{pid % 100000}", f"ppg{pid % 100000}"):
            if f" {veth}@" in links or f" {veth}:" in links:
                fail(f"--netns: veth {veth} left behind")
else:
    print("skipped: --netns (needs root and `ip netns add`)")

print("ppool-fwd signals: ok" if failures == 0 else f"{failures} failures")
sys.exit(1 if failures else 0)
PY
