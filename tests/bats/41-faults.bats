#!/usr/bin/env bats
# Fault injection with the mock upstream: 5xx, 429 + Retry-After, connection reset before and
# during a stream, malformed SSE, a 10 MB SSE line, a slow drip, an unresolvable host. Each gives a
# retry or a clear error in the client's shape, never a crash or a hang, and billing stays exact:
# every test checks the log rows and that token used quota = sum of logged charges.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  USER_QUOTA0=100000000
}

# channel NAME URL [PRIORITY]: an openai channel for gpt-4o-mini
channel() {
  printf 'k\n' | gwctl channel add --name "$1" --type openai --priority "${3:-0}" --base-url "$2" --models gpt-4o-mini
}

teardown() {
  relay_teardown
}

rsql() {
  sql "${1//reqlogs/(SELECT * FROM logs WHERE type IN (2,5))}"
}

wait_rows() {
  wait_until "$(_relay_scale 10)" sh -c "[ \"\$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM logs WHERE type IN (2,5)\").fetchone()[0])' '${RELAY_DB#sqlite:}')\" -ge $1 ]"
}

books_balance() {
  local logged tok usr uq
  logged=$(rsql 'SELECT COALESCE(sum(quota),0) FROM reqlogs')
  tok=$(sql 'SELECT used_quota FROM tokens')
  usr=$(sql 'SELECT used_quota FROM users')
  uq=$(sql 'SELECT quota FROM users')
  echo "books: logged=$logged token_used=$tok user_used=$usr user_quota=$uq" >&2
  [ "$logged" = "$tok" ] && [ "$logged" = "$usr" ] && [ $((uq + logged)) = "$USER_QUOTA0" ]
}

# post PATH BODY [curl args...]: sets status_code, body, headers
post() {
  local path=$1 data=$2; shift 2
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s --max-time 60 -o "$out.body" -D "$out.headers" -w '%{http_code}' "$RELAY_URL$path" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$data" "$@") || true
  body=$(cat "$out.body" 2>/dev/null || true)
  headers=$(tr -d '\r' < "$out.headers" 2>/dev/null || true)
}
chat() { post /v1/chat/completions "$@"; }

# still_serving: relayd answers a normal request (no crash, no hang)
still_serving() {
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
}

# error_event: the data of the stream's error event (OpenAI shape)
error_event() {
  printf '%s\n' "$body" | grep '^data: {"error"' | sed 's/^data: //'
}

@test "5xx: retried on a healthy channel (billed once); alone, a 502 in the client's shape that costs nothing" {
  mock_start bad --status 500
  mock_start good
  channel c1 "$MOCK_BAD_URL" 10
  channel c2 "$MOCK_GOOD_URL" 0
  relayd_start
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep -q '^data: \[DONE\]'
  # c2 gone: the 500 reaches the client as a 502 in its API's shape
  gwctl channel delete c2 >/dev/null 2>&1 || sql "DELETE FROM channels WHERE name='c2'"
  gwctl reload >/dev/null 2>&1 || kill -HUP "$RELAYD_PID"
  sleep 0.5
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 502 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = bad_upstream_status ]
  [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"answered 500"* ]]
  post /v1/messages '{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}' -H 'anthropic-version: 2023-06-01'
  [ "$status_code" = 502 ]
  [ "$(echo "$body" | $JGET 'd["type"]')" = error ]
  wait_rows 4
  rsql 'SELECT status, end_reason, quota, content FROM reqlogs ORDER BY id' >&2
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE end_reason='done' AND quota>0 AND content='channels tried: 1 2'")" = 2 ]
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE end_reason='upstream_error' AND quota=0 AND status=502")" = 2 ]
  books_balance
}

@test "429 with Retry-After: retried on another channel; alone, the client gets the 429 and the Retry-After" {
  mock_start up
  channel c1 "$MOCK_UP_URL"
  relayd_start
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"status":429,"headers":{"retry-after":"7"}}}'
  [ "$status_code" = 429 ]
  echo "$headers" | grep -qi '^retry-after: 7$'
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = mock_429 ]
  relayd_stop
  mock_start bad --status 429
  channel c0 "$MOCK_BAD_URL" 10
  relayd_start
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  still_serving
  wait_rows 3
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE status=429 AND quota=0 AND end_reason='upstream_error'")" = 1 ]
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE status=200 AND quota>0 AND content='channels tried: 2 1'")" = 2 ]
  books_balance
}

