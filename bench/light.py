#!/usr/bin/env python3
"""bench/light.py: make bench's light-stream row alone (issue #26), for A/B work on the per-event
path. On one mock upstream: nginx (bench.py's start_nginx), the floor, this build's relayd
(SQLite, auth, billing and logs on, as bench.py sets it up) and, with LIGHT_BASE_BIN=DIR (a bin/
directory of another build), that build's relayd and floor as "relayd-base" / "floor-base"; and
the floor with one worker ("floor-1w": relayd holds a light load on one worker, so relayd / floor-1w
is relay's share of the row, floor-1w / nginx the libraries').
sse-load runs 10 (LIGHT_STREAMS) concurrent light streams (20 events 50 ms apart) on each in turn, LIGHT_REPEATS
rounds (default 3) of LIGHT_TOTAL streams (default make bench's, 200: a round is hundreds of ms of
each proxy's CPU), rotating which goes first (bench.light_rounds, the same rounds as make bench's
row). Per target the medians of: CPU us a stream and an event (the proxy's own threads' schedstat
nanoseconds) and context switches a stream (/proc/PID/task/*/status), the ratios to nginx and the
floor of the medians, and each round's ratio to that round's nginx: median (lowest-highest).
LIGHT_STRACE=1 adds one more pass per target under `strace -f -c` (attached to every process of
the target) and prints system calls a stream by name: counts only, strace slows everything.
LIGHT_BURST=N first has every target serve make bench's stream sets N times (what make bench's
"after" row measures: the idle upstream connections they leave); every run also prints its us a
stream by thread name (relayd-worker, relayd-writer, ...).
Run: BUILD=build python3 bench/light.py. Uses bench.py's helpers."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

REPEATS = int(os.environ.get("LIGHT_REPEATS", "3"))
TOTAL = int(os.environ.get("LIGHT_TOTAL") or bench.LIGHT_TOTAL)
STRACE = os.environ.get("LIGHT_STRACE") == "1"
BASE = os.environ.get("LIGHT_BASE_BIN")
# LIGHT_STREAMS=N: N streams at a time instead of make bench's 10 (1: no two streams' events ever
# arrive together, so each event wakes the proxy, as independent streams in real traffic do)
bench.LIGHT = int(os.environ.get("LIGHT_STREAMS") or bench.LIGHT)
# LIGHT_BURST=N: before the light rounds, every target serves make bench's stream sets
# (bench.STREAM_SETS) N times in make bench's order, as the row's processes have in make bench
BURST = int(os.environ.get("LIGHT_BURST", "0"))


def relayd_at(procs, tmp, name, mock_port, binpath):
    port, key, p = bench.start_relayd(procs, tmp, name, mock_port, binpath)
    return f"http://127.0.0.1:{port}/v1/chat/completions", key, [p.pid]


def floor_at(procs, name, mock_port, binpath, extra=()):
    port, p = bench.start_floor(procs, name, mock_port, binpath, extra)
    return f"http://127.0.0.1:{port}/v1/chat/completions", None, [p.pid]


def nginx_at(procs, tmp, mock_port):
    port, p = bench.start_nginx(procs, tmp, mock_port)
    return f"http://127.0.0.1:{port}/v1/chat/completions", None, [p.pid] + bench.children(p.pid)


def straced(url, key, pids, total):
    """system calls a stream by name, strace attached to every process of the target"""
    out = tempfile.mktemp(prefix="light-strace-")
    argv = ["strace", "-f", "-c", "-o", out]
    for pid in pids:
        argv += ["-p", str(pid)]
    st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    r = bench.sse_load(url, key, bench.LIGHT, total, pids, body=bench.LIGHT_BODY)
    time.sleep(0.3)
    st.send_signal(signal.SIGINT)
    st.wait(timeout=30)
    calls, errors = {}, {}
    with open(out) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$", line)
            if m and m.group(3) != "total":
                calls[m.group(3)] = int(m.group(1)) / max(r.get("streams") or 1, 1)
                if m.group(2):      # calls that failed (a recv's EAGAIN, a poll's... ) a stream
                    errors[m.group(3)] = int(m.group(2)) / max(r.get("streams") or 1, 1)
    os.unlink(out)
    return calls, errors, r.get("failures", 0)


def main():
    tmp = tempfile.mkdtemp(prefix="relay-light-")
    procs = bench.Procs(tmp)
    try:
        mock_port = bench.free_port()
        procs.start("mock", [os.path.join(bench.BIN, "mock-upstream"), "--port", str(mock_port)])
        bench.wait_port(mock_port)
        targets = {"nginx": nginx_at(procs, tmp, mock_port),
                   "floor": floor_at(procs, "floor", mock_port, bench.BIN),
                   bench.FLOOR1: floor_at(procs, bench.FLOOR1, mock_port, bench.BIN, ["--workers", "1"]),
                   "relayd": relayd_at(procs, tmp, "relayd", mock_port, bench.BIN)}
        if BASE:
            targets["floor-base"] = floor_at(procs, "floor-base", mock_port, BASE)
            targets["relayd-base"] = relayd_at(procs, tmp, "relayd-base", mock_port, BASE)
        for _ in range(BURST):
            for n, total, gap in bench.STREAM_SETS:
                for name, (url, key, pids) in targets.items():
                    r = bench.sse_load(url, key, n, total, pids, body=bench.STREAM % gap)
                    print(f"burst {name} {n} x {total}: failures {r.get('failures')}", flush=True)
        res = bench.light_rounds(targets, REPEATS, TOTAL)
        keys = ("run_us_per_stream", "run_us_per_event", "ctxsw_per_stream", "failures")
        med = {n: {k: bench.med([r.get(k) for r in runs]) for k in keys} for n, runs in res.items()}
        print(f"{f'light streams ({bench.LIGHT} x {bench.LIGHT_EVENTS} events)':22} {'us/stream':>10} {'us/event':>9} {'ctxsw/str':>10} "
              f"{'fail':>5} {'x nginx':>8} {'x floor':>8}  by round, median (lowest-highest): x nginx, x floor")
        for n, m in med.items():
            sp, sf = bench.light_spread(res[n], "x_nginx"), bench.light_spread(res[n], "x_floor")
            print(f"{n:22} {m['run_us_per_stream']:10.1f} {m['run_us_per_event']:9.2f} {m['ctxsw_per_stream']:10.1f} "
                  f"{m['failures']:5.0f} {m['run_us_per_stream'] / med['nginx']['run_us_per_stream']:8.2f} "
                  f"{m['run_us_per_stream'] / med['floor']['run_us_per_stream']:8.2f}  "
                  f"{sp[0]:.2f} ({sp[1]:.2f}-{sp[2]:.2f}), {sf[0]:.2f} ({sf[1]:.2f}-{sf[2]:.2f})")
        for n, runs in res.items():
            print(f"{n} us/stream by thread (median): " + ", ".join(
                f"{t} {v:.1f}" for t, v in bench.light_by_thread(runs).items()))
        out = {"repeats": REPEATS, "total": TOTAL, "burst": BURST, "runs": res, "median": med}
        if STRACE:
            out["strace"] = {}
            for n, (url, key, pids) in targets.items():
                calls, errors, fails = straced(url, key, pids, 20)
                out["strace"][n] = {"calls": calls, "errors": errors}
                top = sorted(calls.items(), key=lambda kv: -kv[1])
                print(f"{n} syscalls/stream (failures {fails}): total {sum(calls.values()):.1f}: " +
                      ", ".join(f"{k} {v:.1f}" + (f" ({errors[k]:.1f} failed)" if errors.get(k) else "")
                                for k, v in top if v >= 0.1))
        os.makedirs(bench.RESULTS, exist_ok=True)
        path = os.path.join(bench.RESULTS, time.strftime("light-%Y%m%d-%H%M%S.json"))
        with open(path, "w") as f:
            json.dump(out, f, indent=1)
        print(f"written: {path}")
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
