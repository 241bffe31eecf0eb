#!/usr/bin/env bash
# ppool-stat against a real process (stat_target, its endpoint started by
# PPOOL_TELEMETRY): the JSON's shape and counters that move between two
# reads, the table, discovery through /proc/net/unix, the Prometheus text,
# the holder report, --watch, names with terminal escapes shown escaped (and
# exact in --json), and a one-line message with exit status 1 when the
# process is missing or goes away mid-read, 2 on bad arguments. STATS is the
# build's PPOOL_STATS (1 or 0): with 0 every output must say the counters
# are compiled out instead of showing zeros.
#   tests/telemetry/stat.sh PPOOL_STAT STAT_TARGET STATS
set -uo pipefail
stat=$1
target=$2
stats=${3:?STATS: the build PPOOL_STATS, 1 or 0}
dir=$(mktemp -d /tmp/ppool-stat-test.XXXXXX)
sock=$dir/ppool-stat-test.sock
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

PPOOL_TELEMETRY=$sock "$target" 60 >"$dir/target.out" 2>"$dir/target.err" &
pid=$!
for _ in $(seq 100); do
  grep -q '^ready' "$dir/target.out" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^ready' "$dir/target.out"; then
  echo "FAIL: stat_target did not start: $(cat "$dir/target.err")"
  exit 1
fi
read -r _ id0 id1 id2 <"$dir/target.out"

# run NAME EXPECTED_RC ARGS...: ppool-stat's stdout in $dir/NAME.out, stderr
# in $dir/NAME.err; a failure when it exits otherwise.
run() {
  local name=$1 want=$2
  shift 2
  timeout 30 "$stat" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  local rc=$?
  [ "$rc" = "$want" ] ||
    fail "ppool-stat $* exited $rc, not $want; stderr: $(head -c 300 "$dir/$name.err")"
}

# --json twice: the shape, and counters moving between the reads.
run json1 0 --socket "$sock" --json
sleep 0.3
run json2 0 --socket "$sock" --json
python3 - "$dir/json1.out" "$dir/json2.out" "$pid" "$id0" "$id1" "$id2" "$stats" <<'PY' || fail "the --json output"
import json, sys
a, b = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:3])
pid, ids = int(sys.argv[3]), {int(sys.argv[4]), int(sys.argv[5])}
evil_id, stats = int(sys.argv[6]), sys.argv[7] == "1"
counters = ["alloc_fast", "alloc_slow", "alloc_slow_high_order", "alloc_empty", "alloc_refill",
            "alloc_waive", "recycle_cached", "recycle_cache_full", "recycle_ring",
            "recycle_ring_full", "recycle_released_refcnt"]
fields = ["id", "name", "queue", "nid", "order", "inflight", "inflight_mem", "detach_time",
          "dma_device", "stats"]
bad = []
for j in (a, b):
    if list(j) != ["pid", "pools"]: bad.append(f"top-level keys {list(j)}")
    if j["pid"] != pid: bad.append(f"pid {j['pid']}, not {pid}")
    mine = {p["id"]: p for p in j["pools"] if p["id"] in ids}
    if set(mine) != ids: bad.append(f"pools {sorted(mine)}, not {sorted(ids)}")
    for p in mine.values():
        if list(p) != fields: bad.append(f"pool fields {list(p)}")
        if not isinstance(p["name"], str) or not p["name"].startswith("stat rxq"):
            bad.append(f"name {p['name']!r}")
        if p["inflight_mem"] != p["inflight"] * 4096: bad.append("inflight_mem != inflight pages")
        if not stats:
            if p["stats"] != "compiled out": bad.append(f"stats {p['stats']!r}, not 'compiled out'")
            continue
        if list(p["stats"]) != counters: bad.append(f"counters {list(p['stats'])}")
        if not all(isinstance(v, int) and v >= 0 for v in p["stats"].values()):
            bad.append("counters must be whole numbers")
    evil = [p["name"] for p in j["pools"] if p["id"] == evil_id]
    if evil != ["evil\x1b[2J\nname"]: bad.append(f"the escaped name comes back as {evil!r}")
pa = {p["id"]: p for p in a["pools"]}
pb = {p["id"]: p for p in b["pools"]}
for i in (ids if stats else ()):
    before, after = pa[i]["stats"], pb[i]["stats"]
    if any(after[c] < before[c] for c in counters): bad.append(f"pool {i}: a counter went back")
    if not after["recycle_ring"] > before["recycle_ring"]:
        bad.append(f"pool {i}: recycle_ring did not move ({before['recycle_ring']})")
for x in bad: print("  ", x)
sys.exit(1 if bad else 0)
PY

# The table, with --socket and found through /proc/net/unix.
run table 0 --socket "$sock"
grep -q "stat rxq0" "$dir/table.out" || fail "the table has no 'stat rxq0': $(cat "$dir/table.out")"
grep -q "^pid $pid " "$dir/table.out" || fail "the table has no 'pid $pid' header"
# A name with terminal escapes: shown escaped, on its row, no control byte.
grep -qF 'evil\x1b[2J\nname' "$dir/table.out" || fail "the table has no escaped name: $(cat -v "$dir/table.out")"
LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' <"$dir/table.out") && fail "a control character in the table: $(cat -v "$dir/table.out")"
if [ "$stats" = 0 ]; then
  [ "$(grep -c "statistics compiled out" "$dir/table.out")" -ge 3 ] ||
    fail "the table does not say the statistics are compiled out: $(cat "$dir/table.out")"
