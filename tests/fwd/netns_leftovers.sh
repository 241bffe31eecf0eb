#!/usr/bin/env bash
# ppool-fwd --selftest --netns stopped at any moment leaves nothing behind.
#   tests/fwd/netns_leftovers.sh PATH/TO/ppool-fwd
# 50 runs, each stopped at a different moment from 0.02 s (before main, or
# in the middle of building the namespaces) to 2 s (in the traffic):
#  - SIGINT the way timeout(1) and a terminal's Ctrl-C send it: to the
#    process, then to its whole process group, so it arrives twice (and
#    reaches the `ip` commands the selftest runs);
#  - SIGTERM twice in a row;
#  - SIGKILL, which no handler sees;
#  - SIGINT from timeout(1) itself.
# After each: no network namespace of the run in `ip netns list`, no veth of
# it in `ip link`; and a run that caught the signal (exit 128 + signal)
# printed its JSON, marked "interrupted", with every page home. A run that
# died of the signal itself was stopped before main() installed its
# handlers: only "nothing left" is asked of it. Exits 77 (skipped) where
# network namespaces cannot be made (not root).
set -uo pipefail
exec python3 - "$1" <<'PY'
import json, os, signal, subprocess, sys, time

fwd = sys.argv[1]
if os.geteuid() != 0 or subprocess.run(["unshare", "--net", "true"],
                                       capture_output=True).returncode != 0:
    print("skipped: needs root and network namespaces (unshare --net)")
    sys.exit(77)

ARGS = ["--selftest", "--netns", "--seconds", "2", "--port", "9470"]
failures = 0
leftovers = 0


def fail(why):
    global failures
    failures += 1
    print("FAIL:", why)


def left_behind(pid):
    """What of run pid is still there (and removes it, so runs stay apart)."""
    names = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for ns in (f"ppool-fwd-{pid}", f"ppool-gen-{pid}"):
        if any(line.split()[0] == ns for line in netns.splitlines() if line.split()):
            names.append(f"namespace {ns}")
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for veth in (f"ppf{pid % 100000}", f"ppg{pid % 100000}"):
        if f" {veth}@" in links or f" {veth}:" in links:
            names.append(f"veth {veth}")
            subprocess.run(["ip", "link", "del", veth], capture_output=True)
    return names


def check(name, pid, rc, sig, out, err):
    global leftovers
    left = left_behind(pid)
    if left:
        leftovers += 1
        fail(f"{name}: left behind: {', '.join(left)}")
    if sig == signal.SIGKILL or rc == -sig:
        return  # no handler ran (SIGKILL, or before main): nothing to print
    if rc not in (0, 128 + sig):
        fail(f"{name}: exit {rc}, wanted {128 + sig}; stderr: {err[-1500:]!r}")
        return
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        fail(f"{name}: exit {rc} and no JSON on the last line: {out[-300:]!r}; "
             f"stderr: {err[-300:]!r}")
        return
    wanted = sig.name if rc else None
    if r.get("interrupted") != wanted:
        fail(f"{name}: JSON says interrupted={r.get('interrupted')!r}, wanted {wanted!r}")
    for pool in r.get("pools", []):
        if pool["inflight"] != 0:
            fail(f"{name}: pool {pool['name']} ended with {pool['inflight']} pages in flight")


def run(sig, after, twice, gap=0.0):
    """Starts a selftest in its own process group, sends sig after `after` s
    to the process, then (twice) `gap` s later again to its group, as
    timeout(1) does, or to it. (Sent back to back, the two often merge into
    one pending signal; a gap of a millisecond or more lets the first one be
    handled before the second comes.)"""
    p = subprocess.Popen([fwd, *ARGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    time.sleep(after)
    os.kill(p.pid, sig)
    if twice:
        time.sleep(gap)
        try:
            if twice == "group":
                os.killpg(p.pid, sig)
            else:
                os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        fail(f"{sig.name} at {after:.2f} s: still running 60 s after it")
    name = f"{sig.name}{f' x2 ({twice}, {gap * 1000:.0f} ms apart)' if twice else ''} at {after:.2f} s"
    check(name, p.pid, p.returncode, sig, out, err)
    return p.returncode


def run_timeout(after):
    """timeout(1) itself; the selftest's pid comes first on stderr."""
    p = subprocess.run(["timeout", "-s", "INT", f"{after:.2f}", "sh", "-c",
                        'echo "pid $$" >&2; exec "$@"', "sh", fwd, *ARGS],
                       capture_output=True, text=True, timeout=60)
    first = p.stderr.split("\n", 1)[0].split()
    if len(first) != 2 or first[0] != "pid":
        fail(f"timeout at {after:.2f} s: no pid line: {p.stderr[-300:]!r}")
        return
    # timeout exits 124 (or 128 + 2 for a child that ended by SIGINT); the
    # JSON is checked in the runs above, where the exit status is the child's.
    left = left_behind(int(first[1]))
    if left:
        global leftovers
        leftovers += 1
        fail(f"timeout -s INT {after:.2f}: left behind: {', '.join(left)}")


# Moments from 0.02 s to 2 s, spread evenly on a log scale: half of them
# fall in the setup (process start, namespaces, veth, forwarder).
def moments(n, lo=0.02, hi=2.0):
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


start = time.monotonic()
codes = {}
for i, t in enumerate(moments(32)):
    rc = run(signal.SIGINT, t, "group", (0, 0.001, 0.005)[i % 3])
    codes[rc] = codes.get(rc, 0) + 1
for t in moments(6, 0.05, 1.5):
    run(signal.SIGTERM, t, "process", 0.005)
for t in moments(8, 0.03, 1.5):
    run(signal.SIGKILL, t, None)
for t in moments(4, 0.05, 1.5):
    run_timeout(t)
print(f"SIGINT exit codes: {codes}; {leftovers} of 50 runs left something behind; "
      f"{time.monotonic() - start:.1f} s")
print("ppool-fwd netns leftovers: ok" if failures == 0 else f"{failures} failures")
sys.exit(1 if failures else 0)
PY
