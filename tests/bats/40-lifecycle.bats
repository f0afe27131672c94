#!/usr/bin/env bats
# relayd's life cycle and money: SIGTERM drain (503 on open connections, grace, interrupted
# streams, second signal), clients that leave, upstream timeouts, request limits. Each test checks
# the books too: token used quota = sum of logged charges.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  USER_QUOTA0=100000000
}

teardown() {
  relay_teardown
}

# wait_logs N: waits (bounded) until the logs table holds N request rows (consume or error)
wait_logs() {
  wait_until "$(_relay_scale 10)" sh -c "[ \"\$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM logs WHERE type IN (2,5)\").fetchone()[0])' '${RELAY_DB#sqlite:}')\" -ge $1 ]"
}

# books_balance: token and user used quota = sum of the logged charges; user quota moved by as much
books_balance() {
  local logged tok usr uq
  logged=$(sql 'SELECT COALESCE(sum(quota),0) FROM logs WHERE type IN (2,5)')
  tok=$(sql 'SELECT used_quota FROM tokens')
  usr=$(sql 'SELECT used_quota FROM users')
  uq=$(sql 'SELECT quota FROM users')
  echo "books: logged=$logged token_used=$tok user_used=$usr user_quota=$uq" >&2
  [ "$logged" = "$tok" ] && [ "$logged" = "$usr" ] && [ $((uq + logged)) = "$USER_QUOTA0" ]
}

# rsql QUERY: sql over the request rows only; write "reqlogs" for them (gwctl's own rows are left out)
rsql() {
  sql "${1//reqlogs/(SELECT * FROM logs WHERE type IN (2,5))}"
}

# blackhole_start SECONDS: a port whose accept queue is full, so connecting to it times out; for
# SECONDS. Sets bh (its pid; kill it at the end) and writes the port to $BATS_TEST_TMPDIR/blackhole.port.
blackhole_start() {
  python3 - "$BATS_TEST_TMPDIR/blackhole.port" "$1" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    fill.append(c)
open(sys.argv[1], "w").write(str(port))
time.sleep(float(sys.argv[2]))
PY
  bh=$!
  wait_until 5 test -s "$BATS_TEST_TMPDIR/blackhole.port"
}

# chat BODY [curl args...]: sets status_code, body, headers
chat() {
  local data=$1; shift
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -o "$out.body" -D "$out.headers" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$data" "$@") || true
  body=$(cat "$out.body" 2>/dev/null || true)
  headers=$(tr -d '\r' < "$out.headers" 2>/dev/null || true)
}

admin() {
  python3 - "$RELAY_SOCKET" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write(sys.argv[2] + "\n"); f.flush(); print(f.readline().strip())
EOF
}

# relayd_wait_exit SECONDS: waits for relayd (already signalled) to exit; prints its status
relayd_wait_exit() {
  local i limit=$(( $1 * 10 ))
  for ((i = 0; i < limit; i++)); do [ -e "$BATS_TEST_TMPDIR/relayd.rc" ] && break; sleep 0.1; done
  [ -e "$BATS_TEST_TMPDIR/relayd.rc" ] || { echo "relayd still running" >&2; return 1; }
  cat "$BATS_TEST_TMPDIR/relayd.rc"
}

@test "SIGTERM: in-flight stream finishes; an open connection gets 503 in the API's shape; new connections refused; exit 0" {
  relayd_start --shutdown-grace-s 20
  run python3 - "$RELAY_PORT" "$KEY" "$RELAYD_PID" <<'PY'
import http.client, json, os, signal, socket, sys, time
port, key, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
H = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
# a stream of 10 events, 200 ms apart
s1 = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
s1.request("POST", "/v1/chat/completions", json.dumps({"model": "gpt-4o-mini", "stream": True,
           "messages": [{"role": "user", "content": "hi"}], "mock": {"chunks": 10, "chunk_gap_ms": 200}}), H)
r1 = s1.getresponse(); assert r1.status == 200, r1.status
first = r1.readline()
assert first.startswith(b"data: "), first
# a kept-alive connection that served one request
c2 = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c2.request("POST", "/v1/chat/completions", json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}), H)
r2 = c2.getresponse(); r2.read(); assert r2.status == 200, r2.status
os.kill(pid, signal.SIGTERM)
time.sleep(0.5)
# the open connection: 503 in OpenAI's error shape, connection closed after it
c2.request("POST", "/v1/chat/completions", json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}), H)
r3 = c2.getresponse(); b3 = json.loads(r3.read())
print("open-conn", r3.status, b3["error"]["code"], r3.getheader("Connection"))
# a new connection is refused: the listeners are closed
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close(); print("new-conn accepted")
except OSError as e:
    print("new-conn refused")
