#!/usr/bin/env bats
# Hostile clients (issue #18): malformed framing, duplicate headers, oversize and slow inputs sent
# over raw sockets (tests/bats/hostile_http.py, loopback only, every wait bounded). For each: the
# status; that the answer is well-formed HTTP (one status line and header block, a Content-Length
# the body matches, nothing after it); that relay's own answers are JSON in the client's format
# (OpenAI, Anthropic, Gemini); that what libmicrohttpd 0.9.75 answers by itself is exactly what
# doc/design.md lists; and that nothing reached the upstream, was billed or was logged.
# Also: an admin client that does not read, and a low open file limit (ulimit -n).
# On the code before these changes every test here fails (checked with a build of the previous
# commit, RELAY_BIN=...); the MHD answers the third test pins held there as well.

load helpers

HOSTILE="$BATS_TEST_DIRNAME/hostile_http.py"

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
}

teardown() {
  relay_teardown
}

# hostile CASE: sends CASE (hostile_http.py) and leaves its JSON summary in $answer
hostile() {
  answer=$(python3 "$HOSTILE" "$RELAY_PORT" "$KEY" "$1" "$(_relay_scale 5)")
  echo "$1: $answer" >&2
}

# a FIELD: the field of $answer (python expression over d)
a() { echo "$answer" | json_get "$1"; }

# relay_answer STATUS SHAPE: $answer is relay's own: STATUS, well formed, closed, a JSON error in SHAPE
relay_answer() {
  [ "$(a 'd["status"]')" = "$1" ]
  [ "$(a 'd["well_formed"]')" = true ]
  [ "$(a 'd["closed"]')" = true ]
  [ "$(a 'd["content_type"]')" = application/json ]
  [ "$(a 'd["shape"]')" = "$2" ]
}

# mhd_answer STATUS HEADS: libmicrohttpd's own answer (doc/design.md): STATUS, its small HTML body,
# the connection closed, the header block HEADS times (2: MHD's defect with a bad Content-Length)
mhd_answer() {
  [ "$(a 'd["status"]')" = "$1" ]
  [ "$(a 'd["heads"]')" = "$2" ]
  [ "$(a 'd["closed"]')" = true ]
  [ "$(a 'd["content_type"]')" = None ] || [ "$(a 'd["content_type"]')" = null ]
  a 'd["body"]' | grep -q '^<html>'
}

# books N: N requests reached the upstream and were logged, and the quota moved by what they cost
# (token used = user used = sum of logged charges); books 0: nothing reached, billed or logged
books() {
  local logged
  [ "$(mock_requests up | wc -l)" -eq "$1" ]
  wait_until "$(_relay_scale 10)" sql_is "$1" 'SELECT count(*) FROM logs WHERE type IN (2,5)'
  logged=$(sql 'SELECT COALESCE(sum(quota),0) FROM logs WHERE type IN (2,5)')
  [ "$(sql 'SELECT used_quota FROM tokens')" = "$logged" ]
  [ "$(sql 'SELECT used_quota FROM users')" = "$logged" ]
  [ $(( $(sql 'SELECT quota FROM users') + logged )) = 100000000 ]
  if [ "$1" = 0 ]; then [ "$logged" = 0 ]; fi
}

