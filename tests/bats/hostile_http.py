#!/usr/bin/env python3
"""hostile_http.py: a hostile HTTP client for tests/bats/44-hostile-http.bats (loopback only).

usage: hostile_http.py PORT KEY CASE [TIMEOUT_S]

Sends the raw bytes of CASE (see build()) to 127.0.0.1:PORT; "second-CASE" sends a good request
first on the same kept-alive connection and describes only the answer to CASE, the second request; reads until the server closes the
connection or TIMEOUT_S (default 5) passes, and prints one JSON object describing the answer:
  status        the status code of the first status line, or null when nothing came
  closed        the server closed the connection (false: it was still open at the timeout)
  heads         how many status lines ("HTTP/1.x NNN ") start a header block in what came
  well_formed   exactly one status line and header block, every header line "name: value", a
                Content-Length that the body matches exactly, nothing after the body
  problems      why it is not well formed (empty when it is)
  content_type  the Content-Type header, or null
  connection    the Connection header, or null
  body          the body parsed as JSON when it parses, else the raw text
  shape         openai | anthropic | gemini | other: which API's error format the JSON body has
"""
import json
import re
import socket
import sys
import time

port, key, case = int(sys.argv[1]), sys.argv[2], sys.argv[3]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0

CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
CLAUDE = b'{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
GEMINI = b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
PATHS = {
    "openai": (b"/v1/chat/completions", b"Authorization: Bearer %s\r\n", CHAT),
    "anthropic": (b"/v1/messages", b"x-api-key: %s\r\nanthropic-version: 2023-06-01\r\n", CLAUDE),
    "gemini": (b"/v1beta/models/gpt-4o-mini:generateContent", b"x-goog-api-key: %s\r\n", GEMINI),
}


def request(api="openai", path=None, extra=b"", cl=None, body=None, te=None, target_suffix=b""):
    p, auth, b = PATHS[api]
    if body is not None:
        b = body
    head = b"POST " + (path if path is not None else p) + target_suffix + b" HTTP/1.1\r\nHost: relay\r\n"
    head += auth % key.encode() + b"Content-Type: application/json\r\n"
    if te is not None:
        head += b"Transfer-Encoding: " + te + b"\r\n"
    if cl is not False:
        head += b"Content-Length: " + (cl if cl is not None else str(len(b)).encode()) + b"\r\n"
    return head + extra + b"\r\n" + b


def api_of(name):
    for api in PATHS:
        if name.endswith("-" + api):
            return api, name[: -len(api) - 1]
    return "openai", name


def build(name):
    api, base = api_of(name)
    if base == "cl-negative":
        return request(api, cl=b"-1")
    if base == "cl-20-digits":         # fits in 64 bits unsigned, not in a signed 64-bit length
        return request(api, cl=b"12345678901234567890")
    if base == "cl-21-digits":         # past 2^64
        return request(api, cl=b"123456789012345678901")
    if base == "cl-plus":
        return request(api, cl=b"+66")
    if base == "cl-hex":
        return request(api, cl=b"0x10")
    if base == "cl-twice-different":   # request smuggling behind a proxy that reads the other one
        return request(api, extra=b"Content-Length: 5\r\n")
    if base == "cl-twice-same":
        b = PATHS[api][2]
        return request(api, extra=b"Content-Length: %d\r\nConnection: close\r\n" % len(b))
    if base == "te-foo":               # no length: MHD would read the body until the client closes
        return request(api, cl=False, te=b"foo")
    if base == "te-and-cl":
        b = PATHS[api][2]
        return request(api, te=b"chunked", body=b"%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n")
    if base == "chunk-bad":
        return request(api, cl=False, te=b"chunked", body=b"ZZ\r\nabc\r\n0\r\n\r\n")
    if base == "no-colon":
        return request(api, extra=b"ThisLineHasNoColon\r\n")
    if base == "garbage":
        return b"GARBAGE\r\n\r\n"
    if base == "http-2":
        return request(api).replace(b" HTTP/1.1\r\n", b" HTTP/2.0\r\n", 1)
    if base == "nul-escaped":
        return request(api, target_suffix=b"%00.json")
    if base == "nul-raw":
        return request(api, target_suffix=b"\x00.json")
    if base == "ctl-raw":
        return request(api, target_suffix=b"\x01x")
    if base == "headers-300":          # 300 small fields: about 3.4 KB, under max_header_bytes
        return request(api, extra=b"".join(b"X-H%d: v\r\n" % i for i in range(300)))
    if base == "header-30k":           # past twice max_header_bytes: MHD's own HTML 431 before the gate
        return request(api, extra=b"X-Big: " + b"a" * 30000 + b"\r\n")
    if base == "ok":
        return request(api, extra=b"Connection: close\r\n")
    raise SystemExit("unknown case " + name)


