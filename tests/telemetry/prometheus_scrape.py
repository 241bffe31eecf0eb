#!/usr/bin/env python3
"""A real Prometheus server scrapes ppool: ppool-fwd's selftest runs with its
telemetry endpoint, `ppool-stat --listen` serves it at /metrics, Debian's
`prometheus` scrapes that every second on loopback, and its HTTP API must
show ppool_alloc_fast_total of a forwarder pool rising between two queries
(two scrapes at least). On the way: `promtool check metrics` accepts a
/metrics body, other paths are 404, and clients that send garbage, send too
much, or connect and hold their connection open (more of them than the
server keeps) do not keep a correct scrape out. At the end every program
stops on its signal (ppool-stat and ppool-fwd on SIGINT) and nothing is
left running or listening.
Every wait is bounded and polls for its condition; no sleep is an assertion.
Skips (exit 77) only where Debian's prometheus package is not installed
(scripts/install-deps.sh installs it for CI).
  tests/telemetry/prometheus_scrape.py PPOOL-FWD PPOOL-STAT STATS
"""
import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

FWD, STAT, STATS = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
PROMETHEUS, PROMTOOL = "/usr/bin/prometheus", "/usr/bin/promtool"
WAIT_S = 60  # the bound on every wait: far beyond a 1 s scrape interval

if not (os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)):
    print("SKIP: no /usr/bin/prometheus or /usr/bin/promtool (Debian's prometheus package;"
          " scripts/install-deps.sh installs it)")
    sys.exit(77)

procs = []


@atexit.register
def kill_leftovers():
    # Whatever way the test ends (a failed check, an exception), nothing
    # it started outlives it.
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def start(args, **kw):
    # SIGINT as the default: ctest or a shell may have started us with it
    # ignored, and an ignored signal stays ignored across exec.
    p = subprocess.Popen(args, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                         **kw)
    procs.append(p)
    return p


diagnostics = []  # called on a failure, each adding what it knows


def fail(message):
    print("FAIL:", message)
    for d in diagnostics:
        try:
            print(d())
        except Exception as e:  # a diagnostic must not hide the failure
            print("(diagnostic failed:", e, ")")
    sys.exit(1)


