#!/usr/bin/env bash
# ppool-fwd on bad input: a clear message and a non-zero exit, never a hang.
#   tests/fwd/bad_input.sh PATH/TO/ppool-fwd
set -uo pipefail
fwd=$1
failures=0
expect() {  # expected-exit message-substring -- command...
  local code=$1 text=$2
  shift 3
  local out rc
  out=$(timeout 30 "$@" 2>&1)
  rc=$?
  if [ "$rc" != "$code" ] || [[ "$out" != *"$text"* ]]; then
    echo "FAIL: '$*' exited $rc (wanted $code), said: $out"
    failures=$((failures + 1))
  fi
}
expect 2 "unknown option '--bogus'" -- "$fwd" --bogus
expect 2 "--dest or --selftest" -- "$fwd"
expect 2 "--alloc takes pool or malloc" -- "$fwd" --selftest --alloc slab
expect 2 "bad value '0'" -- "$fwd" --selftest --queues 0
expect 2 "--dest takes IPv4:PORT" -- "$fwd" --dest nowhere
# A port somebody else holds.
python3 -c '
import socket, subprocess, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 0))
port = s.getsockname()[1]
r = subprocess.run([sys.argv[1], "--selftest", "--seconds", "1", "--port", str(port)],
                   capture_output=True, text=True, timeout=30)
ok = r.returncode == 1 and f"port {port} is in use" in r.stderr
print("" if ok else f"FAIL: port in use: exit {r.returncode}: {r.stderr}", end="")
sys.exit(0 if ok else 1)' "$fwd" || failures=$((failures + 1))
# Locked memory too low for the rings (without CAP_IPC_LOCK the limit holds).
if command -v setpriv >/dev/null; then
  expect 1 "RLIMIT_MEMLOCK" -- setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock \
    bash -c "ulimit -l 64; exec $fwd --selftest --seconds 1"
fi
[ "$failures" = 0 ] && echo "ppool-fwd bad input: ok"
exit "$failures"