rest = r1.read().decode()
print("stream-done", "[DONE]" in rest, rest.count("data: {"))
PY
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"open-conn 503 shutting_down close"* ]]
  [[ "$output" == *"new-conn refused"* ]]
  [[ "$output" == *"stream-done True"* ]]
  [ "$(relayd_wait_exit "$(_relay_scale 15)")" = 0 ]
  rm -f "$BATS_TEST_TMPDIR/relayd.pid"
  # both relayed requests are on disk, the stream ended done; the 503 costs nothing and is not a row
  [ "$(rsql 'SELECT count(*) FROM reqlogs WHERE type IN (2,5)')" = 2 ]
  [ "$(rsql "SELECT end_reason FROM reqlogs WHERE is_stream=1")" = done ]
  [ "$(sql 'SELECT count(*) FROM reservations')" = 0 ]
  books_balance
}

@test "SIGTERM past shutdown_grace_s: the stream gets an error event and is billed for what was sent; a waiting request gets 503 and costs nothing" {
  relayd_start --shutdown-grace-s 1
  out="$BATS_TEST_TMPDIR/stream.out"
  curl -sN "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -o "$out" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":100,"chunk_gap_ms":100}}' &
  spid=$!
  curl -s "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -o "$BATS_TEST_TMPDIR/wait.out" \
    -w '%{http_code}' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"delay_ms":20000}}' \
    > "$BATS_TEST_TMPDIR/wait.code" &
  wpid=$!
  wait_until 5 grep -q '^data: ' "$out"
  sleep 0.3
  kill -TERM "$RELAYD_PID"
  [ "$(relayd_wait_exit "$(_relay_scale 15)")" = 0 ]
  rm -f "$BATS_TEST_TMPDIR/relayd.pid"
  wait $spid $wpid || true
  # the stream: some events, then an error event saying why, no [DONE]
  grep '^data: {"error"' "$out" | sed 's/^data: //' | $JGET 'd["error"]["code"]' | grep -qx interrupted
  ( ! grep -q 'DONE' "$out" )
  [ "$(cat "$BATS_TEST_TMPDIR/wait.code")" = 503 ]
  [ "$($JGET 'd["error"]["code"]' < "$BATS_TEST_TMPDIR/wait.out")" = shutting_down ]
  # both settled as interrupted: the stream charged for what it sent, the waiting one nothing
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE end_reason='interrupted'")" = 2 ]
  [ "$(rsql "SELECT quota > 0, completion_tokens > 0, usage_source FROM reqlogs WHERE is_stream=1")" = "$(printf '1\t1\tlocal')" ]
  [ "$(rsql "SELECT quota, status FROM reqlogs WHERE is_stream=0")" = "$(printf '0\t503')" ]
  grep -q 'draining' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(sql 'SELECT count(*) FROM reservations')" = 0 ]
  books_balance
}

