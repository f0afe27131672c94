#!/usr/bin/env python3
"""bench/routing.py: what channel limits and affinity (issue #25) cost relayd. Three relayd
processes on one mock upstream, each with its own SQLite database and one channel: the build before
them (ROUTING_BASE_BIN, e.g. a build of s6; the row is left out without it), this build with no
limit and affinity off (what every install pays), and this build with a channel rpm / tpm that is
never reached and affinity on (affinity_ttl_s 300, each request with a prompt_cache_key, 64 keys).
wrk (c64, non-streaming chat, billing and logging on) takes turns on them, REPEATS rounds of DUR
seconds, rotating which goes first; prints req/s and CPU us/request (medians) and writes
bench/results/routing-*.json. Run: BUILD=build ROUTING_BASE_BIN=../base/build/bin python3
bench/routing.py (BENCH_QUICK=1: 1 s, 1 round). Uses bench.py's helpers (wrk, CPU, ports)."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

REPEATS = int(os.environ.get("ROUTING_REPEATS", bench.REPEATS))


def relayd_with(procs, tmp, name, mock_port, binpath, limited):
    setup = ((("channel", "edit", "mock", "--rpm", "1000000000", "--tpm", "1000000000000"),
              ("config", "set", "affinity_ttl_s", "300")) if limited else ())
    port, key, p = bench.start_relayd(procs, tmp, name, mock_port, binpath, setup)
    lua = os.path.join(tmp, f"{name}.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Authorization"] = "Bearer {key}"\n')
        if limited:   # 64 conversations, one prompt_cache_key each
            body = json.loads(bench.CHAT)
            f.write("local n = 0\nrequest = function()\n  n = n + 1\n"
                    f"  local b = '{json.dumps(body)[:-1]}, \"prompt_cache_key\": \"conv-' .. (n % 64) .. '\"}}'\n"
                    "  return wrk.format(nil, nil, nil, b)\nend\n")
        else:
            f.write(f"wrk.body = '{bench.CHAT}'\n")
    return f"http://127.0.0.1:{port}/v1/chat/completions", lua, [p.pid]


def main():
    tmp = tempfile.mkdtemp(prefix="relay-routing-bench-")
    procs = bench.Procs(tmp)
    try:
        mock_port = bench.free_port()
        procs.start("mock", [os.path.join(bench.BIN, "mock-upstream"), "--port", str(mock_port)])
        bench.wait_port(mock_port)
        targets = {}
        base = os.environ.get("ROUTING_BASE_BIN")
        if base:
            targets["before (base build)"] = relayd_with(procs, tmp, "base", mock_port, base, False)
        targets["this build, unused"] = relayd_with(procs, tmp, "unused", mock_port, bench.BIN, False)
        targets["this build, limits+affinity"] = relayd_with(procs, tmp, "used", mock_port, bench.BIN, True)
        bench.compare_in_turns(targets, REPEATS, "routing")
        return 0
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