@test "connection reset before the answer: retried; alone, a 502 (stream or not) that costs nothing" {
  mock_start bad --disconnect-after 0
  mock_start good
  channel c1 "$MOCK_BAD_URL" 10
  channel c2 "$MOCK_GOOD_URL" 0
  relayd_start
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  relayd_stop
  sql "DELETE FROM channels WHERE name='c2'"
  relayd_start
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 502 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = upstream_unreachable ]
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"hang_up":true}}'
  [ "$status_code" = 502 ]
  [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"channel 1 failed"* ]]
  wait_rows 3
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE status=502 AND quota=0")" = 2 ]
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE status=200 AND quota>0")" = 1 ]
  books_balance
}

@test "connection reset during a stream: an error event in each client's shape, billed for what was sent" {
  # (a converted request carries no "mock" object: the fault is the mock's default)
  mock_start up --chunks 8 --disconnect-after 4
  channel c1 "$MOCK_UP_URL"
  relayd_start
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(error_event | $JGET 'd["error"]["code"]')" = stream_interrupted ]
  ( ! printf '%s\n' "$body" | grep -q DONE )
  post /v1/messages '{"model":"gpt-4o-mini","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}' -H 'anthropic-version: 2023-06-01'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep -q '^event: error'
  ( ! printf '%s\n' "$body" | grep -q 'message_stop' )
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"disconnect_after":-1}}'
  [ "$status_code" = 200 ]
  wait_rows 3
  rsql 'SELECT status, end_reason, quota, completion_tokens, usage_source FROM reqlogs ORDER BY id' >&2
  # 4 words "hello " = 24 characters = 6 tokens, counted locally
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE end_reason='upstream_error' AND completion_tokens=6 AND usage_source='local' AND quota>0")" = 2 ]
  books_balance
}

@test "malformed SSE from the upstream: passed on or dropped, never a crash; the stream completes and is billed" {
  mock_start up --mock '{"malformed":true,"chunks":3}'
  channel c1 "$MOCK_UP_URL"
  relayd_start
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep -q '^data: \[DONE\]'
  post /v1/messages '{"model":"gpt-4o-mini","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}' -H 'anthropic-version: 2023-06-01'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep -q '^event: message_stop'
  grep -q 'could not be converted' "$BATS_TEST_TMPDIR/relayd.log"
  still_serving
  wait_rows 3
  rsql 'SELECT status, end_reason, quota, prompt_tokens, completion_tokens, usage_source FROM reqlogs ORDER BY id' >&2
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE end_reason='done' AND status=200 AND quota>0")" = 3 ]
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE usage_source='upstream' AND completion_tokens=3")" = 3 ]
  books_balance
}