@test "lax framing is refused by relay in the client's format: two Content-Lengths, NUL in the target, Transfer-Encoding, a 20-digit length" {
  relayd_start --workers 1
  for api in openai anthropic gemini; do
    # request smuggling: a proxy in front may frame by the other Content-Length
    hostile "cl-twice-different-$api"
    relay_answer 400 "$api"
    a 'd["body"]' | grep -q 'Content-Length fields with different values'
    # Transfer-Encoding beside Content-Length: the same
    hostile "te-and-cl-$api"
    relay_answer 400 "$api"
    a 'd["body"]' | grep -q 'both Transfer-Encoding and Content-Length'
    # a NUL, escaped or raw, or another control byte in the request target
    for c in nul-escaped nul-raw ctl-raw; do
      hostile "$c-$api"
      relay_answer 400 "$api"
      a 'd["body"]' | grep -q 'control character'
    done
    # an unknown transfer coding has no length: answered at once, not read until the client leaves
    hostile "te-foo-$api"
    relay_answer 501 "$api"
    a 'd["body"]' | grep -q "Transfer-Encoding 'foo' is not supported"
    # a length libmicrohttpd takes (under 2^64) but no body can have: 413 before the body
    hostile "cl-20-digits-$api"
    relay_answer 413 "$api"
    a 'd["body"]' | grep -q 'Content-Length of more than 18 digits'
    # ... and on a kept-alive connection's next request (the access handler's check)
    hostile "second-cl-20-digits-$api"
    relay_answer 413 "$api"
    a 'd["body"]' | grep -q '12345678901234567890 bytes; the limit is 33554432'
    hostile "second-nul-raw-$api"
    relay_answer 400 "$api"
  done
  # the Anthropic and Gemini shapes carry their own fields
  hostile cl-twice-different-anthropic
  [ "$(a 'd["body"]["error"]["type"]')" = invalid_request_error ]
  hostile nul-raw-gemini
  [ "$(a 'd["body"]["error"]["code"]')" = 400 ]
  [ "$(a 'd["body"]["error"]["status"]')" = INVALID_ARGUMENT ]
  books 6                      # the good first requests of the six second-* cases
  # the same Content-Length twice is one length (RFC 9110 8.6): served
  hostile cl-twice-same-anthropic
  [ "$(a 'd["status"]')" = 200 ]
  [ "$(a 'd["well_formed"]')" = true ]
  books 7
}

@test "a connection's first request: what libmicrohttpd would refuse with HTML (or silence) relay refuses in the client's format" {
  relayd_start --workers 1
  for api in openai anthropic gemini; do
    # a Content-Length that is not all digits (MHD: 400 with its header block sent twice)
    for c in cl-negative cl-plus cl-hex; do
      hostile "$c-$api"
      relay_answer 400 "$api"
      a 'd["body"]' | grep -q 'Content-Length must be a decimal number of bytes'
    done
    # all digits past 2^64 (MHD: 413, header block twice)
    hostile "cl-21-digits-$api"
    relay_answer 413 "$api"
    # a header line without a colon (MHD: HTML 400)
    hostile "no-colon-$api"
    relay_answer 400 "$api"
    a 'd["body"]' | grep -q 'has no colon'
    # HTTP/2.0 in an HTTP/1 request line (MHD: HTML 505)
    hostile "http-2-$api"
    relay_answer 505 "$api"
    # 300 small fields, 3.4 KB: under max_header_bytes but more than MHD's pool holds (MHD: HTML 431)
    hostile "headers-300-$api"
    relay_answer 431 "$api"
    a 'd["body"]' | grep -q 'more header fields than the 128 allowed'
  done
  # a request line that is not HTTP (MHD: closed without an answer); no path, so OpenAI's format
  hostile garbage
  relay_answer 400 openai
  a 'd["body"]' | grep -q 'The request line is not HTTP'
  # relayd is still serving
  code=$(curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/models" -H "Authorization: Bearer $KEY")
  [ "$code" = 200 ]
  books 0
}

@test "what libmicrohttpd 0.9.75 still answers itself is exactly what doc/design.md lists, and costs nothing" {
  relayd_start --workers 1
  for api in openai anthropic; do
    # bad chunk syntax in a body: MHD reads bodies, relay only gets the pieces it understood
    hostile "chunk-bad-$api"
    mhd_answer 400 1
    [ "$(a 'd["well_formed"]')" = true ]
    a 'd["body"]' | grep -q 'chunked encoding was syntactically incorrect'
    # a kept-alive connection's next request is read by MHD alone (it reads ahead): its refusals
    for c in cl-negative cl-hex; do
      hostile "second-$c-$api"
      mhd_answer 400 2             # the header block twice: MHD's defect, see doc/design.md
      a 'd["body"]' | grep -q 'wrong value for <b>Content-Length</b>'
    done
    hostile "second-cl-21-digits-$api"
    mhd_answer 413 2
    hostile "second-no-colon-$api"
    mhd_answer 400 1
    hostile "second-http-2-$api"
    mhd_answer 505 1
    hostile "second-headers-300-$api"
    mhd_answer 431 1
    hostile "second-garbage-$api"
    [ "$(a 'd["bytes"]')" = 0 ]
    [ "$(a 'd["closed"]')" = true ]
    # what relay checks in its access handler holds on later requests too, in the client's format
    hostile "second-cl-twice-different-$api"
    relay_answer 400 "$api"
    hostile "second-te-foo-$api"
    relay_answer 501 "$api"
  done
  # the list in doc/design.md names these
  doc="$BATS_TEST_DIRNAME/../../doc/design.md"
  for s in 'Content-Length that is not all digits' 'past 2^64' 'without a colon' 'chunk syntax' \
           'HTTP version' 'request line that is not HTTP' '431' 'kept-alive'; do
    sed -n '/^### The gate, and what libmicrohttpd answers itself/,/^## /p' "$doc" | tr -s ' \n' '  ' | grep -qF -- "$s"
  done
  # each good first request was served and billed; nothing else was
  books 18
}

@test "slow and oversize inputs: a header dribbled past client_header_timeout_s is cut off (logged), a 30 KB header is a 431 in the client's format; a prompt client is served" {
  relayd_start --workers 1 --client-header-timeout-s 1
  # one byte every 0.2 s: still sending its first header when the limit passes
  run python3 - "$RELAY_PORT" "$(_relay_scale 10)" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=float(sys.argv[2]))
req, end = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 200, time.monotonic() + float(sys.argv[2])
for b in req:
    try:
        s.send(bytes([b]))
    except OSError:
        break
    time.sleep(0.2)
    if time.monotonic() > end:
        break
try:
    got = s.recv(4096)
    print("closed" if got == b"" else "answered " + got[:40].decode("latin1"))
except OSError as e:
    print("closed")
PY
  echo "$output"
  [ "$output" = closed ]
  grep -q 'client too slow: connection closed.*waiting_for=header' "$BATS_TEST_TMPDIR/relayd.log"
  # a header past twice max_header_bytes (MHD answered its HTML 431 before relay saw it)
  for api in openai anthropic gemini; do
    hostile "header-30k-$api"
    relay_answer 431 "$api"
    a 'd["body"]' | grep -q 'the limit is 8192'
  done
  # meanwhile a prompt client is served
  hostile ok-anthropic
  [ "$(a 'd["status"]')" = 200 ]
  [ "$(a 'd["well_formed"]')" = true ]
  books 1
}

