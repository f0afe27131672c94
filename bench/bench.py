#!/usr/bin/env python3
"""relay's benchmark driver (make bench; bench/run.sh calls it).

Starts the mock upstream, relayd (SQLite, auth, billing and logging on, as in production) and
nginx (one worker, a plain keep-alive reverse proxy) on loopback, then measures each in one
interleaved run, several repeats, and prints medians side by side with the ratios:

  saturation  wrk on a small non-streaming chat completion: req/s, p50/p99, errors, CPU/request
  one conn    wrk -c1: latency added over calling the mock directly
  streams     200 and 2,000 concurrent SSE streams (bench/sse_load.c): streams/s, time to first
              data p50/p99, largest gap between events, failures, CPU per stream, peak RSS
  light       10 concurrent light streams (20 events 50 ms apart): CPU per stream and per event,
              read from the scheduler's nanosecond run time of every thread (schedstat); run
              before the stream sets (steady state), and one round after them (idle connections left)
  hold        10,000 concurrent long-lived streams: failures, RSS
  floor       bench/floor.c, relayd's libraries and worker model without the gateway: every row
              shows relayd/floor, the part of relayd's cost that is relay's own; the light row also
              runs it with one worker (floor-1w) for its split
  wake-ups    context switches of every thread of the proxy per request (/proc/PID/task/*/status)
  writer      the log writer alone (bench/writer_bench.c): billed rows persisted per second
  idle        relayd RSS after warm-up; CPU and wake-ups a second of each proxy left alone after
              warm-up (schedstat ns and context switches over IDLE_S seconds)

BENCH_QUICK=1 runs a few-second version that only proves the harness works (make check uses it).
Nothing here asserts speed: the table shows the figures and the targets; the reader judges.
"""
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

QUICK = os.environ.get("BENCH_QUICK") == "1"
BIN = os.environ.get("RELAY_BIN") or os.path.join(os.getcwd(), os.environ.get("BUILD", "build"), "bin")
HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

DUR = 1 if QUICK else 5
# idle row: after the warm-up every proxy is left alone IDLE_SETTLE_S (relayd's writer trims its
# memory at most 5 s after traffic), then its threads' CPU and context switches are read over IDLE_S
IDLE_SETTLE_S = 2 if QUICK else 6
IDLE_S = 2 if QUICK else 20
REPEATS = 1 if QUICK else 3
# (concurrent streams, streams in all, gap between the 20 events of a stream in ms): 2,000 streams
# with short gaps would measure only that two cores cannot run mock, load generator and proxy at once
STREAM_SETS = [(20, 100, 5)] if QUICK else [(200, 4000, 5), (2000, 10000, 50)]
# Each held stream costs relayd two descriptors (client and upstream). Where the hard limit on open
# files is below what 10,000 streams need (20,000 here), hold as many as the limit allows and say so.
FD_HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
# 10 concurrent light streams (20 events, 50 ms apart: an assistant answering at chat speed): the
# proxy's CPU per stream when it is idle most of the time, where per-event wake-ups and per-event
# work show (issue #26: within 1.3x nginx). A stream lasts 1 s, so LIGHT_TOTAL streams take
# LIGHT_TOTAL / 10 seconds per proxy and repeat.
LIGHT = 10
LIGHT_TOTAL = int(os.environ.get("BENCH_LIGHT_TOTAL") or (20 if QUICK else 200))   # env: a longer quick row
LIGHT_EVENTS = 20
LIGHT_GAP_MS = 50
HOLD_WANTED = 200 if QUICK else 10000
HOLD = min(HOLD_WANTED, (FD_HARD - 64) // 2) if FD_HARD != resource.RLIM_INFINITY else HOLD_WANTED
WRITER_ROWS = 20000 if QUICK else 200000
CHAT = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'
STREAM = ('{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello."}],'
          '"mock":{"chunks":20,"chunk_gap_ms":%d}}')
FLOOR1 = "floor-1w"   # the floor with one worker (the light row's split: the libraries' share, relay's)
LIGHT_BODY = ('{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello."}],'
              '"mock":{"chunks":%d,"chunk_gap_ms":%d}}' % (LIGHT_EVENTS, LIGHT_GAP_MS))
HOLD_BODY = ('{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hold"}],'
             '"mock":{"chunks":600,"chunk_gap_ms":1000}}')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def cpu_ticks(pids):
    t = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])     # utime + stime
        except OSError:
            pass
    return t