@test "a 10 MB SSE line: the stream is cut with a clear error event, billed for what was sent" {
  mock_start up
  channel c1 "$MOCK_UP_URL"
  relayd_start
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"huge_event":10485760}}'
  [ "$status_code" = 200 ]
  error_event > "$BATS_TEST_TMPDIR/err.json"
  [[ "$($JGET 'd["error"]["message"]' < "$BATS_TEST_TMPDIR/err.json")" == *"larger than 4 MiB"* ]]
  [ ${#body} -lt 1048576 ]
  still_serving
  wait_rows 2
  [ "$(rsql "SELECT status, end_reason, completion_tokens FROM reqlogs WHERE is_stream=1")" = "$(printf '200\tupstream_error\t0')" ]
  books_balance
}

@test "a slow drip (one byte at a time): the stream timeout ends it with an error event; relayd stays responsive" {
  mock_start up
  channel c1 "$MOCK_UP_URL"
  relayd_start --stream-timeout-s 2 --stream-idle-timeout-s 1
  curl -s --max-time 30 -o "$BATS_TEST_TMPDIR/drip.out" "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"drip_ms":20,"chunks":50}}' &
  cpid=$!
  sleep 0.5
  # meanwhile other requests are served at once
  t0=$(date +%s%N)
  still_serving
  [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1000 ]
  wait $cpid
  body=$(cat "$BATS_TEST_TMPDIR/drip.out")
  [[ "$(error_event | $JGET 'd["error"]["message"]')" == *"stream_timeout_s"* ]]
  wait_rows 2
  [ "$(rsql "SELECT end_reason, elapsed_ms < 5000 FROM reqlogs WHERE is_stream=1")" = "$(printf 'timeout\t1')" ]
  books_balance
}

@test "an unresolvable host: a clear error, retried elsewhere when possible, nothing charged" {
  channel nohost "http://relay-test-no-such-host.invalid:9" 10
  relayd_start --connect-timeout-ms 3000
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [[ "$status_code" = 502 || "$status_code" = 504 ]]
  [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"channel 1"* ]]
  mock_start good
  channel c2 "$MOCK_GOOD_URL" 0
  gwctl reload >/dev/null 2>&1 || kill -HUP "$RELAYD_PID"
  wait_until 5 sh -c "curl -s '$RELAY_URL/v1/chat/completions' -H 'Authorization: Bearer $KEY' -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' | grep -q chat.completion"
  wait_rows 2
  rsql 'SELECT status, end_reason, quota, content FROM reqlogs ORDER BY id' >&2
  [ "$(rsql "SELECT quota, end_reason FROM reqlogs ORDER BY id LIMIT 1")" = "$(printf '0\tupstream_error')" ] || \
    [ "$(rsql "SELECT quota, end_reason FROM reqlogs ORDER BY id LIMIT 1")" = "$(printf '0\ttimeout')" ]
  [ "$(rsql "SELECT count(*) FROM reqlogs WHERE status=200 AND content='channels tried: 1 2'")" -ge 1 ]
  books_balance
}

@test "an upstream error event mid-stream reaches every client once, in its format, and ends the stream" {
  mock_start up --error-after 2
  port=$(cat "$BATS_TEST_TMPDIR/mock-up.port")
  printf 'k\n' | gwctl channel add --name o1 --type openai --base-url "http://127.0.0.1:$port" --models gpt-4.1-mini
  printf 'k\n' | gwctl channel add --name a1 --type anthropic --base-url "http://127.0.0.1:$port" --models gpt-4o-mini
  printf 'k\n' | gwctl channel add --name g1 --type gemini --base-url "http://127.0.0.1:$port" --models gpt-4o
  relayd_start
  local out="$BATS_TEST_TMPDIR/s" m n=0
  # OpenAI client on each channel type (native, from Anthropic, from Gemini)
  for m in gpt-4.1-mini gpt-4o-mini gpt-4o; do
    curl -sN "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
      -d "{\"model\":\"$m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" > "$out"
    cat "$out"
    [ "$(grep -c '^data: {"error"' "$out")" = 1 ]
    [ "$(grep -c '^data: ' "$out")" = 4 ]                  # role, two contents, the error
    tail -2 "$out" | grep -q 'mock stream error'            # the upstream's own message, last
    n=$((n + 1))
  done
  # Anthropic client on the openai and gemini channels
  for m in gpt-4.1-mini gpt-4o; do
    curl -sN "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' \
      -H 'Content-Type: application/json' \
      -d "{\"model\":\"$m\",\"stream\":true,\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" > "$out"
    cat "$out"
    [ "$(grep -c '^event: error' "$out")" = 1 ]
    tail -2 "$out" | grep -q 'mock stream error'
    n=$((n + 1))
  done
  # Gemini client on the openai and anthropic channels
  for m in gpt-4.1-mini gpt-4o-mini; do
    curl -sN "$RELAY_URL/v1beta/models/$m:streamGenerateContent?alt=sse" -H "x-goog-api-key: $KEY" \
      -H 'Content-Type: application/json' -d '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' > "$out"
    cat "$out"
    [ "$(grep -c '^data: {"error"' "$out")" = 1 ]
    tail -2 "$out" | grep -q 'mock stream error'
    n=$((n + 1))
  done
  wait_rows "$n"
  books_balance
}
