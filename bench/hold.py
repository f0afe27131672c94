#!/usr/bin/env python3
"""bench/hold.py: make bench's held-streams row alone, for relayd (and the floor with --floor).

usage: RELAY_BIN=build/bin python3 bench/hold.py [--floor] [--rounds N] [--streams N]

Starts the C mock and a relayd set up as the bench's (bench.start_relayd: SQLite, auth, billing,
logs; default workers), then holds bench.HOLD streams at once with sse-load --hold (HOLD_BODY: 600
events a second apart) for 5 s, as make bench's row does: (hard limit on open files - 64) / 2 of
them, 9,968 under a hard limit of 20,000. Prints per round open / failures / peak RSS and the
descriptors relayd had open at the peak; relayd's max_connections line from its log. Nothing is
asserted. Rounds after the first run on the same relayd (the budget must come back).
"""
import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def peak_fds(pid, stop, out):
    """out: [most descriptors open, most VmRSS KB sampled]"""
    while not stop.is_set():
        try:
            out[0] = max(out[0], len(os.listdir(f"/proc/{pid}/fd")))
            out[1] = max(out[1], bench.rss_kb([pid]))
        except OSError:
            return
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--floor", action="store_true", help="the floor too (pool 2560, as make bench)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--streams", type=int, default=bench.HOLD)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs = bench.Procs(tmp)
        try:
            mock_port = bench.free_port()
            procs.start("mock", [os.path.join(bench.BIN, "mock-upstream"), "--port", str(mock_port)])
            bench.wait_port(mock_port)
            port, key, relayd = bench.start_relayd(procs, tmp, "relayd", mock_port, bench.BIN)
            targets = {"relayd": (port, relayd.pid)}
            if args.floor:
                fport, fl = bench.start_floor(procs, "floor", mock_port, extra=("--pool", "2560"))
                targets["floor"] = (fport, fl.pid)
            time.sleep(0.5)
            print(f"streams offered: {args.streams} (hard limit on open files {bench.FD_HARD})")
            print(f"relayd idle: {len(os.listdir(f'/proc/{relayd.pid}/fd'))} descriptors open")
            for rnd in range(args.rounds):
                for name, (p, pid) in targets.items():
                    stop, fds = threading.Event(), [0, 0]
                    t = threading.Thread(target=peak_fds, args=(pid, stop, fds))
                    t.start()
                    r = bench.sse_load(f"http://127.0.0.1:{p}/v1/chat/completions", key, args.streams, args.streams,
                                       [pid], body=bench.HOLD_BODY, extra=("--hold", "--duration-s", "5"))
                    hwm = bench.rss_kb([pid], peak=True) / 1024   # sse_load reset it (clear_refs)
                    stop.set()
                    t.join()
                    print(f"round {rnd + 1} {name}: open {r.get('open')} failures {r.get('failures')} "
                          f"peak RSS {hwm:.1f} MB (VmHWM; sampled VmRSS at most {fds[1] / 1024:.1f}), "
                          f"peak descriptors {fds[0]}")
                    time.sleep(2)
        finally:
            procs.stop_all()
            log = os.path.join(tmp, "relayd.log")
            if os.path.exists(log):
                with open(log) as f:
                    for line in f:
                        if "max_connections" in line or "accept" in line:
                            print("relayd log: " + line.strip()[:300])


if __name__ == "__main__":
    main()