@test "a second SIGTERM stops at once, still writing what was settled" {
  relayd_start --shutdown-grace-s 60
  out="$BATS_TEST_TMPDIR/stream.out"
  curl -sN "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -o "$out" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":200,"chunk_gap_ms":100}}' &
  spid=$!
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  wait_until 5 grep -q '^data: ' "$out"
  kill -TERM "$RELAYD_PID"
  sleep 0.5
  # still draining (the grace is 60 s): the first signal alone does not end the stream
  [ ! -e "$BATS_TEST_TMPDIR/relayd.rc" ]
  t0=$(date +%s%N)
  kill -TERM "$RELAYD_PID"
  [ "$(relayd_wait_exit "$(_relay_scale 5)")" = 0 ]
  t1=$(date +%s%N)
  rm -f "$BATS_TEST_TMPDIR/relayd.pid"
  echo "stopped $(( (t1 - t0) / 1000000 )) ms after the second signal" >&2
  [ $(( (t1 - t0) / 1000000 )) -lt "$(_relay_scale 3000)" ]
  wait $spid || true
  grep -q 'second signal' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(rsql "SELECT end_reason FROM reqlogs WHERE is_stream=1")" = interrupted ]
  [ "$(rsql "SELECT end_reason FROM reqlogs WHERE is_stream=0")" = done ]
  books_balance
}

@test "a client that leaves while the upstream is silent: upstream aborted at once, billed for what it got, client_gone" {
  relayd_start
  # silent before the first byte: nothing produced, nothing charged
  run curl -sN --max-time 1 "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"first_byte_ms":8000}}'
  # silent after two events: billed for the words it got
  run curl -sN --max-time 1 "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":5,"stall_after":2,"stall_ms":8000}}'
  # a non-streaming request whose client gives up
  run curl -s --max-time 1 "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"delay_ms":8000}}'
  wait_logs 3
  rsql 'SELECT is_stream, end_reason, elapsed_ms, quota, completion_tokens, status FROM reqlogs ORDER BY id' >&2
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE end_reason='client_gone'")" = 3 ]
  # curl gave up after 1000 ms (counted from before it connected); relayd noticed within 100 ms
  limit=$((1000 + $(_relay_scale 100)))
  [ "$(rsql "SELECT max(elapsed_ms) FROM reqlogs")" -lt "$limit" ]
  [ "$(rsql "SELECT quota, status FROM reqlogs WHERE completion_tokens = 0 AND is_stream=1")" = "$(printf "0\t499")" ]
  [ "$(rsql "SELECT quota > 0, completion_tokens, status, usage_source FROM reqlogs WHERE is_stream=1 AND completion_tokens > 0")" = "$(printf '1\t3\t200\tlocal')" ]
  [ "$(rsql "SELECT quota, status FROM reqlogs WHERE is_stream=0")" = "$(printf '0\t499')" ]
  # the upstream transfers are closed (not waiting out the mock's 8 s)
  [ "$(admin '{"cmd":"stats"}' | $JGET 'sum(c["in_flight"] for c in d["channels"])')" = 0 ]
  books_balance
}

@test "upstream timeouts: first byte and connect are a 504 before the first byte; idle and total are an error event after it" {
  blackhole_start 60
  printf 'k\n' | gwctl channel add --name hole --type openai \
    --base-url "http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/blackhole.port")" --models hole-model
  gwctl pricing set hole-model --model-ratio 1 >/dev/null 2>&1 || sql "INSERT INTO prices(model, model_ratio, completion_ratio) VALUES ('hole-model', 1, 1)"
  relayd_start --first-byte-timeout-s 1 --stream-idle-timeout-s 1 --stream-timeout-s 3 --connect-timeout-ms 500
  before=$(sql 'SELECT quota FROM users')

  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"first_byte_ms":5000}}'
  [ "$status_code" = 504 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = upstream_timeout ]
  [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"first_byte_timeout_s"* ]]

  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":5,"stall_after":2,"stall_ms":4000}}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep '^data: {"error"' | sed 's/^data: //' > "$BATS_TEST_TMPDIR/idle.err"
  [ "$($JGET 'd["error"]["code"]' < "$BATS_TEST_TMPDIR/idle.err")" = upstream_timeout ]
  [[ "$($JGET 'd["error"]["message"]' < "$BATS_TEST_TMPDIR/idle.err")" == *"stream_idle_timeout_s"* ]]

  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":100,"chunk_gap_ms":200}}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep '^data: {"error"' | sed 's/^data: //' > "$BATS_TEST_TMPDIR/total.err"
  [[ "$($JGET 'd["error"]["message"]' < "$BATS_TEST_TMPDIR/total.err")" == *"stream_timeout_s"* ]]
  ( ! printf '%s\n' "$body" | grep -q DONE )

  chat '{"model":"hole-model","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 504 ]
  [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"connect_timeout_ms"* ]]
  kill $bh 2>/dev/null || true

  wait_logs 4
  rsql 'SELECT model_name, is_stream, status, end_reason, quota, completion_tokens, elapsed_ms FROM reqlogs ORDER BY id' >&2
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE end_reason='timeout'")" = 4 ]
  # before the first byte nothing is charged; after it, what was sent
  [ "$(rsql "SELECT quota FROM reqlogs WHERE status=504 AND is_stream=1")" = 0 ]
  [ "$(rsql "SELECT quota FROM reqlogs WHERE model_name='hole-model'")" = 0 ]
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE status=200 AND quota > 0 AND completion_tokens > 0")" = 2 ]
  # the total limit cut the long stream near 3 s, not after its 20 s
  [ "$(rsql "SELECT max(elapsed_ms) FROM reqlogs WHERE status=200")" -lt 6000 ]
  books_balance
}

