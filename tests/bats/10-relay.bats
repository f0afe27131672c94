#!/usr/bin/env bats
# relayd end to end: a real relayd process, the mock upstream over HTTP, gwctl for provisioning.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini,gpt-4o,text-embedding-3-small,gpt-3.5-turbo-instruct
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
}

teardown() {
  relay_teardown
}

# chat BODY [curl args...]: POST /v1/chat/completions with the test key; sets $status_code, $body, $headers
chat() {
  local data=$1; shift
  post /v1/chat/completions "$data" -H "Authorization: Bearer $KEY" "$@"
}

post() {
  local path=$1 data=$2; shift 2
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -o "$out.body" -D "$out.headers" -w '%{http_code}' "$RELAY_URL$path" \
    -H 'Content-Type: application/json' --data-binary "$data" "$@")
  body=$(cat "$out.body")
  headers=$(cat "$out.headers")
}

# wait_logs N: waits (bounded) until the logs table holds N consume/error rows
wait_logs() {
  for _ in $(seq 1 50); do
    [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" -ge "$1" ] && return 0
    sleep 0.1
  done
  echo "expected $1 request log rows, have $(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" >&2
  return 1
}

admin() {
  python3 - "$RELAY_SOCKET" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write(sys.argv[2] + "\n"); f.flush(); print(f.readline().strip())
EOF
}

@test "non-streaming chat is relayed, billed by the formula and logged" {
  relayd_start
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"prompt_tokens":1000,"completion_tokens":200}}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["role"]')" = assistant ]
  echo "$headers" | grep -qi '^x-request-id: [0-9a-f]'
  echo "$headers" | grep -qi '^content-type: application/json'
  rid=$(echo "$headers" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-request-id"{print $2}')
  # the upstream got the channel's key, not the client's
  mock_requests up | tail -1 | $JGET 'd["headers"]["authorization"]' | grep -qx 'Bearer sk-upstream-1'
  wait_logs 1
  run gwctl log list --json --request-id "$rid"
  [ "$status" -eq 0 ]
  row=$(echo "$output" | $JGET 'd[0]')
  # (1000 + 200 * 4) * 0.075 * 1 = 135
  [ "$(echo "$row" | $JGET 'd["quota"]')" = 135 ]
  [ "$(echo "$row" | $JGET 'd["prompt_tokens"]')" = 1000 ]
  [ "$(echo "$row" | $JGET 'd["completion_tokens"]')" = 200 ]
  [ "$(echo "$row" | $JGET 'd["status"]')" = 200 ]
  [ "$(echo "$row" | $JGET 'd["is_stream"]')" = false ]
  [ "$(echo "$row" | $JGET 'd["model"]')" = gpt-4o-mini ]
  [ "$(echo "$row" | $JGET 'd["token_name"]')" = t1 ]
  [ "$(echo "$row" | $JGET 'd["channel_id"]')" = 1 ]
  [ "$(echo "$row" | $JGET 'd["type"]')" = consume ]
  [ "$(echo "$row" | $JGET 'd["end_reason"]')" = done ]
  [ "$(echo "$row" | $JGET 'd["usage_source"]')" = upstream ]
  run gwctl token show t1 --json
  [ "$(echo "$output" | $JGET 'd["used_quota"]')" = 135 ]
  [ "$(echo "$output" | $JGET 'd["remain_quota"]')" = $((50000000 - 135)) ]
  [ "$(sql "SELECT quota, used_quota, request_count FROM users WHERE username='alice'")" = "$(printf '%s\t135\t1' $((100000000 - 135)))" ]
}

