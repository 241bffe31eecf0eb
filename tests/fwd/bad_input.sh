#!/usr/bin/env bash
# ppool-fwd on bad input: a clear message and a non-zero exit, never a hang.
#   tests/fwd/bad_input.sh PATH/TO/ppool-fwd
# A bad command line exits 2 naming the option and its range; what the
# machine refuses (the port, locked memory) exits 1 saying what.
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
expect 2 "unexpected argument 'stray'" -- "$fwd" --selftest stray
expect 2 "one of --dest or --selftest" -- "$fwd"
expect 2 "--alloc: 'slab' is not one of pool|malloc" -- "$fwd" --selftest --alloc slab
expect 2 "--queues: 0 is not in 1..16" -- "$fwd" --selftest --queues 0
expect 2 "--queues needs a value (1..16)" -- "$fwd" --selftest --queues
expect 2 "--port: 99999 is not in 1..65535" -- "$fwd" --selftest --port 99999
expect 2 "--port: '+80' is not a number in 1..65535" -- "$fwd" --selftest --port +80
expect 2 "--port: ' 4' is not a number in 1..65535" -- "$fwd" --selftest --port " 4"
expect 2 "--port: '0x50' is not a number" -- "$fwd" --selftest --port 0x50
expect 2 "--seconds: 99999999999999999999 is not in 1..86400" -- \
  "$fwd" --selftest --seconds 99999999999999999999
expect 2 "--dest: 'nowhere' is not IPv4:PORT" -- "$fwd" --dest nowhere
expect 2 "--dest: '127.0.0.1:-5' is not IPv4:PORT" -- "$fwd" --dest 127.0.0.1:-5
expect 2 "--dest: '127.0.0.1:65536' is not IPv4:PORT" -- "$fwd" --dest 127.0.0.1:65536
expect 2 "--dest: '127.0.0.1: 9' is not IPv4:PORT" -- "$fwd" --dest "127.0.0.1: 9"
expect 2 "--dest and --selftest exclude each other" -- "$fwd" --selftest --dest 127.0.0.1:9
expect 2 "--seconds needs --selftest" -- "$fwd" --dest 127.0.0.1:9 --seconds 2
expect 2 "--netns needs --selftest" -- "$fwd" --dest 127.0.0.1:9 --netns
expect 0 "Usage: ppool-fwd" -- "$fwd" --help
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
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  expect 1 "out of locked memory (RLIMIT_MEMLOCK 64 KiB" -- \
    setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock \
    bash -c "ulimit -l 64; exec $fwd --selftest --seconds 1"
else
  expect 1 "out of locked memory (RLIMIT_MEMLOCK 64 KiB" -- \
    bash -c "ulimit -l 64; exec $fwd --selftest --seconds 1"
fi
[ "$failures" = 0 ] && echo "ppool-fwd bad input: ok"
exit "$failures"