@test "a connect timeout is retried on another channel" {
  blackhole_start 30
  printf 'k\n' | gwctl channel add --name hole --type openai --priority 10 \
    --base-url "http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/blackhole.port")" --models gpt-4o-mini
  relayd_start --connect-timeout-ms 300
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  kill $bh 2>/dev/null || true
  [ "$status_code" = 200 ]
  wait_logs 1
  [ "$(rsql "SELECT end_reason, content FROM reqlogs")" = "$(printf 'done\tchannels tried: 2 1')" ]
  books_balance
}

@test "limits: a chunked body over max_body_bytes is a 413 while it still arrives (far over: cut off unread); gzip and deflate bodies are inflated within the limit; nothing refused is charged" {
  relayd_start --max-body-bytes 1048576
  # 1.5 MiB chunked: stored up to the limit, answered 413 as soon as it passes it
  head -c 1572864 /dev/zero | tr '\0' x > "$BATS_TEST_TMPDIR/big"
  chat "@$BATS_TEST_TMPDIR/big" -H 'Transfer-Encoding: chunked'
  [ "$status_code" = 413 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = request_too_large ]
  # a chunked body that would go on for 64 MiB: the connection is closed after about 2 MiB
  run python3 - "$RELAY_PORT" "$KEY" <<'PY'
import socket, sys
port, key = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" % key).encode())
chunk = b"x" * 65536
sent, answer = 0, b""
try:
    while sent < 64 * 1048576:
        s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n"); sent += len(chunk)
        if sent == 1536 * 1024:   # half a MiB over the limit, the body still going on: the 413 is there
            s.settimeout(5)
            while b"}" not in answer:
                answer += s.recv(4096)
            s.settimeout(10)
    print("sent all")
except OSError as e:
    print("cut after", sent // 1048576, "MiB")
head, _, body = answer.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode())
print(body.decode())
PY
  echo "$output"
  [[ "${lines[0]}" == "cut after "[2-9]" MiB" ]]
  [ "${lines[1]}" = "HTTP/1.1 413 Content Too Large" ]
  [ "$(echo "${lines[2]}" | $JGET 'd["error"]["code"]')" = request_too_large ]
  # on Anthropic's endpoint the early answer is in Anthropic's format
  code=$(head -c 1572864 /dev/zero | tr '\0' x | curl -s -o "$BATS_TEST_TMPDIR/claude" -w '%{http_code}' \
    "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' \
    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @-)
  [ "$code" = 413 ]
  [ "$($JGET 'd["type"] + " " + d["error"]["type"]' < "$BATS_TEST_TMPDIR/claude")" = "error request_too_large" ]
  # compressed bodies: gzip and deflate are inflated, the upstream gets the plain JSON
  req='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  printf '%s' "$req" | gzip > "$BATS_TEST_TMPDIR/body.gz"
  chat "@$BATS_TEST_TMPDIR/body.gz" -H 'Content-Encoding: gzip'
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["body"]["messages"][0]["content"]')" = hi ]
  printf '%s' "$req" | python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))' \
    > "$BATS_TEST_TMPDIR/body.z"
  chat "@$BATS_TEST_TMPDIR/body.z" -H 'Content-Encoding: deflate'
  [ "$status_code" = 200 ]
  # a bomb: 64 MiB of zeros in about 64 KiB of gzip; max_body_bytes bounds what it inflates to
  head -c 67108864 /dev/zero | gzip -9 > "$BATS_TEST_TMPDIR/bomb.gz"
  [ "$(stat -c %s "$BATS_TEST_TMPDIR/bomb.gz")" -lt 1048576 ]
  chat "@$BATS_TEST_TMPDIR/bomb.gz" -H 'Content-Encoding: gzip'
  [ "$status_code" = 413 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = request_too_large ]
  [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"once inflated"* ]]
  # data that is not gzip, a truncated stream, trailing bytes: 400 with what is wrong
  chat "$req" -H 'Content-Encoding: gzip'
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = invalid_content_encoding ]
  [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"not valid gzip data"* ]]
  head -c 40 "$BATS_TEST_TMPDIR/body.gz" > "$BATS_TEST_TMPDIR/cut.gz"
  chat "@$BATS_TEST_TMPDIR/cut.gz" -H 'Content-Encoding: gzip'
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"ended before the end of its compressed stream"* ]]
  { cat "$BATS_TEST_TMPDIR/body.gz"; printf 'junk'; } > "$BATS_TEST_TMPDIR/tail.gz"
  chat "@$BATS_TEST_TMPDIR/tail.gz" -H 'Content-Encoding: gzip'
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"after the end of its compressed stream"* ]]
  # an encoding relay cannot read is refused before the body is read
  chat "$req" -H 'Content-Encoding: br'
  [ "$status_code" = 415 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = unsupported_content_encoding ]
  # identity is no encoding at all
  chat "$req" -H 'Content-Encoding: identity'
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | wc -l)" -eq 3 ]
  wait_logs 3
  [ "$(rsql 'SELECT count(*) FROM reqlogs')" = 3 ]
  books_balance
}

