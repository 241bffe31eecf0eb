#!/usr/bin/env bash
# ppool-fwd as an ordinary user with Debian's default locked-memory limit
# (ulimit -l 8192): io_uring charges every registered page to it. The
# forwarder either fits its buffers to the limit and runs (valid JSON, every
# page home) or says once, in a few lines, that locked memory is short and
# exits non-zero. Never a signal, never a flood of warnings.
#   tests/fwd/memlock_user.sh PATH/TO/ppool-fwd
# As root (CI), the run drops to nobody: root's CAP_IPC_LOCK would bypass the
# limit. Exit 77 (skipped) when that cannot be done.
set -uo pipefail
fwd=$(realpath "$1")
skip() {
  echo "SKIP: $*"
  exit 77
}

if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
  id nobody >/dev/null 2>&1 || skip "there is no user nobody"
  group=$(id -gn nobody)
  as_user=(setpriv --reuid=nobody --regid="$group" --clear-groups --inh-caps=-all
    --bounding-set=-all)
  "${as_user[@]}" test -x "$fwd" || skip "nobody cannot run $fwd (a directory above it is private)"
else
  caps=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  (((0x$caps >> 14) & 1)) && skip "this user has CAP_IPC_LOCK: the limit does not apply"
  as_user=()
fi

disabled=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)
[ "$disabled" = 0 ] || skip "kernel.io_uring_disabled=$disabled: io_uring is not for ordinary users here"

failures=0
# run NAME EXPECT ARGS...: EXPECT is "run" (must succeed) or "either".
run() {
  local name=$1 expect=$2
  shift 2
  local out err rc
  out=$(mktemp) err=$(mktemp)
  timeout 60 "${as_user[@]}" bash -c 'ulimit -l 8192 && exec "$@"' ppool-fwd "$fwd" "$@" \
    >"$out" 2>"$err"
  rc=$?
  local lines
  lines=$(wc -l <"$err")
  if [ "$rc" -ge 124 ]; then
    echo "FAIL: $name: exit $rc (a signal or a hang); stderr ($lines lines):"
    head -n 20 "$err"
    failures=$((failures + 1))
  elif [ "$rc" = 0 ]; then
    if ! python3 - "$out" <<'PY'; then
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert r["packets_forwarded"] > 0, r
for p in r["pools"]:
    assert p["inflight"] == 0, p
print("  ", {k: v for k, v in r.items() if k != "pools"})
PY
      echo "FAIL: $name: exit 0 without a valid JSON summary"
      failures=$((failures + 1))
    elif [ "$lines" -gt 40 ]; then
      echo "FAIL: $name: $lines lines on stderr (a flood):"
      head -n 20 "$err"
      failures=$((failures + 1))
    else
      echo "ok: $name ran within the limit:"
      grep -v '^\[' "$err" | sed 's/^/   /'
    fi
  elif [ "$expect" = run ]; then
    echo "FAIL: $name: exit $rc, stderr ($lines lines):"
    head -n 20 "$err"
    failures=$((failures + 1))
  elif [ "$lines" -ge 5 ] || ! grep -q "locked memory" "$err"; then
    echo "FAIL: $name: exit $rc; wanted fewer than 5 lines naming locked memory, got $lines:"
    head -n 20 "$err"
    failures=$((failures + 1))
  else
    echo "ok: $name refused: $(cat "$err")"
  fi
  rm -f "$out" "$err"
}

# io_uring gives locked memory back asynchronously after a ring is closed;
# a pause between runs keeps one run's rings from counting against the next.
run "selftest, 2 queues" run --selftest --seconds 1
sleep 1
run "selftest, fragments" either --selftest --seconds 1 --frags --port 9011
sleep 1
run "selftest, 16 queues" either --selftest --seconds 1 --queues 16 --port 9012
[ "$failures" = 0 ] && echo "ppool-fwd under ulimit -l 8192: ok"
exit "$failures"
