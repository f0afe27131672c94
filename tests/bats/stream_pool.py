#!/usr/bin/env python3
"""stream_pool.py: raw HTTP/1.1 client for tests/bats/44-stream-pool.bats (loopback only).

usage: stream_pool.py PORT KEY CASE [TIMEOUT_S]

Sends CASE's first request on a new connection, reads its whole answer (Content-Length or chunked),
then waits up to 1 s to see whether the server closes the connection; when it stays open, sends a
plain GET /v1/models on it and reads that answer too. Prints one JSON object:
  status, connection (the Connection header or null), content_type, events (SSE "data:" lines),
  done ([DONE] or an Anthropic message_stop came), longest (the longest data line), head_bytes
  and records (what the request's header holds: request line and fields without the blank line;
  fields + query arguments),
  closed (the server closed after the first answer), second (status of the GET, or null)
Cases:
  small            an OpenAI stream, a short header, the body in the same write
  small-anthropic  an Anthropic stream (/v1/messages)
  small-gemini     a Gemini stream (:streamGenerateContent?alt=sse)
  edge             an OpenAI stream whose header is exactly 1,024 bytes with 18 fields and query
                   arguments, and a 6 KB body (the small pool's class at its limits)
  over-head        the same stream with a 1,025-byte header
  over-records     the same stream with 19 fields and arguments
  sdk              an OpenAI stream with the header the OpenAI Python SDK sends (17 fields)
  big-event        a small stream whose first event is 300,000 bytes (mock huge_event)
  pipelined        a small stream and a GET /v1/models after it in the same write (its answer is
                   "second", read from what follows the stream's)
  nonstream        a non-streaming chat
  body-later       the stream's body sent 0.3 s after its header
"""
import json
import socket
import sys
import time

port, key, case = int(sys.argv[1]), sys.argv[2], sys.argv[3]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0

MSG = [{"role": "user", "content": "hi"}]
RECORDS = 18                # gate.h GATE_SMALL_RECORDS


def build(case):
    path, auth, body = "/v1/chat/completions", [("Authorization", "Bearer " + key)], \
        {"model": "gpt-4o-mini", "stream": True, "messages": MSG, "mock": {"chunks": 5}}
    fields = [("Host", "relay")]
    if case == "small-anthropic":
        path = "/v1/messages"
        auth = [("x-api-key", key), ("anthropic-version", "2023-06-01")]
        body = {"model": "gpt-4o-mini", "max_tokens": 50, "stream": True, "messages": MSG}
    elif case == "small-gemini":
        path = "/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse"
        auth = [("x-goog-api-key", key)]
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    elif case == "sdk":
        # what openai-python 1.x sends with a stream (its _base_client.py default headers)
        auth += [("Accept", "text/event-stream"), ("Accept-Encoding", "gzip, deflate"), ("Connection", "keep-alive"),
                 ("User-Agent", "OpenAI/Python 1.57.0"), ("X-Stainless-Lang", "python"),
                 ("X-Stainless-Package-Version", "1.57.0"), ("X-Stainless-OS", "Linux"),
                 ("X-Stainless-Arch", "x64"), ("X-Stainless-Runtime", "CPython"),
                 ("X-Stainless-Runtime-Version", "3.11.7"), ("X-Stainless-Async", "false"),
                 ("x-stainless-retry-count", "0"), ("x-stainless-read-timeout", "600")]
    elif case == "big-event":
        body["mock"]["huge_event"] = 300000
    elif case == "nonstream":
        body = {"model": "gpt-4o-mini", "messages": MSG}
    fields += auth + [("Content-Type", "application/json")]
    if case in ("edge", "over-head", "over-records"):
        body["messages"] = [{"role": "user", "content": "x" * 6000}]
        want_records = RECORDS + 1 if case == "over-records" else RECORDS
        path += "?a=1&b=2&c=3"                      # 3 query arguments
        fields += [("X-Pad-%02d" % i, "p") for i in range(want_records - 3 - len(fields) - 1)]
    raw = json.dumps(body).encode()
    fields.append(("Content-Length", str(len(raw))))
    if case in ("edge", "over-head", "over-records"):
        # pad the last padding field so that the header is exactly 1,024 (1,025) bytes
        want = 1025 if case == "over-head" else 1024
        def size(fs):
            return len(("POST %s HTTP/1.1\r\n" % path).encode()) + sum(len(k) + 2 + len(v) + 2 for k, v in fs)
        k, v = fields[-2]
        fields[-2] = (k, v + "p" * (want - size(fields)))
        assert size(fields) == want, size(fields)
    head = ("POST %s HTTP/1.1\r\n" % path) + "".join("%s: %s\r\n" % kv for kv in fields)
    records = len(fields) + (path.count("&") + 1 if "?" in path else 0)
    return head.encode(), b"\r\n" + raw, len(head.encode()), records


def read_answer(s, buf):
    """one answer from s (buf: bytes already read): (status, headers dict, body, rest)"""
    deadline = time.time() + timeout
    def more():
        if time.time() > deadline:
            raise TimeoutError
        s.settimeout(max(0.05, deadline - time.time()))
        d = s.recv(65536)
        if not d:
            raise EOFError
        return d
    while b"\r\n\r\n" not in buf:
        buf += more()
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    body = b""
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        while True:
            while b"\r\n" not in buf:
                buf += more()
            size_line, buf = buf.split(b"\r\n", 1)
            n = int(size_line.split(b";")[0], 16)
            while len(buf) < n + 2:
                buf += more()
            body += buf[:n]
            buf = buf[n + 2:]
            if n == 0:
                break
    else:
        n = int(hdrs.get("content-length", "0"))
        while len(buf) < n:
            buf += more()
        body, buf = buf[:n], buf[n:]
    return status, hdrs, body, buf


head, tail, head_bytes, records = build(case)
s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
if case == "body-later":
    s.sendall(head + b"\r\n")              # the whole header, blank line included
    time.sleep(0.3)
    s.sendall(tail[2:])
elif case == "pipelined":
    s.sendall(head + tail + b"GET /v1/models HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer " + key.encode() + b"\r\n\r\n")
else:
    s.sendall(head + tail)
status, hdrs, body, rest = read_answer(s, b"")
text = body.decode("utf-8", "replace")
events = sum(1 for ln in text.split("\n") if ln.startswith("data:"))
out = {"status": status, "connection": hdrs.get("connection"), "content_type": hdrs.get("content-type"),
       "events": events, "done": "[DONE]" in text or "message_stop" in text or
       (case == "small-gemini" and '"finishReason"' in text),
       "longest": max([len(ln) for ln in text.split("\n") if ln.startswith("data:")] or [0]),
       "head_bytes": head_bytes, "records": records, "closed": False, "second": None}
# head_bytes counts the request line and fields with their CRLFs (the blank line is not in head)
s.settimeout(1.0)
if case == "pipelined":
    s.settimeout(timeout)
    try:
        out["second"] = read_answer(s, rest)[0]
    except (OSError, EOFError, ValueError, IndexError):
        out["second"] = None
    rest = b""
    s.settimeout(1.0)
try:
    d = s.recv(65536) if not rest else rest
    out["closed"] = d == b""
    if d:
        out["unexpected"] = d[:200].decode("latin-1")
except socket.timeout:
    out["closed"] = False
if not out["closed"] and "unexpected" not in out:
    s.settimeout(timeout)
    s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer " + key.encode() + b"\r\n\r\n")
    st, _, _, _ = read_answer(s, b"")
    out["second"] = st
print(json.dumps(out))
