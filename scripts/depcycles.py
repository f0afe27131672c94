#!/usr/bin/env python3
"""depcycles: fails when the modules of relayd, gwctl and gwtui depend on each other in a cycle.

Two graphs, both over modules (x.c + x.h is module x, named dir/x):
  include graph: x.c or x.h in relayd/, gwctl/ or gwtui/ has `#include "y.h"` -> x depends on y
                 (y.h found next to x, else in common/; common/ modules are leaves here). A
                 header-only module (no y.c) is a node too.
  link graph (--objects DIR...): x.o uses a global symbol that y.o defines -> x depends on y
                 (from `nm`; catches a call through a header that another module declares).
Prints each cycle found ("include cycle: relayd/relay -> relayd/worker -> relayd/relay") and exits
1; exits 0 when both graphs are acyclic. --known A,B,C names a cycle (its modules) that is known
and tolerated: it is printed as "known", and only a cycle with other modules fails.
Usage: depcycles.py [--root DIR] [--objects DIR ...] [--known M1,M2,... ...]
Called by tests/bats/60-layout.bats. Never edits anything.
"""
import os
import re
import subprocess
import sys

DIRS = ("relayd", "gwctl", "gwtui")
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def include_graph(root):
    graph = {}
    for d in DIRS:
        p = os.path.join(root, d)
        if not os.path.isdir(p):
            continue
        for f in sorted(os.listdir(p)):
            stem, ext = os.path.splitext(f)
            if ext not in (".c", ".h"):
                continue
            mod = d + "/" + stem
            deps = graph.setdefault(mod, set())
            with open(os.path.join(p, f), encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            for inc in INC.findall(text):
                name = os.path.splitext(os.path.basename(inc))[0]
                for cand in (d, "common"):
                    if os.path.exists(os.path.join(root, cand, name + ".h")):
                        dep = cand + "/" + name
                        if dep != mod:
                            deps.add(dep)
                        graph.setdefault(dep, set())
                        break
    return graph


def link_graph(dirs):
    defs, uses = {}, {}
    for d in dirs:
        for f in sorted(os.listdir(d)):
            if not f.endswith(".o"):
                continue
            mod = os.path.basename(os.path.normpath(d)) + "/" + f[:-2]
            out = subprocess.run(["nm", os.path.join(d, f)], capture_output=True, text=True,
                                 check=True).stdout
            uses[mod] = set()
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == "U":
                    uses[mod].add(parts[1])
                elif len(parts) == 3 and parts[1] in "TDBRVWG" and parts[1].isupper():
                    defs.setdefault(parts[2], mod)
    graph = {m: set() for m in uses}
    for m, syms in uses.items():
        for s in syms:
            dep = defs.get(s)
            if dep and dep != m:
                graph[m].add(dep)
    return graph


def cycles(graph):
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    found = []
    for comp in comps:
        # a shortest path back to the start, inside the component
        start = min(comp)
        prev, queue, path = {start: None}, [start], None
        while queue and path is None:
            v = queue.pop(0)
            for w in sorted(graph[v]):
                if w not in comp:
                    continue
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    path.reverse()
                    break
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
        found.append((sorted(comp), path + [start]))
    return found


def main(argv):
    root, objdirs, known, i = ".", [], [], 1
    while i < len(argv):
        if argv[i] == "--root" and i + 1 < len(argv):
            root, i = argv[i + 1], i + 2
        elif argv[i] == "--known" and i + 1 < len(argv):
            known.append(sorted(argv[i + 1].split(",")))
            i += 2
        elif argv[i] == "--objects":
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                objdirs.append(argv[i])
                i += 1
        else:
            print("usage: depcycles.py [--root DIR] [--objects DIR ...] [--known M1,M2,...]",
                  file=sys.stderr)
            return 2
    bad = 0
    for what, graph in (("include", include_graph(root)),) + (
            (("link", link_graph(objdirs)),) if objdirs else ()):
        for comp, path in cycles(graph):
            tolerated = comp in known
            print("%s%s cycle: %s   (modules in the cycle: %s)" % (
                "known " if tolerated else "", what, " -> ".join(path), ", ".join(comp)))
            if not tolerated:
                bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))
