#!/usr/bin/env python3
"""bench/keypool.py: what a key pool costs relayd (issue #23). Two relayd processes on one mock
upstream, each with its own SQLite database: one serves a channel of one key, the other a channel
of a 16-key round-robin pool. wrk (c64, non-streaming chat, billing and logging on) takes turns on
them, REPEATS rounds (KEYPOOL_REPEATS, default 3) of DUR seconds, alternating which goes first; prints req/s and CPU us/request of each (medians) and writes
bench/results/keypool-*.json. Run: BUILD=build python3 bench/keypool.py (BENCH_QUICK=1: 1 s, 1 round).
Uses bench.py's helpers (the same wrk, CPU and port code as make bench)."""
import json
import os
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

REPEATS = int(os.environ.get("KEYPOOL_REPEATS", bench.REPEATS))


def relayd_with(procs, tmp, name, mock_port, keys, mode):
    env = dict(os.environ)
    db = f"sqlite:{tmp}/{name}.db"
    sock = f"{tmp}/{name}.sock"
    env.update(RELAY_DB=db, RELAY_SOCKET=sock, RELAY_MASTER_KEY_FILE=f"{tmp}/{name}.key")
    gw = os.path.join(bench.BIN, "gwctl")
    subprocess.run([gw, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([gw, "user", "add", "bench", "--quota", "900000000000000"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([gw, "channel", "add", "--name", "mock", "--type", "openai", "--base-url",
                    f"http://127.0.0.1:{mock_port}", "--models", "gpt-4o-mini", "--key-mode", mode],
                   env=env, check=True, input="".join(f"{k}\n" for k in keys), text=True,
                   stdout=subprocess.DEVNULL)
    key = subprocess.run([gw, "token", "create", "--user", "bench", "--name", "bench", "--unlimited"],
                         env=env, check=True, capture_output=True, text=True).stdout.strip()
    port = bench.free_port()
    p = procs.start(name, [os.path.join(bench.BIN, "relayd"), "--listen", f"127.0.0.1:{port}", "--db", db,
                           "--admin-socket", sock, "--log-level", "warn", "--metrics-listen", "off"], env=env)
    bench.wait_port(port)
    lua = os.path.join(tmp, f"{name}.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\n'
                f"wrk.body = '{bench.CHAT}'\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Authorization"] = "Bearer {key}"\n')
    return f"http://127.0.0.1:{port}/v1/chat/completions", lua, [p.pid]


def main():
    tmp = tempfile.mkdtemp(prefix="relay-keypool-bench-")
    procs = bench.Procs(tmp)
    try:
        mock_port = bench.free_port()
        procs.start("mock", [os.path.join(bench.BIN, "mock-upstream"), "--port", str(mock_port)])
        bench.wait_port(mock_port)
        targets = {
            "one key": relayd_with(procs, tmp, "one", mock_port, ["sk-bench-only"], "random"),
            "16-key round-robin pool": relayd_with(procs, tmp, "pool", mock_port,
                                                   [f"sk-bench-{i:02d}" for i in range(16)], "round-robin"),
        }
        bench.compare_in_turns(targets, REPEATS, "keypool")
        return 0
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
