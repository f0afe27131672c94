#!/usr/bin/env python3
"""idle_wakeups.py PID SECONDS [json]: a process's wake-ups while it idles, from /proc (counts, not
timing).

Reads every thread's voluntary + nonvoluntary context switches (/proc/PID/task/TID/status) and CPU
time (schedstat, ns) at the start and the end of SECONDS, prints one line per thread name
(wake-ups/s, CPU ms/s) to stderr and the whole process's wake-ups per second on stdout; with
"json", stdout is instead one JSON object: each thread name's wake-ups (a count) over SECONDS.
A thread that starts or ends in between counts from/to zero.
"""
import json
import os
import sys
import time


def sample(pid):
    out = {}
    base = f"/proc/{pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/comm") as f:
                name = f.read().strip()
            sw = 0
            with open(f"{base}/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        sw += int(line.split()[1])
            with open(f"{base}/{tid}/schedstat") as f:
                cpu = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[tid] = (name, sw, cpu)
    return out


def main():
    pid, secs = int(sys.argv[1]), float(sys.argv[2])
    a = sample(pid)
    time.sleep(secs)
    b = sample(pid)
    per = {}
    for tid in set(a) | set(b):
        name = (b.get(tid) or a.get(tid))[0]
        _, sw0, cpu0 = a.get(tid, (name, 0, 0))
        _, sw1, cpu1 = b.get(tid, (name, 0, 0))
        w, c, n = per.get(name, (0, 0, 0))
        per[name] = (w + sw1 - sw0, c + cpu1 - cpu0, n + 1)
    total = 0
    for name, (w, c, n) in sorted(per.items(), key=lambda kv: -kv[1][0]):
        total += w
        print(f"{name:20s} threads={n:2d} wakeups/s={w / secs:7.1f} cpu_ms/s={c / secs / 1e6:6.3f}",
              file=sys.stderr)
    if sys.argv[3:] == ["json"]:
        print(json.dumps({name: w for name, (w, _, _) in per.items()}))
    else:
        print(f"{total / secs:.1f}")


if __name__ == "__main__":
    main()