def wait_for(what, condition, seconds=WAIT_S):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value is not None:
            return value
        time.sleep(0.1)
    fail(f"{what}: not within {seconds} s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=10):
    """The status and body of GET path; (None, error) when no reply."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (OSError, urllib.error.URLError) as e:
        return None, str(e)


def raw_request(port, data):
    """Sends data on a new connection; the reply's status line ("" when none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(data)
        reply = b""
        try:
            while chunk := s.recv(4096):
                reply += chunk
        except ConnectionResetError:
            pass  # closed with our excess unread: the reply came first, or not at all
        return reply.split(b"\r\n", 1)[0].decode(errors="replace")


with tempfile.TemporaryDirectory() as d:
    sock = f"{d}/ppool-fwd-scrape.sock"
    fwd = start([FWD, "--selftest", "--seconds", "300", "--port", "9330", "--telemetry", sock],
                stdout=open(f"{d}/fwd.json", "w"), stderr=open(f"{d}/fwd.err", "w"))
    wait_for("ppool-fwd's endpoint", lambda: True if os.path.exists(sock) else
             fail("ppool-fwd exited: " + open(f"{d}/fwd.err").read()) if fwd.poll() is not None
             else None)

    # ppool-stat on a port of its choosing, which it says on stderr.
    stat = start([STAT, "--socket", sock, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE,
                 text=True)
    ready, _, _ = select.select([stat.stderr], [], [], WAIT_S)
    line = stat.stderr.readline() if ready else ""
    prefix = "ppool-stat: serving http://127.0.0.1:"
    if not line.startswith(prefix):
        fail(f"ppool-stat --listen said {line!r}")
    stat_port = int(line[len(prefix):].split("/")[0])

    # Hostile clients first, held open through the whole run: more idle
    # connections than the server keeps (it pushes out the oldest), one
    # with half a request.
    idle = [socket.create_connection(("127.0.0.1", stat_port)) for _ in range(40)]
    half = socket.create_connection(("127.0.0.1", stat_port))
    half.sendall(b"GET /metr")
    status = raw_request(stat_port, b"garbage\r\n\r\n")
    if not status.startswith("HTTP/1.1 400"):
        fail(f"garbage got {status!r}, not a 400")
    status = raw_request(stat_port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000)
    if not status.startswith("HTTP/1.1 400"):
        fail(f"a 20 kB request got {status!r}, not a 400")
    code, body = http_get(stat_port, "/other")
    if code != 404:
        fail(f"/other got {code}: {body}")

    # A correct scrape, while all those are held; promtool's opinion of it.
    code, body = http_get(stat_port, "/metrics")
    if code != 200:
        fail(f"/metrics got {code}: {body}")
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=body, text=True,
                           capture_output=True)
    if check.returncode != 0:
        fail(f"promtool check metrics: {check.stdout}{check.stderr}\n{body}")
    if f'ppool_stats_enabled{{pid="{fwd.pid}"}} {int(STATS)}' not in body:
        fail(f"no ppool_stats_enabled of pid {fwd.pid} in:\n{body}")

    # The server, scraping ppool-stat every second. Its port is found free
    # and then given to it, so another process may take it in between: try
    # again on another (the server exits when it cannot listen).
    with open(f"{d}/prometheus.yml", "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: ppool\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{stat_port}']\n")
    for attempt in range(5):
        prom_port = free_port()
        prom = start([PROMETHEUS, f"--config.file={d}/prometheus.yml",
                      f"--storage.tsdb.path={d}/tsdb{attempt}",
                      f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                     stdout=subprocess.DEVNULL, stderr=open(f"{d}/prometheus.err", "w"))
        up = wait_for("the Prometheus server's readiness", lambda: (
            "exited" if prom.poll() is not None else
            "ready" if http_get(prom_port, "/-/ready", timeout=2)[0] == 200 else None))
        if up == "ready":
            break
    else:
        fail("the Prometheus server did not start: " + open(f"{d}/prometheus.err").read())

    def targets():
        return "targets: " + http_get(prom_port, "/api/v1/targets")[1][:2000]

    def direct():
        lines = [l for l in http_get(stat_port, "/metrics")[1].splitlines()
                 if l.startswith("ppool_alloc_fast_total")]
        return "ppool-stat's /metrics now: " + " | ".join(lines)

    diagnostics.extend([targets, direct])

    def query(expr):
        code, body = http_get(prom_port, "/api/v1/query?query=" + urllib.parse.quote(expr))
        if code != 200:
            return None
        return json.loads(body)["data"]["result"]

    # Every forwarder pool's counter, by name. Which queue a flow lands on
    # is the kernel's SO_REUSEPORT hash of its source port, so one queue
    # may see no traffic in a run: a rise of any pool's counter is asked.
    def fast():
        r = query('ppool_alloc_fast_total{job="ppool",name=~"fwd rxq[0-9]+"}')
        return {x["metric"]["name"]: float(x["value"][1]) for x in r} if r else None

    if STATS:
        first = wait_for("a scrape with ppool_alloc_fast_total of the forwarder's pools", fast)
        if len(first) != 2:
            fail(f"not the forwarder's two pools: {first}")

        def rose():
            now = fast() or {}
            up = {n: (first[n], v) for n, v in now.items() if n in first and v > first[n]}
            return up or None

        risen = wait_for("ppool_alloc_fast_total rising in a later scrape", rose)
        for name, (a, b) in sorted(risen.items()):
            print(f'ppool_alloc_fast_total{{name="{name}"}}: {a:.0f} then {b:.0f}')
    else:
        r = wait_for("a scrape of ppool_stats_enabled",
                     lambda: query('ppool_stats_enabled{job="ppool"}') or None)
        if float(r[0]["value"][1]) != 0:
            fail(f"ppool_stats_enabled is not 0 in a build without statistics: {r}")
        print("statistics compiled out: ppool_stats_enabled 0 scraped")
    # Scrapes succeed: a single one may time out on a loaded machine (the
    # timeout is the 1 s interval), so this waits for one that did not.
    wait_for("up 1 for the ppool target", lambda: (
        True if (r := query('up{job="ppool"}')) and r[0]["value"][1] == "1" else None))

    for s in idle + [half]:
        s.close()

    # Stop everything, each on its signal, and check each went.
    prom.send_signal(signal.SIGTERM)
    stat.send_signal(signal.SIGINT)
    fwd.send_signal(signal.SIGINT)
    codes = {}
    for name, p in (("prometheus", prom), ("ppool-stat", stat), ("ppool-fwd", fwd)):
        try:
            codes[name] = p.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            fail(f"{name} did not stop on its signal")
    if codes["prometheus"] != 0 or codes["ppool-stat"] != 0 or codes["ppool-fwd"] != 130:
        fail(f"exit statuses {codes} (want prometheus 0, ppool-stat 0, ppool-fwd 130): "
             + stat.stderr.read() + open(f"{d}/fwd.err").read())
    summary = json.loads(open(f"{d}/fwd.json").read().strip().splitlines()[-1])
    if not all(p["inflight"] == 0 for p in summary["pools"]):
        fail(f"ppool-fwd's pools not empty at exit: {summary}")
    for port in (stat_port, prom_port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            fail(f"something still listens on 127.0.0.1:{port}")
        except ConnectionRefusedError:
            pass
    for p in procs:
        try:
            os.kill(p.pid, 0)
            fail(f"pid {p.pid} ({p.args[0]}) still exists")
        except ProcessLookupError:
            pass
    print("Prometheus scraped ppool-stat --listen; hostile clients kept no scrape out;",
          "promtool accepts /metrics; everything stopped")