@test "limits: a header larger than max_header_bytes is a 431; max_connections is enforced" {
  relayd_start --workers 1 --max-connections 16
  big=$(head -c 12000 /dev/zero | tr '\0' a)
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' -H "X-Big: $big"
  [ "$status_code" = 431 ]
  # relay answers it, in the client's own error format, naming the limit
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = request_header_too_large ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'the limit is 8192'
  code=$(curl -s -o "$BATS_TEST_TMPDIR/claude" -w '%{http_code}' "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" \
    -H 'anthropic-version: 2023-06-01' -H "X-Big: $big" -H 'Content-Type: application/json' \
    --data-binary '{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}')
  [ "$code" = 431 ]
  [ "$($JGET 'd["type"] + " " + d["error"]["type"]' < "$BATS_TEST_TMPDIR/claude")" = "error invalid_request_error" ]
  code=$(curl -s -o "$BATS_TEST_TMPDIR/gemini" -w '%{http_code}' \
    "$RELAY_URL/v1beta/models/gpt-4o-mini:generateContent" -H "x-goog-api-key: $KEY" -H "X-Big: $big" \
    -H 'Content-Type: application/json' --data-binary '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}')
  [ "$code" = 431 ]
  [ "$($JGET 'd["error"]["code"]' < "$BATS_TEST_TMPDIR/gemini")" = 431 ]
  # many small headers count the same as one large one
  smalls=()
  for i in $(seq 1 20); do smalls+=(-H "X-Small-$i: $(head -c 500 /dev/zero | tr '\0' b)"); done
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' "${smalls[@]}"
  [ "$status_code" = 431 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = request_header_too_large ]
  # just under the limit in 20 headers is served
  smalls=()
  for i in $(seq 1 20); do smalls+=(-H "X-Small-$i: $(head -c 300 /dev/zero | tr '\0' b)"); done
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' "${smalls[@]}"
  [ "$status_code" = 200 ]
  # past twice the limit libmicrohttpd itself refuses the header (its own body, same status)
  huge=$(head -c 30000 /dev/zero | tr '\0' a)
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' -H "X-Big: $huge"
  [ "$status_code" = 431 ]
  # none of the refused ones reached the upstream
  [ "$(mock_requests up | wc -l)" -eq 1 ]
  run python3 - "$RELAY_PORT" "$KEY" <<'PY'
import socket, sys, time
port, key = int(sys.argv[1]), sys.argv[2]
body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
req = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
       "Content-Length: %d\r\n\r\n" % (key, len(body))).encode() + body