@test "a stream is relayed event by event; the usage chunk is hidden unless asked for" {
  relayd_start
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":4,"prompt_tokens":100,"completion_tokens":40}}'
  [ "$status_code" = 200 ]
  echo "$headers" | grep -qi '^content-type: text/event-stream'
  echo "$headers" | grep -qi '^cache-control: no-cache'
  [ "$(printf '%s\n' "$body" | grep -c '^data: ')" -eq 6 ]       # role + 4 words + [DONE]
  ( ! printf '%s\n' "$body" | grep -q '"usage":{' )
  [ "$(printf '%s\n' "$body" | grep '^data: ' | tail -1)" = 'data: [DONE]' ]
  # relay asked the upstream for usage on the client's behalf
  mock_requests up | tail -1 | $JGET 'd["body"]["stream_options"]["include_usage"]' | grep -qx true

  chat '{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":4,"prompt_tokens":100,"completion_tokens":40}}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep '^data: {' | tail -1 | sed 's/^data: //' | $JGET 'd["usage"]["completion_tokens"]' | grep -qx 40
  wait_logs 2
  # (100 + 40 * 4) * 0.075 = 19.5 -> 20, twice
  [ "$(sql 'SELECT group_concat(quota), group_concat(is_stream), group_concat(usage_source) FROM logs WHERE type=2')" = "$(printf '20,20\t1,1\tupstream,upstream')" ]
}

@test "an HTTP/1.0 client gets a stream unchunked and whole, an event longer than a callback block included" {
  # HTTP/1.0 has no chunked coding: libmicrohttpd then fills the answer through its callback
  # block (stream.c STREAM_BLOCK, 512 bytes), so a 5,000-byte event takes many calls
  relayd_start
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":3,"huge_event":5000}}' --http1.0
  [ "$status_code" = 200 ]
  ( ! echo "$headers" | grep -qi '^transfer-encoding:' )
  [ "$(printf '%s\n' "$body" | grep '^data: ' | tail -1)" = 'data: [DONE]' ]
  # every event is whole JSON; the long one's content is the 5,000 bytes the mock sent
  local n=0 long=0 ev len
  while IFS= read -r ev; do
    [ "$ev" = '[DONE]' ] && continue
    len=$(printf '%s' "$ev" | $JGET 'len(d["choices"][0]["delta"].get("content") or "")')
    n=$((n + 1))
    [ "$len" -eq 5000 ] && long=$((long + 1))
  done < <(printf '%s\n' "$body" | sed -n 's/^data: //p')
  [ "$long" -eq 1 ]
  [ "$n" -ge 5 ]      # role, the long event, three words, the finish chunk
}

@test "events reach the client before the upstream finishes" {
  relayd_start
  # 3 chunks 400 ms apart: the first event must arrive long before the last
  curl -sN "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":3,"chunk_gap_ms":400}}' |
    python3 -c '
import sys, time
t0 = time.time(); times = []
for line in sys.stdin:
    if line.startswith("data: "): times.append(time.time() - t0)
print(len(times), times[0], times[-1])
assert len(times) == 5, times
assert times[-1] - times[0] > 0.7, times
'
}

@test "completions and embeddings are relayed and billed" {
  relayd_start
  post /v1/completions '{"model":"gpt-3.5-turbo-instruct","prompt":"say hi","mock":{"prompt_tokens":300,"completion_tokens":30}}' -H "Authorization: Bearer $KEY"
  [ "$status_code" = 200 ]
  echo "$body" | $JGET 'd["choices"][0]["text"]' | grep -q hello
  post /v1/embeddings '{"model":"text-embedding-3-small","input":["a","b"],"mock":{"prompt_tokens":1000}}' -H "Authorization: Bearer $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'len(d["data"])')" = 2 ]
  wait_logs 2
  # completions: (300 + 30 * 1.3333) * 0.75 = 254.99925 -> 255 ; embeddings: 1000 * 0.01 = 10
  [ "$(sql "SELECT group_concat(model_name || '=' || quota) FROM (SELECT * FROM logs WHERE type=2 ORDER BY id) l")" = "gpt-3.5-turbo-instruct=255,text-embedding-3-small=10" ]
}

@test "a failing channel is retried on a healthy one; never retried once disabled by retry_times=0" {
  mock_start bad --status 500
  printf 'k\n' | gwctl channel add --name broken --type openai --base-url "http://127.0.0.1:$MOCK_BAD_PORT" \
    --models gpt-4.1 --priority 10
  printf 'k\n' | gwctl channel add --name healthy --type openai --base-url "http://127.0.0.1:$MOCK_UP_PORT" \
    --models gpt-4.1 --priority 0
  relayd_start
  chat '{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(mock_requests bad | wc -l)" -eq 1 ]          # tried first: higher priority
  [ "$(mock_requests up | wc -l)" -eq 1 ]
  wait_logs 1
  [ "$(sql 'SELECT channel_id, content FROM logs WHERE type=2')" = "$(printf '3\tchannels tried: 2 3')" ]

  sql "INSERT INTO options(key, value) VALUES ('retry_times', '0')"
  admin '{"cmd":"reload"}' | grep -q '"ok":true'
  chat '{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 502 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'answered 500'
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = upstream_error ]
  [ "$(mock_requests up | wc -l)" -eq 1 ]
  wait_logs 2
  # the failed request is logged as an error and charged nothing
  [ "$(sql 'SELECT type, quota, status FROM logs WHERE type=5')" = "$(printf '5\t0\t502')" ]
}

