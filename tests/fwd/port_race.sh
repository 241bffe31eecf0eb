#!/usr/bin/env bash
# Two ppool-fwd started at the same moment on the same port: exactly one gets
# it, the other says "port N is in use" and exits 1, every time. (Its queue
# sockets set SO_REUSEPORT, which lets two processes of one user share a
# port; a check before the bind cannot stop that, the port lock does.)
#   tests/fwd/port_race.sh PATH/TO/ppool-fwd [ROUNDS]
set -uo pipefail
exec python3 - "$1" "${2:-12}" <<'PY'
import os, signal, subprocess, sys, time

fwd, rounds = sys.argv[1], int(sys.argv[2])
port = 9900 + os.getpid() % 90
failures = 0
for i in range(rounds):
    args = [fwd, "--dest", "127.0.0.1:9", "--port", str(port)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    time.sleep(0.6)  # the loser has long exited; the winner forwards
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        results.append((p.returncode, err))
    codes = sorted(rc for rc, _ in results)
    lost = [err for rc, err in results if rc == 1]
    if codes != [0, 1] or f"port {port} is in use" not in lost[0]:
        failures += 1
        print(f"FAIL: round {i}: exits {[rc for rc, _ in results]}, wanted one 0 and one 1 "
              f"with 'port {port} is in use'; stderr: {[e[-300:] for _, e in results]}")
print(f"ppool-fwd port race: {rounds - failures}/{rounds} rounds with exactly one forwarder")
sys.exit(1 if failures else 0)
PY