def thread_dirs(pids):
    """/proc/PID/task/TID of every thread of pids"""
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            yield f"/proc/{pid}/task/{tid}"


def thread_files(pids, name):
    """the text of /proc/PID/task/TID/NAME for every thread of pids (threads gone meanwhile skipped)"""
    for d in thread_dirs(pids):
        try:
            with open(f"{d}/{name}") as f:
                yield f.read()
        except OSError:
            pass


def ctx_switches(pids):
    """voluntary + involuntary context switches of every thread of pids (a thread woken by another
    to do a request's work shows up here once per request)."""
    return sum(int(line.split()[1]) for text in thread_files(pids, "status") for line in text.splitlines()
               if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")))


def run_ns(pids):
    """CPU time in ns that every thread of pids has run (/proc/PID/task/TID/schedstat, first field):
    nanoseconds where utime+stime counts clock ticks of 10 ms, too coarse for a few light streams."""
    total = 0
    for text in thread_files(pids, "schedstat"):
        try:
            total += int(text.split()[0])
        except (ValueError, IndexError):
            pass
    return total


def run_ns_by_thread(pids):
    """run_ns split by thread name (/proc/PID/task/TID/comm: relayd-worker, relayd-writer, ...;
    threads of one name summed): {name: ns}"""
    out = {}
    for d in thread_dirs(pids):
        try:
            with open(f"{d}/comm") as f:
                name = f.read().strip()
            with open(f"{d}/schedstat") as f:
                out[name] = out.get(name, 0) + int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def idle_rates(targets):
    """every target {name: pids} left alone for the same IDLE_S seconds: {name: {"cpu_us_per_s",
    "wakeups_per_s"}} from its threads' schedstat ns and context switches (counts, not timing)"""
    a = {n: (run_ns(p), ctx_switches(p)) for n, p in targets.items()}
    time.sleep(IDLE_S)
    b = {n: (run_ns(p), ctx_switches(p)) for n, p in targets.items()}
    return {n: {"cpu_us_per_s": (b[n][0] - a[n][0]) / 1e3 / IDLE_S,
                "wakeups_per_s": (b[n][1] - a[n][1]) / IDLE_S} for n in targets}


def rss_kb(pids, peak=False, field=None):
    total = 0
    field = field or ("VmHWM:" if peak else "VmRSS:")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(field):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Procs:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, name, argv, **kw):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
        self.procs.append((name, p))
        return p

    def stop_all(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def parse_wrk(out):
    """wrk --latency output -> dict with rps, p50_ms, p99_ms, errors, requests."""
    def ms(v):
        m = re.match(r"([\d.]+)(us|ms|s)", v)
        x = float(m.group(1))
        return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x
    r = {"errors": 0}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("50%"):
            r["p50_ms"] = ms(line.split()[1])
        elif line.startswith("99%"):
            r["p99_ms"] = ms(line.split()[1])
        elif line.startswith("Requests/sec:"):
            r["rps"] = float(line.split()[1])
        elif "requests in" in line:
            r["requests"] = int(line.split()[0])
        elif line.startswith("Non-2xx"):
            r["errors"] += int(line.split()[-1])
        elif line.startswith("Socket errors:"):
            r["errors"] += sum(int(x) for x in re.findall(r"\d+", line))
    return r


def wrk(url, lua, conns, dur, pids):
    t0, c0 = cpu_ticks(pids), ctx_switches(pids)
    out = subprocess.run(["wrk", "-t1" if conns < 8 else "-t1", f"-c{conns}", f"-d{dur}s", "--latency",
                          "-s", lua, url], capture_output=True, text=True, check=True).stdout
    t1, c1 = cpu_ticks(pids), ctx_switches(pids)
    r = parse_wrk(out)
    if pids and r.get("requests"):
        r["cpu_us_per_req"] = (t1 - t0) / TICK * 1e6 / r["requests"]
        r["ctxsw_per_req"] = (c1 - c0) / r["requests"]
    return r


def sse_load(url, key, streams, total, pids, body, extra=()):
    t0, n0, b0 = cpu_ticks(pids), run_ns(pids), run_ns_by_thread(pids)
    for pid in pids:
        # reset the peak RSS so each run reports its own (writes "5" to clear_refs)
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
    cmd = [os.path.join(BIN, "sse-load"), "--url", url, "--streams", str(streams), "--total", str(total),
           "--body", body, "--json", *extra]
    if key:
        cmd += ["--key", key]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode not in (0, 1):
        raise RuntimeError(f"sse-load failed: {out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    t1, n1 = cpu_ticks(pids), run_ns(pids)
    if pids and r.get("streams"):
        r["cpu_us_per_stream"] = (t1 - t0) / TICK * 1e6 / r["streams"]
        # the same from the scheduler's nanoseconds (threads that exited meanwhile are not in it)
        r["run_us_per_stream"] = (n1 - n0) / 1e3 / r["streams"]
        if r.get("events"):
            r["run_us_per_event"] = (n1 - n0) / 1e3 / r["events"]
        r["run_us_by_thread"] = {k: (v - b0.get(k, 0)) / 1e3 / r["streams"]
                                 for k, v in run_ns_by_thread(pids).items()}
        r["peak_rss_mb"] = rss_kb(pids, peak=True) / 1024
    return r


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def light_rounds(targets, repeats, total):
    """make bench's light row and bench/light.py: targets {name: (url, key, pids)} (pids: every
    process of the proxy; a target without pids, the mock direct, is skipped), each warmed up with
    20 streams, then `repeats` rounds of `total` streams (LIGHT concurrent, LIGHT_BODY) on each in
    turn, each going first in turn. A run's CPU is the proxy's own (schedstat ns of its threads, not
    sse-load's or the mock's); each run also gets ctxsw_per_stream and, where the round has an nginx
    (and a floor) run, x_nginx (x_floor): this round's us/stream over theirs, so the spread over
    rounds can be read beside the medians (light_spread). Returns {name: [run, ...]}."""
    targets = {n: t for n, t in targets.items() if t[2]}
    for url, key, pids in targets.values():
        sse_load(url, key, LIGHT, 20, pids, body=LIGHT_BODY)
    res = {n: [] for n in targets}
    order = list(targets.items())
    for i in range(repeats):
        this = {}
        for n, (url, key, pids) in order[i % len(order):] + order[:i % len(order)]:
            c0 = ctx_switches(pids)
            r = sse_load(url, key, LIGHT, total, pids, body=LIGHT_BODY)
            if r.get("streams"):
                r["ctxsw_per_stream"] = (ctx_switches(pids) - c0) / r["streams"]
            this[n] = r
            res[n].append(r)
        for n, r in this.items():
            for ref in ("nginx", "floor"):
                a, b = r.get("run_us_per_stream"), this.get(ref, {}).get("run_us_per_stream")
                if a and b:
                    r["x_" + ref] = a / b
    return res


def light_by_thread(runs):
    """{thread name: median us a stream} over runs (run_us_by_thread: relayd-worker, relayd-writer, ...)"""
    names = sorted({k for r in runs for k in r.get("run_us_by_thread", {})})
    return {t: med([r.get("run_us_by_thread", {}).get(t) for r in runs]) for t in names}


def light_spread(runs, key):
    """(median, lowest, highest) of key over runs, None where no run has it"""
    v = [r[key] for r in runs if r.get(key) is not None]
    return (statistics.median(v), min(v), max(v)) if v else None


def compare_in_turns(targets, repeats, prefix):
    """bench/keypool.py's and bench/routing.py's comparison: targets {name: (url, lua, pids)}, each
    warmed up, then wrk c64 on each in turn for `repeats` rounds of DUR seconds, each going first in
    turn; prints req/s, CPU us/request, p99 and errors (medians) and writes results/PREFIX-*.json."""
    for url, lua, pids in targets.values():
        wrk(url, lua, 16, 1, pids)          # warm-up
    res = {n: [] for n in targets}
    order = list(targets.items())
    for i in range(repeats):
        rot = order[i % len(order):] + order[:i % len(order)]
        for n, (url, lua, pids) in rot:
            res[n].append(wrk(url, lua, 64, DUR, pids))
    out = {}
    print(f"{'relayd, c64, non-streaming chat':34} {'req/s':>10} {'CPU us/req':>11} {'p99 ms':>8} {'errors':>7}")
    for n, runs in res.items():
        m = {k: med([r.get(k, 0) for r in runs]) for k in ("rps", "cpu_us_per_req", "p99_ms", "errors")}
        out[n] = {"median": m, "runs": runs}
        print(f"{n:34} {m['rps']:10.0f} {m['cpu_us_per_req']:11.1f} {m['p99_ms']:8.2f} {m['errors']:7.0f}")
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, time.strftime(prefix + "-%Y%m%d-%H%M%S.json"))
    with open(path, "w") as f:
        json.dump({"dur_s": DUR, "repeats": repeats, "results": out}, f, indent=1)
    print(f"written: {path}")


def main():
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"bench: {tool} is missing (make bench installs it as root: apt-get install {tool})")
    os.makedirs(RESULTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="relay-bench-")
    procs = Procs(tmp)
    try:
        return run(tmp, procs)
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