@test "connect errors are retried; an unreachable lone channel is a 502" {
  printf 'k\n' | gwctl channel add --name dead --type openai --base-url "http://127.0.0.1:1" --models gpt-4o --priority 5
  relayd_start
  before=$(sql 'SELECT quota FROM users')
  chat '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]       # dead (prio 5) then c1
  post /v1/chat/completions '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}' -H "Authorization: Bearer $KEY-2"
  [ "$status_code" = 403 ]       # pinning needs an admin key
  sql "UPDATE users SET role=10"
  admin '{"cmd":"reload"}' | grep -q '"ok":true'
  post /v1/chat/completions '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}' -H "Authorization: Bearer $KEY-2"
  [ "$status_code" = 502 ]       # pinned to the dead channel: no retry
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = upstream_unreachable ]
  wait_logs 2
  [ "$(sql 'SELECT count(*) FROM logs WHERE type=5 AND channel_id=2 AND quota=0')" = 1 ]
}

@test "model mapping sends the upstream name and bills the requested one" {
  printf 'k\n' | gwctl channel add --name mapped --type openai --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models gpt-4.1 --model-map '{"gpt-4.1":"my-local-model"}'
  relayd_start
  chat '{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}],"mock":{"prompt_tokens":10,"completion_tokens":10}}'
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["body"]["model"]')" = my-local-model ]
  wait_logs 1
  # gpt-4.1: (10 + 10 * 4) * 1 = 50
  [ "$(sql 'SELECT model_name, upstream_model, quota FROM logs WHERE type=2')" = "$(printf 'gpt-4.1\tmy-local-model\t50')" ]
}