fi
run found 0
grep -q "^pid $pid  $sock" "$dir/found.out" || fail "discovery did not find $sock: $(cat "$dir/found.out")"
run found_json 0 --json
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert isinstance(j, list) and any(p['pid']==$pid for p in j)" \
  "$dir/found_json.out" || fail "discovery --json is not an array with pid $pid"

# The Prometheus text, and promtool's opinion of it where it is installed.
run prom 0 --socket "$sock" --prometheus
if [ "$stats" = 1 ]; then
  grep -q "^ppool_recycle_ring_total{pool=\"$id0\",name=\"stat rxq0\",queue=\"0\"} [0-9]" "$dir/prom.out" ||
    fail "--prometheus has no recycle_ring sample for pool $id0"
else
  grep -q "^ppool_recycle_ring_total" "$dir/prom.out" && fail "--prometheus shows compiled-out counters"
fi
grep -q "^ppool_stats_enabled $stats\$" "$dir/prom.out" || fail "--prometheus has no ppool_stats_enabled $stats"
if [ -x /usr/bin/promtool ]; then
  /usr/bin/promtool check metrics <"$dir/prom.out" >"$dir/promtool.out" 2>&1 ||
    fail "promtool check metrics: $(cat "$dir/promtool.out")"
fi

# Holders: 3 pages of pool id0 held by holder 9, "stat holder".
run holders 0 --socket "$sock" --holders "$id0"
grep -Eq "^ +9  stat holder +3 " "$dir/holders.out" || fail "--holders: $(cat "$dir/holders.out")"
grep -qF 'evil\x1b]0;title\x07holder' "$dir/holders.out" || fail "--holders: no escaped name: $(cat -v "$dir/holders.out")"
LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' <"$dir/holders.out") && fail "a control character in --holders: $(cat -v "$dir/holders.out")"
run holders_json 0 --socket "$sock" --holders "$id0" --json
python3 -c "
import json,sys; j=json.load(open(sys.argv[1]))
assert j['pool_id']==$id0 and any(h['holder']==9 and h['name']=='stat holder' and h['pages']==3 for h in j['holders']), j
" "$dir/holders_json.out" || fail "--holders --json: $(cat "$dir/holders_json.out")"
run no_pool 1 --socket "$sock" --holders 99999
grep -q "no pool with id 99999" "$dir/no_pool.err" || fail "--holders 99999: $(cat "$dir/no_pool.err")"

# --watch: two redraws of rates.
run watch 0 --socket "$sock" --watch 0.2 --count 2
[ "$(grep -c "alloc_fast/s" "$dir/watch.out")" = 2 ] || fail "--watch --count 2: $(cat "$dir/watch.out")"
grep -qF 'evil\x1b[2J\nname' "$dir/watch.out" || fail "--watch has no escaped name: $(cat -v "$dir/watch.out")"
LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' <"$dir/watch.out") && fail "a control character in --watch: $(cat -v "$dir/watch.out")"
if [ "$stats" = 0 ]; then
  grep -q "statistics compiled out" "$dir/watch.out" || fail "--watch shows rates of compiled-out counters"
fi

# Bad arguments: exit 2, a message, nothing on stdout.
for args in "--bogus" "--watch --json" "--count 2" "--holders x" "--prometheus --holders 1" "--watch 0"; do
  # shellcheck disable=SC2086
  run bad 2 $args
  [ -s "$dir/bad.out" ] && fail "ppool-stat $args wrote to stdout"
  [ -s "$dir/bad.err" ] || fail "ppool-stat $args said nothing"
done
run help 0 --help
grep -q "^Usage: ppool-stat" "$dir/help.out" || fail "--help"

# Missing: one line on stderr, exit 1.
run missing 1 --socket /nonexistent/ppool.sock
[ "$(wc -l <"$dir/missing.err")" = 1 ] && grep -q "/nonexistent/ppool.sock" "$dir/missing.err" ||
  fail "--socket /nonexistent: $(cat "$dir/missing.err")"

# The process goes away mid-watch: one line, exit 1, no crash.
timeout 30 "$stat" --socket "$sock" --watch 0.1 --count 300 >"$dir/gone.out" 2>"$dir/gone.err" &
watcher=$!
sleep 0.5
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
wait "$watcher"
rc=$?
[ "$rc" = 1 ] || fail "--watch of a killed process exited $rc: $(cat "$dir/gone.err")"
[ "$(wc -l <"$dir/gone.err")" = 1 ] || fail "--watch of a killed process: $(cat "$dir/gone.err")"

grep -q "Sanitizer" "$dir/target.err" && fail "stat_target: $(cat "$dir/target.err")"

# Its socket file is left behind: nothing answers (ECONNREFUSED).
run stale 1 --socket "$sock"
grep -q "refused" "$dir/stale.err" || fail "a stale socket: $(cat "$dir/stale.err")"

if [ "$failures" = 0 ]; then
  echo "ppool-stat: all checks pass"
  exit 0
fi
exit 1