@test "max_connections: the 503 is in the client's format (Anthropic, Gemini) and is logged once a second at most" {
  relayd_start --workers 1 --max-connections 16
  run python3 - "$RELAY_PORT" "$KEY" <<'PY'
import json, socket, sys
port, key = int(sys.argv[1]), sys.argv[2]
body = b'{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
def req(path, auth):
    return ("POST %s HTTP/1.1\r\nHost: x\r\n%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (path, auth, len(body))).encode() + body
claude = req("/v1/messages", "x-api-key: %s\r\nanthropic-version: 2023-06-01" % key)
gemini = req("/v1beta/models/gpt-4o-mini:generateContent", "x-goog-api-key: %s" % key)
held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
for s in held:
    s.sendall(claude)
    assert s.recv(65536).startswith(b"HTTP/1.1 200 "), "held"
for name, r in (("anthropic", claude), ("gemini", gemini)):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(r)
    got = b""
    while True:
        d = s.recv(65536)
        if not d: break
        got += d
    head, _, b = got.partition(b"\r\n\r\n")
    print(name, head.split(b"\r\n")[0].decode())
    print(json.dumps(json.loads(b)))
PY
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "anthropic HTTP/1.1 503 Service Unavailable" ]
  [ "$(echo "${lines[1]}" | json_get 'd["type"] + " " + d["error"]["type"]')" = "error overloaded_error" ]
  [ "${lines[2]}" = "gemini HTTP/1.1 503 Service Unavailable" ]
  [ "$(echo "${lines[3]}" | json_get 'd["error"]["status"]')" = UNAVAILABLE ]
  grep -q 'max_connections reached' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(grep -c 'max_connections reached' "$BATS_TEST_TMPDIR/relayd.log")" -le 2 ]
}