@test "bad input gets its status and message, and costs nothing" {
  relayd_start
  before=$(sql 'SELECT quota FROM users')
  chat '{"model":'
  [ "$status_code" = 400 ]; echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'not valid JSON'
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = invalid_request_error ]
  chat '{"messages":[{"role":"user","content":"x"}]}'
  [ "$status_code" = 400 ]; [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = model ]
  chat '{"model":"gpt-4o-mini"}'
  [ "$status_code" = 400 ]; [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = messages ]
  chat '{"model":"gpt-4o-mini","messages":[{}],"stream":"yes"}'
  [ "$status_code" = 400 ]; [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = stream ]
  chat '{"model":"unknown-model","messages":[{}]}'
  [ "$status_code" = 404 ]; [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = model_not_found ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q "serves it"
  post /v1/chat/completions '{}' -H "Authorization: Bearer sk-wrongwrongwrong"
  [ "$status_code" = 401 ]; [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = invalid_api_key ]
  post /v1/chat/completions '{}'
  [ "$status_code" = 401 ]; echo "$body" | $JGET 'd["error"]["message"]' | grep -q "didn't provide an API key"
  post /v1/nothing '{}' -H "Authorization: Bearer $KEY"
  [ "$status_code" = 404 ]; echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'Invalid URL (POST /v1/nothing)'
  run curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY"
  [ "$output" = 405 ]
  echo "$headers" | grep -qi '^x-request-id:'
  # an upstream's own client error passes through unchanged
  chat '{"model":"gpt-4o-mini","messages":[{}],"mock":{"status":400}}'
  [ "$status_code" = 400 ]; [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = mock_400 ]
  sleep 0.3
  [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" = 0 ]
  [ "$(sql 'SELECT quota FROM users')" = "$before" ]
}

@test "a body over the limit is refused with 413 before it is read" {
  relayd_start --max-body-bytes 2048
  big=$(python3 -c 'print("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"content\":\"" + "x"*5000 + "\"}]}")')
  chat "$big"
  [ "$status_code" = 413 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'limit is 2048'
  # chunked upload without a length: refused after the limit too
  status_code=$(printf '%s' "$big" | curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
    -H "Authorization: Bearer $KEY" --data-binary @- "$RELAY_URL/v1/chat/completions")
  [ "$status_code" = 413 ]
}

@test "no quota: 429 with x-should-retry false; the reservation is refused up front" {
  low=$(gwctl token create --user alice --name poor --quota 10)
  relayd_start
  post /v1/chat/completions '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":1000}' -H "Authorization: Bearer $low"
  [ "$status_code" = 429 ]
  echo "$headers" | grep -qi '^x-should-retry: false'
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = insufficient_quota ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'only 10 is left'
  zero=$(gwctl token create --user alice --name zero --quota 0)
  post /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{}]}' -H "Authorization: Bearer $zero"
  [ "$status_code" = 429 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'no quota left'
  [ "$(mock_requests up | wc -l)" -eq 0 ]
}

@test "allowed models and addresses are enforced; /v1/models lists only what the key may use" {
  only=$(gwctl token create --user alice --name only --quota 1000000 --models gpt-4o-mini,gpt-4o)
  relayd_start
  post /v1/chat/completions '{"model":"text-embedding-3-small","messages":[{}]}' -H "Authorization: Bearer $only"
  [ "$status_code" = 403 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = model_not_allowed ]
  run curl -s "$RELAY_URL/v1/models" -H "Authorization: Bearer $only"
  [ "$(echo "$output" | $JGET '[m["id"] for m in d["data"]]')" = '["gpt-4o", "gpt-4o-mini"]' ]
  [ "$(echo "$output" | $JGET 'd["object"]')" = list ]
  run curl -s "$RELAY_URL/v1/models" -H "Authorization: Bearer $KEY"
  [ "$(echo "$output" | $JGET 'len(d["data"])')" = 4 ]
  run curl -s -w ' %{http_code}' "$RELAY_URL/v1/models/gpt-4o" -H "Authorization: Bearer $only"
  [[ "$output" == *'"id":"gpt-4o"'*' 200' ]]
  run curl -s -w ' %{http_code}' "$RELAY_URL/v1/models/text-embedding-3-small" -H "Authorization: Bearer $only"
  [[ "$output" == *model_not_found*' 404' ]]

  sql "UPDATE tokens SET subnet='10.0.0.0/8' WHERE name='only'"
  admin '{"cmd":"reload"}' | grep -q '"ok":true'
  post /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{}]}' -H "Authorization: Bearer $only"
  [ "$status_code" = 403 ]; [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = ip_not_allowed ]
  sql "UPDATE tokens SET subnet='10.0.0.0/8, 127.0.0.0/8' WHERE name='only'"
  admin '{"cmd":"reload"}' | grep -q '"ok":true'
  post /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{}]}' -H "Authorization: Bearer $only"
  [ "$status_code" = 200 ]
}

@test "disabled, expired and disowned keys are refused" {
  relayd_start
  sql "UPDATE tokens SET status=2"
  admin '{"cmd":"reload"}' | grep -q '"ok":true'
  chat '{"model":"gpt-4o-mini","messages":[{}]}'
  [ "$status_code" = 401 ]; echo "$body" | grep -q 'is disabled'
  sql "UPDATE tokens SET status=1, expired_time=1000"
  admin '{"cmd":"reload"}' | grep -q '"ok":true'
  chat '{"model":"gpt-4o-mini","messages":[{}]}'
  [ "$status_code" = 401 ]; echo "$body" | grep -q 'expired'
  sql "UPDATE tokens SET expired_time=-1"
  sql "UPDATE users SET status=2"
  admin '{"cmd":"reload"}' | grep -q '"ok":true'
  chat '{"model":"gpt-4o-mini","messages":[{}]}'
  [ "$status_code" = 403 ]; [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = user_disabled ]
}