def ask(s):
    try:
        s.sendall(req); d = s.recv(4096); return d.split(b"\r\n")[0].decode() or "closed"
    except OSError as e:
        return "closed"
held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
print("held", sum(ask(s).startswith("HTTP/1.1 200") for s in held))
extra = socket.create_connection(("127.0.0.1", port), timeout=5)
print("17th", ask(extra))
held.pop().close(); time.sleep(0.3)
again = socket.create_connection(("127.0.0.1", port), timeout=5)
print("after", ask(again))
PY
  echo "$output"
  [ "${lines[0]}" = "held 16" ]
  [ "${lines[1]}" = "17th HTTP/1.1 503 Service Unavailable" ]
  [[ "${lines[2]}" == "after HTTP/1.1 200"* ]]
  wait_logs 17
  relayd_stop
  # a larger max_header_bytes lets the same header through
  relayd_start --max-header-bytes 65536
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' -H "X-Big: $big"
  [ "$status_code" = 200 ]
  wait_logs 18
  books_balance
}

@test "limits: slow senders are cut off (header and body), a prompt client is not" {
  relayd_start --client-header-timeout-s 1 --client-body-timeout-s 1
  run python3 - "$RELAY_PORT" "$KEY" <<'PY'
import socket, sys, time
port, key = int(sys.argv[1]), sys.argv[2]
def drip(prefix, rest, gap=0.2, limit=8.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(prefix)
    t0 = time.time()
    for b in rest:
        try:
            s.sendall(bytes([b]))
        except OSError:
            return "cut after %.1f s" % (time.time() - t0)
        time.sleep(gap)
        if time.time() - t0 > limit:
            return "not cut"
    return "not cut (sent all)"
body = ('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"%s"}]}' % ("x" * 100)).encode()
print("header", drip(b"POST /v1/chat/completions HTTP/1.1\r\n", b"Host: x\r\nX-Slow: " + b"y" * 100 + b"\r\n\r\n"))
print("body", drip(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (key, len(body))).encode(), body))
PY
  echo "$output"
  [[ "${lines[0]}" == "header cut after"* ]]
  [[ "${lines[1]}" == "body cut after"* ]]
  grep -q 'client too slow' "$BATS_TEST_TMPDIR/relayd.log"
  # an ordinary request is not affected
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  wait_logs 1
  [ "$(rsql 'SELECT count(*) FROM reqlogs')" = 1 ]
  books_balance
}

@test "reloads while the writer commits under load: every one succeeds, no 'database is locked'" {
  relayd_start
  # eight keep-alive clients sending back to back: the writer has a batch open most of the time
  local stop="$BATS_TEST_TMPDIR/stop"
  python3 "$BATS_TEST_DIRNAME/chat_load.py" "$RELAY_PORT" "$KEY" 8 --until "$stop" --no-check 3>&- &
  local load=$!
  local failed=0 n
  for n in $(seq 1 150); do
    gwctl reload > /dev/null 2>> "$BATS_TEST_TMPDIR/reload.err" || failed=$((failed + 1))
  done
  touch "$stop"
  wait "$load"
  cat "$BATS_TEST_TMPDIR/reload.err"
  [ "$failed" = 0 ]
  ( ! grep -q 'database is locked' "$BATS_TEST_TMPDIR/relayd.log" )
  [ "$(rsql 'SELECT count(*) FROM reqlogs')" -gt 0 ]
  relayd_stop
  books_balance
}