@test "a low open file limit lowers max_connections (logged); connections past it get a 503 and a log line, not a hang" {
  ulimit -n 256
  relayd_start --workers 1
  grep 'max_connections lowered' "$BATS_TEST_TMPDIR/relayd.log"
  n=$(sed -n 's/.*max_connections lowered.* effective=\([0-9]*\) open_file_limit=256 .*/\1/p' "$BATS_TEST_TMPDIR/relayd.log")
  [ -n "$n" ] && [ "$n" -ge 8 ] && [ "$n" -lt 128 ]
  run python3 - "$RELAY_PORT" "$KEY" "$n" <<'PY'
import socket, sys
port, key, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
req = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
       "Content-Length: %d\r\n\r\n" % (key, len(body))).encode() + body
held, codes = [], []
for _ in range(n + 10):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    held.append(s)
    s.sendall(req)
    try:
        codes.append(s.recv(65536).split(b"\r\n")[0].decode() or "closed")
    except OSError as e:
        codes.append("no answer: %s" % e)
print("ok", sum(c.startswith("HTTP/1.1 200 ") for c in codes))
print("busy", sum(c.startswith("HTTP/1.1 503 ") for c in codes))
print("other", [c for c in codes if not c.startswith(("HTTP/1.1 200 ", "HTTP/1.1 503 "))])
PY
  echo "$output"
  [ "${lines[0]}" = "ok $n" ]
  [ "${lines[1]}" = "busy 10" ]
  [ "${lines[2]}" = "other []" ]
  grep -q 'max_connections reached' "$BATS_TEST_TMPDIR/relayd.log"
  # too low for anything: relayd says so and does not start
  relayd_stop
  run bash -c "ulimit -n 40; exec '$RELAY_BIN/relayd' --listen 127.0.0.1:0 --db '$RELAY_DB' --admin-socket '$RELAY_SOCKET' --workers 1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"open file limit (40) leaves no room for client connections"* ]]
}

@test "an admin client that does not read its replies stalls nothing and is dropped; SIGTERM is not held up" {
  relayd_start --workers 1
  # a client that sends thousands of requests and reads none of the replies
  python3 - "$RELAY_SOCKET" "$BATS_TEST_TMPDIR/slow.sent" "$(_relay_scale 60)" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.setblocking(False)
line, sent, t_end = b'{"cmd":"status"}\n' * 64, 0, time.monotonic() + 5
while time.monotonic() < t_end:         # until relayd stops taking them (bounded)
    try: sent += s.send(line)
    except BlockingIOError: time.sleep(0.05)
    except OSError: break
open(sys.argv[2], "w").write(str(sent))
time.sleep(float(sys.argv[3]))          # held open, never read
PY
  slow=$!
  wait_until "$(_relay_scale 10)" test -s "$BATS_TEST_TMPDIR/slow.sent"
  # the admin thread still answers everyone else at once
  run timeout "$(_relay_scale 10)" "$RELAY_BIN/gwctl" status
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *version* ]]
  # and drops the client that does not read
  wait_until "$(_relay_scale 30)" grep -q 'admin client does not read its replies: dropped' "$BATS_TEST_TMPDIR/relayd.log"
  kill "$slow" 2>/dev/null || true
  # a second one, still stuck when SIGTERM comes: relayd stops within relayd_stop's bound, status 0
  rm -f "$BATS_TEST_TMPDIR/slow.sent"
  python3 - "$RELAY_SOCKET" "$BATS_TEST_TMPDIR/slow.sent" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.setblocking(False)
line, sent, t_end = b'{"cmd":"stats"}\n' * 64, 0, time.monotonic() + 5
while time.monotonic() < t_end:
    try: sent += s.send(line)
    except BlockingIOError: time.sleep(0.05)
    except OSError: break
open(sys.argv[2], "w").write(str(sent))
time.sleep(60)
PY
  slow=$!
  wait_until "$(_relay_scale 10)" test -s "$BATS_TEST_TMPDIR/slow.sent"
  relayd_stop
  kill "$slow" 2>/dev/null || true
  grep -q 'msg="stopping"' "$BATS_TEST_TMPDIR/relayd.log"
}