@test "a change made by gwctl reaches the running relayd within a second" {
  relayd_start
  new=$(gwctl token create --user alice --name fresh --quota 1000000)
  post /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{}]}' -H "Authorization: Bearer $new"
  [ "$status_code" = 200 ]
  printf 'k\n' | gwctl channel add --name c2 --type openai --base-url "http://127.0.0.1:$MOCK_PORT" --models brand-new-model
  sql "INSERT INTO prices(model, model_ratio, completion_ratio) VALUES ('brand-new-model', 1, 1)"
  run gwctl user add bob --quota 1          # any change triggers a reload
  chat '{"model":"brand-new-model","messages":[{}]}'
  [ "$status_code" = 200 ]
}

@test "a model without a price is refused with a clear error" {
  printf 'k\n' | gwctl channel add --name c3 --type openai --base-url "http://127.0.0.1:$MOCK_PORT" --models unpriced-model
  relayd_start
  chat '{"model":"unpriced-model","messages":[{}]}'
  [ "$status_code" = 403 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = model_price_unset ]
  [ "$(mock_requests up | wc -l)" -eq 0 ]
}

@test "an upstream that dies mid-stream: in-band error, billed for what was sent" {
  relayd_start
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":6,"disconnect_after":3}}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep '^data: {"error"' | sed 's/^data: //' | $JGET 'd["error"]["code"]' | grep -qx stream_interrupted
  ( ! printf '%s\n' "$body" | grep -q 'DONE' )
  wait_logs 1
  # no usage came: counted locally (3 words "hello " = 18 chars -> 5 tokens), said so in the log
  [ "$(sql 'SELECT end_reason, usage_source, completion_tokens > 0, quota > 0 FROM logs WHERE type=2')" = "$(printf 'upstream_error\tlocal\t1\t1')" ]
}

@test "no usage from the upstream: counted locally and logged as such" {
  relayd_start
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"no_usage":true,"chunks":8}}'
  [ "$status_code" = 200 ]
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"no_usage":true,"chunks":8}}'
  [ "$status_code" = 200 ]
  wait_logs 2
  # 8 x "hello " = 48 characters -> 12 tokens in both
  [ "$(sql 'SELECT group_concat(usage_source), group_concat(completion_tokens) FROM logs WHERE type=2')" = "$(printf 'local,local\t12,12')" ]
}

@test "a client that leaves mid-stream stops the upstream and is billed for what it got" {
  relayd_start
  run timeout 1 curl -sN "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":50,"chunk_gap_ms":100}}'
  wait_logs 1
  [ "$(sql 'SELECT end_reason, usage_source, status FROM logs WHERE type=2')" = "$(printf 'client_gone\tlocal\t200')" ]
  [ "$(sql 'SELECT completion_tokens BETWEEN 1 AND 49 FROM logs WHERE type=2')" = 1 ]
}

@test "slow first byte: first_byte_ms is recorded" {
  relayd_start
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{}],"mock":{"first_byte_ms":300}}'
  [ "$status_code" = 200 ]
  wait_logs 1
  sql 'SELECT first_byte_ms, elapsed_ms FROM logs WHERE type=2'
  [ "$(sql 'SELECT first_byte_ms >= 300, elapsed_ms >= first_byte_ms FROM logs WHERE type=2')" = "$(printf '1\t1')" ]
}

