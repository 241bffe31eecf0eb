#!/usr/bin/env bash
# DPDK's own telemetry client reads ppool: two ppool-fwd selftests made
# findable as DPDK processes are (one with --telemetry dpdk:PREFIX, one with
# PPOOL_TELEMETRY=dpdk, DPDK's default prefix rte), and Debian's
# dpdk-telemetry.py, run as a user runs it (-f PREFIX, or nothing), non-
# interactively (commands on stdin, one JSON reply a line), must list both
# forwarders' pools, read a pool's info, and get DPDK's shape for an error
# ({"COMMAND": null}); `dpdk-telemetry.py -l` lists the prefix. Both
# endpoints are in RUNTIME_DIRECTORY, which DPDK's EAL, dpdk-telemetry.py and
# ppool all honour, so the test touches no shared directory.
# ppool-stat, with no --socket, must find both by DPDK's socket name and
# leave out a DPDK application listening under the same name (a stand-in
# here: DPDK's hello and its error replies). Each forwarder must stop on
# SIGTERM and remove its socket.
# Skips (77) only where dpdk-telemetry.py is missing (Debian's dpdk-dev:
# scripts/install-deps.sh installs it for CI).
#   tests/telemetry/dpdk_telemetry.sh PPOOL-FWD PPOOL-STAT
set -euo pipefail
fwd=$1
stat=$2
client=/usr/bin/dpdk-telemetry.py
if [ ! -x "$client" ]; then
  echo "SKIP: no $client (Debian's dpdk-dev; scripts/install-deps.sh installs it)"
  exit 77
fi
dir=$(mktemp -d)
export RUNTIME_DIRECTORY=$dir
pids=()
# Every forwarder is killed and reaped, whatever each wait returns (143 for
# one stopped by the signal: under set -e a bare failing wait would end the
# loop and leave the next forwarder running, holding its port).
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$dir"/*.err; do echo "--- $f"; cat "$f"; done
  exit 1
}

"$fwd" --selftest --seconds 300 --port 9340 --telemetry dpdk:ppool-test \
  >"$dir/a.json" 2>"$dir/a.err" &
pids+=($!)
PPOOL_TELEMETRY=dpdk "$fwd" --selftest --seconds 300 --port 9342 >"$dir/b.json" 2>"$dir/b.err" &
pids+=($!)
sock_a=$dir/dpdk/ppool-test/dpdk_telemetry.v2
sock_b=$dir/dpdk/rte/dpdk_telemetry.v2
# The socket exists before ppool-fwd prints where it is: wait for both.
for _ in $(seq 200); do
  [ -S "$sock_a" ] && [ -S "$sock_b" ] && grep -qF "telemetry on $sock_a" "$dir/a.err" && break
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "a forwarder exited"; done
  sleep 0.05
done
[ -S "$sock_a" ] && [ -S "$sock_b" ] || fail "no socket at $sock_a and $sock_b within 10 s"
grep -qF "telemetry on $sock_a" "$dir/a.err" || fail "ppool-fwd does not say where it listens"
[ "$(stat -c %a "$dir/dpdk/ppool-test")" = 700 ] || fail "$dir/dpdk/ppool-test is not 0700"

commands=$'/ppool/list\n/ppool/info,1\n/nope\n/ppool/stats,99999\n/ppool/list,3\n'
timeout 60 "$client" -f ppool-test <<<"$commands" >"$dir/a.out" 2>"$dir/client-a.err" ||
  fail "dpdk-telemetry.py -f ppool-test: $(cat "$dir/a.out" "$dir/client-a.err")"
timeout 60 "$client" <<<"$commands" >"$dir/b.out" 2>"$dir/client-b.err" ||
  fail "dpdk-telemetry.py: $(cat "$dir/b.out" "$dir/client-b.err")"
timeout 60 "$client" -l >"$dir/list.out" 2>&1 || fail "dpdk-telemetry.py -l: $(cat "$dir/list.out")"

python3 - "$dir" <<'PY' || fail "the replies above"
import json, sys
d = sys.argv[1]
for name in ("a", "b"):
    lines = open(f"{d}/{name}.out").read().splitlines()
    replies = [json.loads(l) for l in lines]
    assert len(replies) == 5, (name, lines)
    listed, info, unknown, no_pool, no_param = replies
    assert listed == {"/ppool/list": listed["/ppool/list"]} and len(listed["/ppool/list"]) == 2, listed
    # The queues' threads create their pools in either order: pool 1 is
    # one of the two.
    assert info["/ppool/info"]["id"] == 1, info
    assert info["/ppool/info"]["name"] in ("fwd rxq0", "fwd rxq1"), info
    # DPDK's server answers an error with {"COMMAND": null}; ppool adds the message.
    for reply, command in ((unknown, "/nope"), (no_pool, "/ppool/stats"), (no_param, "/ppool/list")):
        assert command in reply and reply[command] is None, reply
        assert set(reply) == {command, "error"} and reply["error"], reply
    assert "no pool with id 99999" in no_pool["error"], no_pool
listing = open(f"{d}/list.out").read()
assert "ppool-test" in listing.split() and "rte" in listing.split(), listing
print("dpdk-telemetry.py read both forwarders (-f ppool-test and the default rte):",
      "2 pools each, info, errors as {COMMAND: null}; -l lists both prefixes")
PY

# A DPDK application's endpoint where DPDK puts it: its hello, and
# {"COMMAND": null} to every command, as DPDK answers one it does not know.
python3 - "$dir/dpdk/dpdk-app/dpdk_telemetry.v2" <<'PY' &
import json, os, socket, sys
os.makedirs(os.path.dirname(sys.argv[1]), mode=0o700)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
s.listen(8)
while True:
    c, _ = s.accept()
    c.send(json.dumps({"version": "DPDK 22.11.0", "pid": os.getpid(), "max_output_len": 16384}).encode())
    while (m := c.recv(1024)):
        c.send(json.dumps({m.decode().split(",")[0]: None}).encode())
    c.close()
PY
app=$!
pids+=("$app")
for _ in $(seq 200); do [ -S "$dir/dpdk/dpdk-app/dpdk_telemetry.v2" ] && break; sleep 0.05; done
"$stat" --json >"$dir/stat.json" 2>"$dir/stat.err" || fail "ppool-stat: $(cat "$dir/stat.err")"
python3 - "$dir/stat.json" "$app" "${pids[0]}" "${pids[1]}" <<'PY' || fail "ppool-stat's list above"
import json, sys
found = {p["pid"]: p for p in json.load(open(sys.argv[1]))}
app, fwds = int(sys.argv[2]), {int(p) for p in sys.argv[3:]}
assert fwds <= set(found), ("a forwarder not found by DPDK's name", sorted(found))
assert app not in found, "the DPDK application was taken for a ppool process"
for p in fwds:
    assert len(found[p]["pools"]) == 2, found[p]
print("ppool-stat found both forwarders by DPDK's socket name, and left the DPDK application out")
PY
kill "$app"
wait "$app" 2>/dev/null || true
pids=("${pids[0]}" "${pids[1]}")

for p in "${pids[@]}"; do
  kill -TERM "$p"
  rc=0
  wait "$p" || rc=$?
  [ "$rc" = 143 ] || fail "ppool-fwd exited $rc on SIGTERM, not 143"
done
pids=()
[ ! -e "$sock_a" ] && [ ! -e "$sock_b" ] || fail "a socket left behind"
echo "both forwarders stopped and removed their sockets"
