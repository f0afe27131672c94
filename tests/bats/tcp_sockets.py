#!/usr/bin/env python3
"""tcp_sockets.py: counts TCP sockets from /proc/net/tcp and tcp6 (44-accept, 40-idle).

usage: tcp_sockets.py listen PID PORT   how many distinct LISTEN sockets on local port PORT
                                        process PID holds (the rows' inodes against its fds)
       tcp_sockets.py conns PORT        how many ESTABLISHED connections have remote port PORT
Prints the count.
"""
import os
import sys

LISTEN, ESTABLISHED = "0A", "01"


def rows():
    """the fields of every row of /proc/net/tcp and tcp6 (a table that cannot be read: none)"""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            yield line.split()


def port_of(addr):
    return int(addr.rsplit(":", 1)[1], 16)


def listen(pid, port):
    listening = {f[9] for f in rows() if f[3] == LISTEN and port_of(f[1]) == port}
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in listening:
            held.add(target[8:-1])
    return len(held)


def conns(port):
    return sum(1 for f in rows() if f[3] == ESTABLISHED and port_of(f[2]) == port)


if len(sys.argv) == 4 and sys.argv[1] == "listen":
    print(listen(sys.argv[2], int(sys.argv[3])))
elif len(sys.argv) == 3 and sys.argv[1] == "conns":
    print(conns(int(sys.argv[2])))
else:
    sys.exit(__doc__)