@test "SIGTERM stops cleanly and every billed row is on disk" {
  relayd_start
  pids=""
  for i in $(seq 1 40); do
    curl -s -o /dev/null "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -d '{"model":"gpt-4o-mini","messages":[{}]}' &
    pids="$pids $!"
  done
  wait $pids
  relayd_stop
  [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" = 40 ]
  [ "$(sql 'SELECT request_count FROM users')" = 40 ]
  [ "$(sql 'SELECT sum(quota) FROM logs WHERE type=2')" = "$(sql 'SELECT used_quota FROM tokens')" ]
}

@test "relayd -c reads an ini file; bad settings are refused" {
  port=$(free_port)
  cat > "$BATS_TEST_TMPDIR/relayd.conf" <<EOF
# relayd test config (flat: a [section] line is an error, 62-relayd-safety)
listen = 127.0.0.1:$port
db = $RELAY_DB
admin-socket = $RELAY_SOCKET
workers = 1
EOF
  "$RELAY_BIN/relayd" -c "$BATS_TEST_TMPDIR/relayd.conf" 2>"$BATS_TEST_TMPDIR/c.log" &
  pid=$!
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/v1/models" && break; sleep 0.1; done
  run curl -s "http://127.0.0.1:$port/v1/models" -H "Authorization: Bearer $KEY"
  [[ "$output" == *gpt-4o-mini* ]]
  kill -TERM $pid; wait $pid
  printf 'workers = many\n' > "$BATS_TEST_TMPDIR/bad.conf"
  run "$RELAY_BIN/relayd" -c "$BATS_TEST_TMPDIR/bad.conf"
  [ "$status" -eq 78 ]
  [[ "$output" == *"bad.conf:1: workers: 'many' is not an integer"* ]]
  run "$RELAY_BIN/relayd" --no-such-option 1
  [ "$status" -eq 2 ]
}

@test "an upstream slower than request_timeout_s is a 504, refunded" {
  relayd_start --request-timeout-s 1
  before=$(sql 'SELECT quota FROM users')
  chat '{"model":"gpt-4o-mini","messages":[{}],"mock":{"delay_ms":3000}}'
  [ "$status_code" = 504 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = upstream_timeout ]
  wait_logs 1
  [ "$(sql 'SELECT type, quota, status, end_reason FROM logs WHERE type IN (2,5)')" = "$(printf '5\t0\t504\ttimeout')" ]
  [ "$(sql 'SELECT quota FROM users')" = "$before" ]
}

# keepalive_run REQUESTS: sends the requests over ONE client connection (python http.client), one
# line a request: "METHOD PATH KEY|- [BODY]". Prints "status Connection-field same|closed" a
# request: "closed" when relayd closed the connection after it (http.client would reconnect).
keepalive_run() {
  python3 - "$RELAY_PORT" "$1" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
c.connect()
port = c.sock.getsockname()[1]
for line in sys.argv[2].strip().splitlines():
    method, path, key, *body = line.split(" ", 3)
    h = {"Content-Type": "application/json"} if body else {}
    if key != "-":
        h["Authorization"] = "Bearer " + key
    c.request(method, path, body=body[0] if body else None, headers=h)
    r = c.getresponse()
    r.read()
    now = c.sock.getsockname()[1] if c.sock else None
    print(r.status, r.getheader("Connection", "-"), "same" if now == port else "closed")
EOF
}

@test "requests without a body keep the connection alive: listings, errors and a chat on one connection" {
  relayd_start
  # every request relayd answered from its header alone (queued in libmicrohttpd's first handler
  # call) went out with Connection: close: a client's kept-alive connection was closed after it
  run keepalive_run "GET /v1/models $KEY
GET /v1/models $KEY
GET /v1/models/gpt-4o $KEY
GET /dashboard/billing/subscription $KEY
GET /v1/models sk-wrong
GET /v1/models -
GET /v1/nope $KEY
DELETE /v1/models $KEY
POST /v1/chat/completions $KEY {\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}
GET /v1/models $KEY"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "200 - same
200 - same
200 - same
200 - same
401 - same
401 - same
404 - same
405 - same
200 - same
200 - same" ]
  # curl with several URLs in one invocation: one connection for all of them
  run curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
    -H "x-goog-api-key: $KEY" -H "Authorization: Bearer $KEY" \
    "$RELAY_URL/v1/models" "$RELAY_URL/v1beta/models" "$RELAY_URL/v1/models/gpt-4o"
  echo "$output"
  [ "$output" = "200 1
200 0
200 0" ]
  [ "$(mock_requests up | wc -l)" -eq 1 ]
}

@test "an error answered before a large body is read still goes out at once, and closes" {
  relayd_start
  # a 401 and a 413 on a request whose body is announced but never sent: answered from the header,
  # then closed (the body is never read)
  run python3 - "$RELAY_PORT" "$KEY" <<'EOF'
import socket, sys
for key, length in (("sk-wrong", 1000), (sys.argv[2], 1 << 40)):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
    s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (key, length)).encode())
    data = b""
    while True:                       # until relayd closes: the body is never sent
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode().lower()
    print(head.split("\r\n")[0], "close" if "connection: close" in head else "-")
EOF
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "http/1.1 401 unauthorized close
http/1.1 413 content too large close" ]
}