def start_relayd(procs, tmp, name, mock_port, binpath, setup=()):
    """A relayd of binpath with its own SQLite database in tmp, set up as the bench's: one user, one
    unlimited token, one OpenAI channel on the mock, then each gwctl argument list of setup; auth,
    billing and logs on. Returns (port, key, process). bench/light.py and bench/routing.py use it."""
    env = dict(os.environ)
    db = f"sqlite:{tmp}/{name}.db"
    sock = f"{tmp}/{name}.sock"
    env.update(RELAY_DB=db, RELAY_SOCKET=sock, RELAY_MASTER_KEY_FILE=f"{tmp}/{name}.key")
    gw = os.path.join(binpath, "gwctl")

    def run(*a, **kw):
        return subprocess.run([gw, *a], env=env, check=True, text=True, **kw)
    run("init", stdout=subprocess.DEVNULL)
    run("user", "add", "bench", "--quota", "900000000000000", stdout=subprocess.DEVNULL)
    run("channel", "add", "--name", "mock", "--type", "openai", "--base-url", f"http://127.0.0.1:{mock_port}",
        "--models", "gpt-4o-mini", input="sk-bench\n", stdout=subprocess.DEVNULL)
    for args in setup:
        run(*args, stdout=subprocess.DEVNULL)
    key = run("token", "create", "--user", "bench", "--name", "bench", "--unlimited", capture_output=True).stdout.strip()
    port = free_port()
    p = procs.start(name, [os.path.join(binpath, "relayd"), "--listen", f"127.0.0.1:{port}", "--db", db,
                           "--admin-socket", sock, "--log-level", "warn", "--metrics-listen", "off"], env=env)
    wait_port(port)
    return port, key, p


