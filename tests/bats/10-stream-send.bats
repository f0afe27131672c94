#!/usr/bin/env bats
# How a stream's bytes reach the client (issue #26): on an HTTP/1.1 connection relayd writes each
# new chunk on the suspended connection itself (stream.c send_direct, worker.c worker_send_direct)
# instead of resuming libmicrohttpd for it; what the socket does not take waits for EPOLLOUT. These
# tests hold the framing and the billing to that: a client that reads slowly (the socket full, the
# rest kept), one that leaves while a rest waits, and an HTTP/1.0 client (no chunks: MHD sends).

load helpers

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000000
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  export KEY
}

teardown() {
  relay_teardown
}

# wait_logs N: waits (bounded) until the logs table holds N consume/error rows
_logs_at_least() {
  [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" -ge "$1" ]
}
wait_logs() {
  wait_until "$(_relay_scale 10)" _logs_at_least "$1"
}

# slow_client HUGE CHUNKS PAUSE_S MODE: one stream on a socket with a 4 KiB receive buffer, read
# PAUSE_S seconds late and then in 16 KiB pieces; MODE "read": every event is parsed and a second
# request goes on the same connection; MODE "leave": the client closes without reading
slow_client() {
  python3 - "$RELAY_PORT" "$KEY" "$@" <<'EOF'
import http.client, json, socket, sys, time
port, key, huge, chunks, pause, mode = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
c = http.client.HTTPConnection("127.0.0.1", port)
c.sock = s
hdr = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}],
        "mock": {"chunks": chunks, "huge_event": huge}}
c.request("POST", "/v1/chat/completions", json.dumps(body), hdr)
time.sleep(pause)
if mode == "leave":
    s.close()
    sys.exit(0)
r = c.getresponse()
assert r.status == 200, r.status
assert r.getheader("Transfer-Encoding") == "chunked", r.getheaders()
raw = b""
while True:
    piece = r.read(16384)      # http.client undoes the chunks: a broken frame raises here
    if not piece:
        break
    raw += piece
    time.sleep(0.002)
events = [e for e in raw.decode().split("\n\n") if e.strip()]
assert events[-1] == "data: [DONE]", events[-1][:200]
text = ""
for e in events[:-1]:
    assert e.startswith("data: "), e[:200]
    d = json.loads(e[6:])
    for ch in d.get("choices", []):
        text += (ch.get("delta") or {}).get("content") or ""
assert len(text) >= huge + chunks, (len(text), huge, chunks)
# the connection is still in step: the next request on it is answered
c.request("POST", "/v1/chat/completions", json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}), hdr)
r2 = c.getresponse()
b2 = r2.read()
assert r2.status == 200, (r2.status, b2[:200])
json.loads(b2)
print(len(raw), len(text))
EOF
}

@test "a client that reads slowly gets every byte of a large stream in order, and its connection goes on" {
  relayd_start --workers 1
  run slow_client 3000000 20 1.5 read
  echo "$output"
  [ "$status" -eq 0 ]
  wait_logs 2
  [ "$(sql 'SELECT end_reason, status FROM logs WHERE type=2 AND is_stream=1')" = "$(printf 'done\t200')" ]
}

@test "a client that leaves while the rest of a chunk waits: its connection ends, billed as client_gone" {
  relayd_start --workers 1
  run slow_client 3000000 20 1.0 leave
  [ "$status" -eq 0 ]
  wait_logs 1
  [ "$(sql 'SELECT end_reason, status FROM logs WHERE type=2')" = "$(printf 'client_gone\t200')" ]
  # the worker goes on: a stream after it is whole
  run curl -sN --max-time 20 "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":5}}'
  [ "$status" -eq 0 ]
  [[ "$output" == *"data: [DONE]"* ]]
}

@test "an HTTP/1.0 client's stream is sent by libmicrohttpd unchunked, whole" {
  relayd_start --workers 1
  run curl -sN --http1.0 -D "$BATS_TEST_TMPDIR/h" --max-time 20 "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":8,"chunk_gap_ms":20}}'
  [ "$status" -eq 0 ]
  ! grep -qi '^transfer-encoding' "$BATS_TEST_TMPDIR/h"
  [ "$(printf '%s\n' "$output" | grep -c '^data: {')" -ge 9 ]
  [[ "$output" == *"data: [DONE]"* ]]
  wait_logs 1
  [ "$(sql 'SELECT end_reason FROM logs WHERE type=2')" = done ]
}

@test "a stream whose upstream pauses longer than the tick completes, whole, and is billed once" {
  # the worker's 100 ms tick has no timer of its own (worker.c): with one stream quiet for 450 ms
  # between events the worker sleeps in epoll_wait past the tick; each event must still go out when
  # it comes, the end must settle the request once, and nothing may stay reserved
  relayd_start --workers 1
  run curl -sN --max-time 20 "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":4,"chunk_gap_ms":450}}'
  [ "$status" -eq 0 ]
  [ "$(printf '%s\n' "$output" | grep -c '^data: {')" -ge 5 ]
  [ "$(printf '%s\n' "$output" | grep -c '^data: \[DONE\]')" -eq 1 ]
  wait_logs 1
  sleep 0.5        # a second settlement would be a second row: give it time to show
  [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" -eq 1 ]
  [ "$(sql 'SELECT end_reason, status FROM logs WHERE type=2')" = "$(printf 'done\t200')" ]
  [ "$(sql 'SELECT completion_tokens > 0 AND quota > 0 FROM logs WHERE type=2')" = 1 ]
  [ "$(sql 'SELECT count(*) FROM reservations')" -eq 0 ]
  [ "$(sql 'SELECT used_quota FROM users WHERE username='"'"'alice'"'"'')" = "$(sql 'SELECT quota FROM logs WHERE type=2')" ]
}