# relayd_with_env VAR=VALUE...: relayd_start with those variables in relayd's environment only
# (the readiness probe's curl would read a proxy variable too)
relayd_with_env() {
  local bin="$BATS_TEST_TMPDIR/envbin" f
  rm -rf "$bin" && mkdir -p "$bin"
  for f in "$RELAY_BIN"/*; do ln -s "$f" "$bin/"; done
  rm "$bin/relayd"
  printf '#!/bin/sh\nexec env %s "%s/relayd" "$@"\n' "$*" "$RELAY_BIN" > "$bin/relayd"
  chmod +x "$bin/relayd"
  RELAY_BIN="$bin" relayd_start
}

@test "a proxy the environment names is still used for upstream calls, no_proxy still exempts" {
  # relayd tells libcurl "no proxy" once a handle only when the environment names none (attempt.c)
  local dead; dead=$(free_port)
  local req='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  relayd_with_env "http_proxy=http://127.0.0.1:$dead"
  chat "$req"
  [ "$status_code" = 502 ]                       # through the proxy, where nothing listens
  [ "$(mock_requests up | wc -l)" -eq 0 ]
  relayd_stop
  relayd_with_env "http_proxy=http://127.0.0.1:$dead" no_proxy=127.0.0.1
  chat "$req"
  [ "$status_code" = 200 ]
  relayd_stop
  relayd_start
  chat "$req"
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | wc -l)" -eq 2 ]
}

# keycache.h: a worker remembers a key it found until the next reload. Every change to the token
# between two requests on one kept-alive connection (so the same worker, whose table holds the
# key) must show on the very next request.
@test "a key used once is refused on its next request on the same connection once disabled, expired, out of quota, rotated or deleted" {
  relayd_start
  python3 - "$RELAY_PORT" "$KEY" "$RELAY_BIN/gwctl" "$RELAY_SOCKET" "$BATS_TEST_DIRNAME/helpers.bash" <<'PY'
import http.client, json, socket, subprocess, sys
port, key, gwctl, sock, helpers = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":5}'
c = http.client.HTTPConnection("127.0.0.1", port)
c.connect()
def ask(k, want, text=None):
    # sent on the connection of the previous answer (a refusal closes its connection: the next
    # request opens one and its first 200 enters the key in that worker's table)
    held = c.sock
    assert held is not None
    c.request("POST", "/v1/chat/completions", body,
              {"Content-Type": "application/json", "Authorization": "Bearer " + k})
    r = c.getresponse(); d = r.read()
    assert r.status == want, (k[-4:], r.status, want, d[:300])
    if text:
        assert text in json.loads(d)["error"]["message"], (text, d[:300])
    if want == 200:
        assert c.sock is held, "the connection was not kept alive"
    else:
        c.close(); c.connect()
def change(*args, sql=None):
    if sql:     # helpers.bash's sql: the test's database, SQLite or PostgreSQL
        subprocess.run(["bash", "-c", 'source "$0" && sql "$1"', helpers, sql], check=True)
    out = subprocess.run([gwctl, *args], capture_output=True, text=True, check=True).stdout if args else ""
    s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rw")
    f.readline(); f.write('{"cmd":"reload"}\n'); f.flush()
    assert '"ok":true' in f.readline()
    return out.strip()
ask(key, 200)
ask(key, 200)                                   # the second one from the worker's table
ask(key[:-1] + ("A" if key[-1] != "A" else "B"), 401, "Incorrect API key")   # last byte differs
ask(key[:-1], 401, "Incorrect API key")         # a prefix of the key
ask(key, 200)
change("token", "disable", "t1")
ask(key, 401, "is disabled")
change("token", "enable", "t1")
ask(key, 200)
change(sql="UPDATE tokens SET expired_time=1000 WHERE name='t1'")   # gwctl refuses a past time
ask(key, 401, "expired")
change("token", "edit", "t1", "--expires", "never")
ask(key, 200)
change("token", "edit", "t1", "--quota", "0")
ask(key, 429, "no quota left")
change("token", "edit", "t1", "--quota", "50000000")
ask(key, 200)
new = change("token", "rotate", "t1", "--yes").split()[-1]
assert new.startswith("sk-") and new != key, new
ask(key, 401, "Incorrect API key")
ask(new, 200)
change("token", "rm", "t1", "--yes")
ask(new, 401, "Incorrect API key")
PY
}
