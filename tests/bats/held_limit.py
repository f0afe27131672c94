#!/usr/bin/env python3
"""held_limit.py: holds N streams on relayd at once, then asks for more (tests/bats/44-held-limit.bats).

usage: held_limit.py PORT KEY N TIMEOUT_S [IDLE]

Opens N connections and sends on each a stream request (that lasts as long as the mock's stream: 44-held-limit.bats sets its chunks and gap), in
turn: a small-header OpenAI stream, one with a 1.5 KB header, a small-header Anthropic stream, one
with a 1.5 KB header (a worker's small pool takes the small-header ones, its usual pool the
others: gate.h). Waits (TIMEOUT_S at most) until every one has its answer's head and first event,
keeping all open, then opens IDLE connections (default 0) that send nothing, then one OpenAI and
one Anthropic request more, one after the other, and reads their whole answers. Prints one JSON object:
  held    streams that got 200 and an event
  small   ... of them answered "Connection: close" (the small pool)
  usual   ... of them not (the usual pool)
  other   up to 5 connections that did not (status line or what happened)
  over    [[status, body as JSON or text], ...] for the two requests past the N
"""
import json
import selectors
import socket
import sys
import time

port, key, n, timeout = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
idle_n = int(sys.argv[5]) if len(sys.argv) > 5 else 0
MSG = [{"role": "user", "content": "hold"}]


def request(kind, big):
    if kind == "anthropic":
        path, auth = "/v1/messages", "x-api-key: %s\r\nanthropic-version: 2023-06-01\r\n" % key
        body = {"model": "gpt-4o-mini", "max_tokens": 50, "stream": True, "messages": MSG}
    else:
        path, auth = "/v1/chat/completions", "Authorization: Bearer %s\r\n" % key
        body = {"model": "gpt-4o-mini", "stream": True, "messages": MSG}
    pad = "X-Pad: %s\r\n" % ("p" * 1500) if big else ""
    raw = json.dumps(body).encode()
    return ("POST %s HTTP/1.1\r\nHost: relay\r\n%s%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (path, auth, pad, len(raw))).encode() + raw


def head_of(data):
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    fields = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip().lower()
    return head[0], fields


conns, got = [], {}
sel = selectors.DefaultSelector()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(request("anthropic" if i % 4 >= 2 else "openai", i % 2 == 1))
    s.setblocking(False)
    conns.append(s)
    got[s] = b""
    sel.register(s, selectors.EVENT_READ)

held = small = usual = 0
other = []
pending = set(conns)
deadline = time.monotonic() + timeout
while pending and time.monotonic() < deadline:
    for key_, _ in sel.select(timeout=0.5):
        s = key_.fileobj
        try:
            d = s.recv(65536)
        except BlockingIOError:
            continue
        except OSError as e:
            d, got[s] = b"", got[s] + ("[%s]" % e).encode()
        if not d:
            other.append(head_of(got[s])[0] or "closed without an answer")
            pending.discard(s)
            sel.unregister(s)
            continue
        got[s] += d
        if b"\r\n\r\n" not in got[s]:
            continue
        status, fields = head_of(got[s])
        if not status.startswith("HTTP/1.1 200 "):
            other.append(status)
        elif b"data:" not in got[s].split(b"\r\n\r\n", 1)[1] and b"event:" not in got[s].split(b"\r\n\r\n", 1)[1]:
            continue
        else:
            held += 1
            if fields.get("connection") == "close":
                small += 1
            else:
                usual += 1
        pending.discard(s)
        sel.unregister(s)
other += ["no answer in %g s" % timeout] * len(pending)

idle = [socket.create_connection(("127.0.0.1", port), timeout=timeout) for _ in range(idle_n)]
over = []
for kind in ("openai", "anthropic"):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(request(kind, False))
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except OSError as e:
        data += ("[%s]" % e).encode()
    s.close()
    status, _ = head_of(data)
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else data
    try:
        body = json.loads(body)
    except ValueError:
        body = body.decode("latin-1")[:200]
    over.append([int(status.split(" ")[1]) if status.startswith("HTTP/1.1 ") else status, body])

for s in conns + idle:
    s.close()
print(json.dumps({"held": held, "small": small, "usual": usual, "other": other[:5], "over": over}))
