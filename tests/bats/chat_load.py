#!/usr/bin/env python3
"""chat_load.py: concurrent chat clients against relayd (loopback), for the suites that load it
(45-writer-io, 40-lifecycle, 25-routing-limits).

usage: chat_load.py PORT KEY THREADS [TOTAL] [options]

Starts THREADS threads, each with its own keep-alive connection to 127.0.0.1:PORT; the requests
are numbered 0 .. TOTAL-1 and thread p sends those with i % THREADS == p, one after another. Every
request is a POST /v1/chat/completions for gpt-4o-mini ("hi") with KEY. Options:
  --stream GAP_MS  a stream of 10 events GAP_MS apart (the mock's chunks and chunk_gap_ms), read to
                   the end: one without "[DONE]" fails
  --cache-key P    request i carries "prompt_cache_key": P + i (distinct affinity keys)
  --until FILE     no TOTAL: each thread sends until FILE exists
  --timeout S      each connection's timeout (default 30)
  --no-check       any answer, and a connection that fails ends its thread (load only)
Exits 0 when every request got 200 (and, streamed, its [DONE]), else 1 with
"N requests failed: [first five statuses or errors]" on stderr.
"""
import http.client
import json
import os
import sys
import threading


def main(argv):
    pos, opt = [], {"stream": None, "cache": None, "until": None, "timeout": 30.0, "check": True}
    it = iter(argv)
    for a in it:
        if a == "--stream":
            opt["stream"] = int(next(it))
        elif a == "--cache-key":
            opt["cache"] = next(it)
        elif a == "--until":
            opt["until"] = next(it)
        elif a == "--timeout":
            opt["timeout"] = float(next(it))
        elif a == "--no-check":
            opt["check"] = False
        else:
            pos.append(a)
    if len(pos) != (3 if opt["until"] else 4):
        sys.exit(__doc__)
    port, key, threads = int(pos[0]), pos[1], int(pos[2])
    total = int(pos[3]) if not opt["until"] else None
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
    bad, lock = [], threading.Lock()

    def body(i):
        b = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        if opt["stream"] is not None:
            b["stream"] = True
            b["mock"] = {"chunks": 10, "chunk_gap_ms": opt["stream"]}
        if opt["cache"] is not None:
            b["prompt_cache_key"] = opt["cache"] + str(i)
        return json.dumps(b)

    def one(c, i):
        c.request("POST", "/v1/chat/completions", body(i), headers)
        r = c.getresponse()
        data = r.read()
        if not opt["check"]:
            return
        if r.status != 200:
            with lock:
                bad.append(r.status)
        elif opt["stream"] is not None and b"[DONE]" not in data:
            with lock:
                bad.append("200 without [DONE]")

    def more(i):
        return not os.path.exists(opt["until"]) if opt["until"] else i < total

    def run(p):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=opt["timeout"])
        i = p
        try:
            while more(i):
                one(c, i)
                i += threads
        except Exception as e:  # a connection that failed: counted (unless --no-check), the thread ends
            if opt["check"]:
                with lock:
                    bad.append(f"{type(e).__name__}: {e}")

    ts = [threading.Thread(target=run, args=(p,)) for p in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if bad:
        sys.exit(f"{len(bad)} requests failed: {bad[:5]}")


main(sys.argv[1:])