def shape(d):
    if not isinstance(d, dict):
        return "other"
    e = d.get("error")
    if d.get("type") == "error" and isinstance(e, dict) and isinstance(e.get("type"), str) \
            and isinstance(e.get("message"), str) and set(d) == {"type", "error"}:
        return "anthropic"
    if isinstance(e, dict) and isinstance(e.get("code"), int) and isinstance(e.get("message"), str) \
            and isinstance(e.get("status"), str):
        return "gemini"
    if isinstance(e, dict) and isinstance(e.get("message"), str) and "type" in e and "param" in e \
            and "code" in e:
        return "openai"
    return "other"


second = case.startswith("second-")
raw = request(api_of(case)[0]) + build(case[7:]) if second else build(case)
s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
try:
    s.sendall(raw)
except OSError:
    pass
got = b""
closed = False
deadline = time.monotonic() + timeout
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    except OSError:            # a reset counts as closed
        closed = True
        break
    if not d:
        closed = True
        break
    got += d
s.close()

out = {"status": None, "closed": closed, "heads": len(re.findall(rb"(?:^|\r\n)HTTP/1\.[01] \d{3} ", got)),
       "well_formed": False, "problems": [], "content_type": None, "connection": None, "body": None,
       "shape": "other", "bytes": len(got)}
problems = out["problems"]
if second:                     # drop the first answer (a 200 with a Content-Length)
    head, sep, rest = got.partition(b"\r\n\r\n")
    m = re.search(rb"\r\nContent-Length: *(\d+)", head, re.I)
    if not got.startswith(b"HTTP/1.1 200 ") or not m:
        problems.append("the first request was not answered 200")
        got = b""
    else:
        got = rest[int(m.group(1)):]
    out["heads"] = len(re.findall(rb"(?:^|\r\n)HTTP/1\.[01] \d{3} ", got))
    out["bytes"] = len(got)
if got:
    head, sep, body = got.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3}) [^\r\n]*$", lines[0])
    if not m:
        problems.append("first line is not a status line")
    else:
        out["status"] = int(m.group(1))
    if not sep:
        problems.append("no end of the header block")
    headers = {}
    for ln in lines[1:]:
        name, colon, value = ln.partition(b":")
        if not colon or not name or name != name.strip():
            problems.append("bad header line %r" % ln[:60])
            continue
        headers.setdefault(name.decode("latin1").lower(), []).append(value.strip().decode("latin1"))
    for h in ("content-length", "content-type"):
        if len(headers.get(h, [])) > 1:
            problems.append("%s given %d times" % (h, len(headers[h])))
    out["content_type"] = (headers.get("content-type") or [None])[0]
    out["connection"] = (headers.get("connection") or [None])[0]
    cl = (headers.get("content-length") or [None])[0]
    if cl is None or not cl.isdigit():
        problems.append("no valid Content-Length")
    elif int(cl) != len(body):
        problems.append("Content-Length %s but %d body bytes follow" % (cl, len(body)))
    if out["heads"] != 1:
        problems.append("%d status lines" % out["heads"])
    try:
        out["body"] = json.loads(body)
        out["shape"] = shape(out["body"])
    except ValueError:
        out["body"] = body.decode("latin1")
out["well_formed"] = bool(got) and not problems
print(json.dumps(out))