def start_floor(procs, name, mock_port, binpath=None, extra=()):
    """bench/floor.c (binpath's, the bench's build by default) on a free port relaying to the mock,
    with floor options extra (--workers N, --pool BYTES). Returns (port, process). bench/light.py and
    bench/hold.py use it."""
    port = free_port()
    p = procs.start(name, [os.path.join(binpath or BIN, "floor"), "--listen", f"127.0.0.1:{port}",
                           "--upstream", f"http://127.0.0.1:{mock_port}", *extra])
    wait_port(port)
    return port, p


def start_nginx(procs, tmp, mock_port):
    """nginx as the bench's reference: one worker, an upstream keep-alive pool to the mock, no
    buffering, no access log (bench/light.py uses the same). Returns (port, process)."""
    nginx_port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 1;
worker_rlimit_nofile {FD_HARD if FD_HARD != resource.RLIM_INFINITY else 65536};
daemon off;
error_log {tmp}/nginx-error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 30000; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  upstream mock {{ server 127.0.0.1:{mock_port}; keepalive 512; }}
  server {{
    listen 127.0.0.1:{nginx_port} reuseport backlog=4096;
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
""")
    nginx = procs.start("nginx", [shutil.which("nginx") or "/usr/sbin/nginx", "-p", tmp, "-c", conf])
    wait_port(nginx_port)
    time.sleep(0.2)
    return nginx_port, nginx


def run(tmp, procs):
    env = dict(os.environ)
    mock_port = free_port()
    mock = procs.start("mock", [os.path.join(BIN, "mock-upstream"), "--port", str(mock_port)])
    wait_port(mock_port)

    # relayd with a real database: one user, one token, one channel; billing and logging on
    db = f"sqlite:{tmp}/relay.db"
    sock = f"{tmp}/admin.sock"
    env.update(RELAY_DB=db, RELAY_SOCKET=sock)
    gw = os.path.join(BIN, "gwctl")
    subprocess.run([gw, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([gw, "user", "add", "bench", "--quota", "900000000000000"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([gw, "channel", "add", "--name", "mock", "--type", "openai", "--base-url",
                    f"http://127.0.0.1:{mock_port}", "--models", "gpt-4o-mini"], env=env, check=True,
                   input="sk-mock\n", text=True, stdout=subprocess.DEVNULL)
    key = subprocess.run([gw, "token", "create", "--user", "bench", "--name", "bench", "--unlimited"],
                         env=env, check=True, capture_output=True, text=True).stdout.strip()
    relay_port = free_port()
    relayd = procs.start("relayd", [os.path.join(BIN, "relayd"), "--listen", f"127.0.0.1:{relay_port}",
                                    "--db", db, "--admin-socket", sock, "--log-level", "warn",
                                    # not 8079: another relayd on the machine must not stop the bench
                                    "--metrics-listen", "off"], env=env)
    wait_port(relay_port)

    floor_port, floor = start_floor(procs, "floor", mock_port)
    # the floor with one worker, in the light row only: relayd keeps a light load on one worker
    # (relayd/gate.h), so this is the libraries' own cost of that row and relayd / it relay's share
    f1_port, floor1 = start_floor(procs, FLOOR1, mock_port, extra=("--workers", "1"))

    nginx_port, nginx = start_nginx(procs, tmp, mock_port)
    nginx_pids = [nginx.pid] + children(nginx.pid)

    lua = os.path.join(tmp, "chat.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\n'
                f"wrk.body = '{CHAT}'\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Authorization"] = "Bearer {key}"\n')
    path = "/v1/chat/completions"
    targets = {
        "direct": (f"http://127.0.0.1:{mock_port}{path}", []),
        "nginx": (f"http://127.0.0.1:{nginx_port}{path}", nginx_pids),
        "floor": (f"http://127.0.0.1:{floor_port}{path}", [floor.pid]),
        "relayd": (f"http://127.0.0.1:{relay_port}{path}", [relayd.pid]),
    }

    # warm-up, then idle RSS
    for name, (url, pids) in targets.items():
        wrk(url, lua, 16, 1, pids)
    time.sleep(0.5)
    idle_rss = rss_kb([relayd.pid]) / 1024
    idle_anon = rss_kb([relayd.pid], field="RssAnon:") / 1024
    nginx_idle = (rss_kb(nginx_pids) / 1024, rss_kb(nginx_pids, field="RssAnon:") / 1024)
    floor_idle = (rss_kb([floor.pid]) / 1024, rss_kb([floor.pid], field="RssAnon:") / 1024)
    # and what each costs a second doing nothing (the same window for all three)
    time.sleep(IDLE_SETTLE_S)
    idle = idle_rates({n: pids for n, (url, pids) in targets.items() if pids})

    res = {n: {"sat": [], "one": []} for n in targets}
    for _ in range(REPEATS):
        for name, (url, pids) in targets.items():
            res[name]["sat"].append(wrk(url, lua, 64, DUR, pids))
        for name, (url, pids) in targets.items():
            res[name]["one"].append(wrk(url, lua, 1, DUR, pids))

    # the light row before the stream sets: on proxies in their steady state (warm from the rows
    # above, holding the few idle upstream connections c64 leaves). After the 2,000-stream set each
    # libcurl proxy keeps ~2,000 idle upstream connections for up to 118 s (CURLOPT_MAXAGE_CONN's
    # default) and libcurl polls every one of them once a second (lib/url.c prune_dead_connections):
    # that doubled the floor's light row (2026-12-07 session 9, second wave, bench/README.md). It is
    # measured on its own, one round, in the row "after N streams".
    light_targets = {n: (url, key, pids) for n, (url, pids) in targets.items()}
    light_targets[FLOOR1] = (f"http://127.0.0.1:{f1_port}{path}", key, [floor1.pid])
    light = light_rounds(light_targets, REPEATS, LIGHT_TOTAL)

    streams = {}
    for n, total, gap in STREAM_SETS:
        streams[n] = {name: [] for name in targets}
        for _ in range(REPEATS):
            for name, (url, pids) in targets.items():
                streams[n][name].append(sse_load(url, key, n, total, pids, body=STREAM % gap))

    light_after = light_rounds({n: (url, key, pids) for n, (url, pids) in targets.items()}, 1, LIGHT_TOTAL)

    # the floor as relayd holds a stream: a held stream's connection is on relayd's small pool
    # (gate.h GATE_SMALL_POOL, 4 KiB: the first request was a stream with a small header)
    fh_port, fh = start_floor(procs, "floor-hold", mock_port, extra=("--pool", "2560"))
    hold_targets = dict(targets, floor=(f"http://127.0.0.1:{fh_port}{path}", [fh.pid]))
    hold = {}
    for name, (url, pids) in hold_targets.items():
        if name == "direct":
            continue
        hold[name] = sse_load(url, key, HOLD, HOLD, pids, body=HOLD_BODY,
                              extra=("--hold", "--duration-s", "2" if QUICK else "5"))
        hold[name]["rss_mb"] = rss_kb(pids) / 1024 if pids else None
        hold[name]["peak_rss_mb"] = rss_kb(pids, peak=True) / 1024

    # provisioning at scale: 10,000 keys in one gwctl command (its own database, relayd told to reload)
    n_tokens = 1000 if QUICK else 10000
    penv = dict(env, RELAY_DB=f"sqlite:{tmp}/provision.db")
    penv.pop("RELAY_SOCKET", None)
    subprocess.run([gw, "init"], env=penv, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([gw, "user", "add", "many", "--quota", "1000"], env=penv, check=True, stdout=subprocess.DEVNULL)
    t0 = time.time()
    keys = subprocess.run([gw, "token", "create", "--user", "many", "--name", "k", "--quota", "1000",
                           "--count", str(n_tokens)], env=penv, check=True, capture_output=True, text=True).stdout
    provision = {"tokens": n_tokens, "seconds": time.time() - t0, "printed": len(keys.split())}

    wout = subprocess.run([os.path.join(BIN, "writer-bench"), "--db", f"sqlite:{tmp}/writer.db", "--rows",
                           str(WRITER_ROWS), "--json"], capture_output=True, text=True, timeout=600)
    writer = json.loads(wout.stdout.strip().splitlines()[-1]) if wout.returncode == 0 else {"error": wout.stderr}

    # relayd still healthy and every billed row persisted
    summary = report(res, streams, light, light_after, hold, writer, idle_rss, idle_anon, nginx_idle, floor_idle, provision,
                     idle)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = {"quick": QUICK, "when": stamp, "sat": res, "streams": streams, "light": light,
           "light_after_streams": light_after, "hold": hold, "writer": writer,
           "idle_rss_mb": idle_rss, "idle_anon_mb": idle_anon, "idle": idle, "provision": provision,
           "summary": summary}
    with open(os.path.join(RESULTS, f"bench-{stamp}{'-quick' if QUICK else ''}.json"), "w") as f:
        json.dump(out, f, indent=1)
    if MISSING or not writer.get("verified"):
        print("bench: not measured: " + ", ".join(MISSING + ([] if writer.get("verified") else ["writer"])),
              file=sys.stderr)
        return 1
    return 0


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


MISSING = []
# rows whose floor figure the report's ratios need (bench.py fails without it)
FLOOR_NEEDED = ("proxy CPU us/request", "one conn p50 ms", "context switches/request (c64)",
                f"{LIGHT} SSE streams: CPU us/stream")


def report(res, streams, light, light_after, hold, writer, idle_rss, idle_anon, nginx_idle, floor_idle, provision,
           idle):
    rows = []

    def ratio(a, b):
        return (a / b) if (a is not None and b) else None

    def row(metric, d, n, r, target="", spec=".1f", f=None):
        if r is None:
            MISSING.append(metric)
        if f is None and metric in FLOOR_NEEDED:
            MISSING.append(metric + " (floor)")
        rows.append((metric, fmt(d, spec), fmt(n, spec), fmt(f, spec), fmt(r, spec), fmt(ratio(r, n), ".2f"),
                     fmt(ratio(r, f), ".2f"), target))

    def added(metric, d, n, f, r, target=""):
        rows.append((metric, "0", fmt(n - d, ".3f"), fmt(f - d, ".3f") if f is not None else "-",
                     fmt(r - d, ".3f"), fmt(ratio(r - d, n - d), ".2f"),
                     fmt(ratio(r - d, f - d) if f is not None else None, ".2f"), target))

    def m(name, kind, key):
        return med([x.get(key) for x in res[name][kind]]) if name in res else None

    def r4(label, kind, key, target="", spec=".1f", direct=True):
        row(label, m("direct", kind, key) if direct else None, m("nginx", kind, key), m("relayd", kind, key),
            target, spec, f=m("floor", kind, key))

    r4("saturation req/s (c64)", "sat", "rps", ">= 0.9x nginx", ".0f")
    r4("saturation p50 ms", "sat", "p50_ms", "", ".3f")
    r4("saturation p99 ms", "sat", "p99_ms", "", ".3f")
    r4("saturation errors", "sat", "errors", "0", ".0f")
    r4("proxy CPU us/request", "sat", "cpu_us_per_req", "<= 1.25x floor", direct=False)
    r4("context switches/request (c64)", "sat", "ctxsw_per_req", "", ".2f", direct=False)
    r4("context switches/request (c1)", "one", "ctxsw_per_req", "", ".2f", direct=False)
    d1, n1, f1, r1 = (m(x, "one", "p50_ms") for x in ("direct", "nginx", "floor", "relayd"))
    r4("one conn p50 ms", "one", "p50_ms", "", ".3f")
    added("one conn added p50 ms", d1, n1, f1, r1, "<= 0.1 ms")
    def four(runs):
        """the median of one key in each target's runs, and a row of the four of them"""
        def get(name, key):
            return med([x.get(key) for x in runs[name]]) if name in runs else None

        def r(label, key, target="", spec=".1f", direct=True):
            row(label, get("direct", key) if direct else None, get("nginx", key), get("relayd", key), target, spec,
                f=get("floor", key))
        return get, r

    for n, _, _ in STREAM_SETS:
        sm, s4 = four(streams[n])
        s4(f"{n} streams: streams/s", "streams_per_s", "", ".0f")
        s4(f"{n} streams: TTFD p50 ms", "ttfd_p50_ms", "", ".3f")
        added(f"{n} streams: added TTFD p50 ms", sm("direct", "ttfd_p50_ms"), sm("nginx", "ttfd_p50_ms"),
              sm("floor", "ttfd_p50_ms"), sm("relayd", "ttfd_p50_ms"), "<= 0.2 ms" if n == 200 else "")
        s4(f"{n} streams: TTFD p99 ms", "ttfd_p99_ms", "", ".3f")
        s4(f"{n} streams: max gap ms", "gap_max_ms", "", ".2f")
        s4(f"{n} streams: failures", "failures", "0", ".0f")
        s4(f"{n} streams: CPU us/stream", "cpu_us_per_stream", "<= 1.3x nginx" if n == 200 else "", direct=False)
        s4(f"{n} streams: peak RSS MB", "peak_rss_mb", "", direct=False)
    lget, l4 = four(light)
    l4(f"{LIGHT} SSE streams: failures", "failures", "0", ".0f", direct=False)   # the mock direct: no light rounds
    l4(f"{LIGHT} SSE streams: CPU us/stream", "run_us_per_stream", "<= 1.3x nginx", direct=False)
    l4(f"{LIGHT} SSE streams: CPU us/event", "run_us_per_event", "", ".2f", direct=False)

    def spread(name, key):
        s = light_spread(light.get(name, []), key)
        return f"{s[0]:.2f} ({s[1]:.2f}-{s[2]:.2f})" if s else "-"
    rows.append((f"{LIGHT} SSE streams: x nginx by round", "", "", spread("floor", "x_nginx"),
                 spread("relayd", "x_nginx"), "", "", "median (lowest-highest) of each round's ratio"))
    # the split of the light row: the floor column is the floor with ONE worker (the libraries' own
    # cost of a light load held by one worker, as relayd holds it); relayd's whole cost, its workers'
    # (relay's share above the libraries: relayd/floor) and its log writer's (the durable commit)
    by_thread = light_by_thread(light.get("relayd", []))
    f1 = lget(FLOOR1, "run_us_per_stream")
    n_l = lget("nginx", "run_us_per_stream")
    for label, r, f in (("relayd", lget("relayd", "run_us_per_stream"), f1),
                        ("relayd's workers", by_thread.get("relayd-worker"), f1),
                        ("relayd's log writer", by_thread.get("relayd-writer"), None)):
        row(f"{LIGHT} SSE streams, the floor with one worker: {label} us/stream", None, n_l, r,
            "informative: the split of the row above", f=f)
    _, la4 = four(light_after)
    la4(f"{LIGHT} SSE streams after {STREAM_SETS[-1][0]}: CPU us/stream", "run_us_per_stream",
        "one round, idle upstream connections left", direct=False)
    hn, hf, hr = hold.get("nginx", {}), hold.get("floor", {}), hold.get("relayd", {})
    row(f"{HOLD} held streams: open", None, hn.get("open"), hr.get("open"), f"{HOLD}", ".0f", f=hf.get("open"))
    row(f"{HOLD} held streams: failures", None, hn.get("failures"), hr.get("failures"), "0", ".0f",
        f=hf.get("failures"))
    row(f"{HOLD} held streams: RSS MB", None, hn.get("peak_rss_mb"), hr.get("peak_rss_mb"), "<= 256 MB",
        f=hf.get("peak_rss_mb"))
    row("idle RSS MB (after warm-up)", None, nginx_idle[0], idle_rss, "<= nginx", f=floor_idle[0])
    row("idle private (anon) RSS MB", None, nginx_idle[1], idle_anon, "RSS less shared library pages",
        f=floor_idle[1])
    for label, key, spec in (("idle: CPU us a second", "cpu_us_per_s", ".1f"), ("idle: wake-ups a second", "wakeups_per_s", ".2f")):
        row(label, None, idle.get("nginx", {}).get(key), idle.get("relayd", {}).get(key),
            f"informative; {IDLE_S} s left alone after warm-up", spec, f=idle.get("floor", {}).get(key))
    rows.append(("writer: billed rows/s persisted", "", "", "", fmt(writer.get("rows_per_s"), ".0f"), "", "",
                 ">= 20000, none lost: " + str(writer.get("verified"))))
    rows.append((f"gwctl token create --count {provision['tokens']}: s", "", "", "", fmt(provision["seconds"], ".2f"), "", "",
                 f"a few seconds; keys printed: {provision['printed']}"))
    if provision["printed"] != provision["tokens"]:
        MISSING.append("token provisioning")

    head = ("metric", "direct", "nginx", "floor", "relayd", "relayd/nginx", "relayd/floor", "target")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    if HOLD < HOLD_WANTED:
        lines.append(f"note: the hard limit on open files is {FD_HARD}; a proxy needs two per stream, so "
                     f"{HOLD} streams were held instead of {HOLD_WANTED}")
    text = "\n".join(lines)
    print(("relay bench (QUICK: harness check only, figures meaningless)\n" if QUICK else "relay bench\n") + text)
    return text


if __name__ == "__main__":
    sys.exit(main())
