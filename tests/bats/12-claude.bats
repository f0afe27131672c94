#!/usr/bin/env bats
# Clients that speak the Anthropic Messages API (POST /v1/messages) through relayd to an
# OpenAI-style channel: request, answer, stream events, errors and billing in Anthropic's shapes.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
}

teardown() {
  relay_teardown
}

# start_with [mock flags...]: one mock (its behaviour set by flags: a converted request carries
# no "mock" field), one channel on it, relayd, and $KEY
start_with() {
  mock_start up "$@"
  printf 'sk-upstream\n' | gwctl channel add --name c1 --type openai --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models gpt-4o-mini
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

# messages BODY [curl args]: POST /v1/messages with x-api-key; sets status_code, body, headers
messages() {
  local data=$1; shift
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -N -o "$out.body" -D "$out.headers" -w '%{http_code}' "$RELAY_URL/v1/messages" \
    -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
    --data-binary "$data" "$@")
  body=$(cat "$out.body")
  headers=$(cat "$out.headers")
}

wait_logs() {
  for _ in $(seq 1 50); do
    [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

@test "messages: converted to a chat request, answered as an Anthropic message, billed" {
  start_with
  messages '{"model":"gpt-4o-mini","max_tokens":100,"system":"be brief","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  echo "$headers" | grep -qi '^request-id: '
  [ "$(echo "$body" | $JGET 'd["type"], d["role"], d["content"][0]["type"], d["stop_reason"]')" = '["message", "assistant", "text", "end_turn"]' ]
  echo "$body" | $JGET 'd["content"][0]["text"]' | grep -q hello
  # mock: prompt = 10 + 2 messages (system and user), completion = 5 chunks
  [ "$(echo "$body" | $JGET 'd["usage"]["input_tokens"], d["usage"]["output_tokens"]')" = '[12, 5]' ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = /v1/chat/completions ]
  [ "$(echo "$up" | $JGET 'd["body"]["messages"][0]')" = '{"role": "system", "content": "be brief"}' ]
  [ "$(echo "$up" | $JGET 'd["body"]["max_tokens"]')" = 100 ]
  [ "$(echo "$up" | $JGET 'd["headers"]["authorization"]')" = 'Bearer sk-upstream' ]
  wait_logs 1
  # (12 + 5 * 4) * 0.075 = 2.4 -> 3
  [ "$(sql 'SELECT model_name, quota, prompt_tokens, completion_tokens, status FROM logs WHERE type=2')" = "$(printf 'gpt-4o-mini\t3\t12\t5\t200')" ]
}

@test "messages: a stream comes as Anthropic events, names equal to their types, usage at the end" {
  start_with --chunks 3
  messages '{"model":"gpt-4o-mini","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  echo "$headers" | grep -qi '^content-type: text/event-stream'
  printf '%s\n' "$body" | python3 -c '
import json, sys
lines = sys.stdin.read().split("\n")
events = []
for i, l in enumerate(lines):
    if l.startswith("event: "):
        name = l[7:]
        data = json.loads(lines[i + 1][6:])
        assert data["type"] == name, (name, data)
        events.append((name, data))
names = [n for n, _ in events]
assert names[0] == "message_start" and names[-1] == "message_stop", names
assert names[1:-2] == ["content_block_start"] + ["content_block_delta"] * 3 + ["content_block_stop"], names
delta = events[-2][1]
assert delta["type"] == "message_delta" and delta["delta"]["stop_reason"] == "end_turn", delta
assert delta["usage"]["output_tokens"] == 3, delta
'
  mock_requests up | tail -1 | $JGET 'd["body"]["stream_options"]["include_usage"]' | grep -qx true
  wait_logs 1
  [ "$(sql 'SELECT is_stream, usage_source, completion_tokens, end_reason FROM logs WHERE type=2')" = "$(printf '1\tupstream\t3\tdone')" ]
}

@test "messages: Bearer keys work too; errors come in Anthropic's shape" {
  start_with
  status_code=$(curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/messages" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}')
  [ "$status_code" = 200 ]
  KEY=sk-wrongwrongwrong messages '{"model":"gpt-4o-mini","max_tokens":10,"messages":[]}'
  [ "$status_code" = 401 ]
  [ "$(echo "$body" | $JGET 'd["type"], d["error"]["type"]')" = '["error", "authentication_error"]' ]
  messages '{"model":'
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = invalid_request_error ]
  messages '{"model":"gpt-4o-mini","max_tokens":10,"messages":"hi"}'
  [ "$status_code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q messages
  messages '{"model":"no-such-model","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = not_found_error ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q "no-such-model"
  [ "$(echo "$body" | $JGET 'd["type"]')" = error ]
}

@test "messages: an upstream client error is passed on in Anthropic's shape" {
  start_with --status 400
  messages '{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = invalid_request_error ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'mock error 400'
}

@test "messages: a stream cut by the upstream ends with an error event, billed for what was sent" {
  start_with --chunks 6 --disconnect-after 2
  messages '{"model":"gpt-4o-mini","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep -q '^event: error'
  ( ! printf '%s\n' "$body" | grep -q '^event: message_stop' )
  wait_logs 1
  [ "$(sql 'SELECT end_reason, usage_source, quota > 0 FROM logs WHERE type=2')" = "$(printf 'upstream_error\tlocal\t1')" ]
}
