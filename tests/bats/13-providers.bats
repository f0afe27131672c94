#!/usr/bin/env bats
# OpenAI clients through channels of other providers: anthropic (Messages API) and azure
# (deployment paths, api-key). The mock upstream speaks each API.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
}

teardown() {
  relay_teardown
}

chat() {
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -N -o "$out.body" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'content-type: application/json' --data-binary "$1")
  body=$(cat "$out.body")
}

wait_logs() {
  for _ in $(seq 1 50); do
    [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# channel TYPE [mock flags...]: a mock and one channel of TYPE serving claude-sonnet-4-0 and gpt-4o
channel() {
  local type=$1; shift
  mock_start up "$@"
  printf 'sk-provider-key\n' | gwctl channel add --name p1 --type "$type" --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models claude-sonnet-4-0,gpt-4.1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

@test "anthropic channel: a chat request goes out as a Messages request and comes back as chat" {
  channel anthropic
  chat '{"model":"claude-sonnet-4-0","max_tokens":64,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["object"], d["choices"][0]["message"]["role"], d["choices"][0]["finish_reason"]')" = '["chat.completion", "assistant", "stop"]' ]
  echo "$body" | $JGET 'd["choices"][0]["message"]["content"]' | grep -q hello
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = /v1/messages ]
  [ "$(echo "$up" | $JGET 'd["headers"]["x-api-key"]')" = sk-provider-key ]
  [ "$(echo "$up" | $JGET 'd["headers"]["anthropic-version"]')" = 2023-06-01 ]
  [ "$(echo "$up" | $JGET 'd["body"]["system"]')" = "be brief" ]
  [ "$(echo "$up" | $JGET 'd["body"]["max_tokens"]')" = 64 ]
  [ "$(echo "$up" | $JGET 'len(d["body"]["messages"])')" = 1 ]
  # mock: input = 10 + 1 message + 1 for the system prompt = 12, output = 5
  [ "$(echo "$body" | $JGET 'd["usage"]["prompt_tokens"], d["usage"]["completion_tokens"]')" = '[12, 5]' ]
  wait_logs 1
  # claude-sonnet-4-0: (12 + 5 * 5) * 1.5 = 55.5 -> 56
  [ "$(sql 'SELECT quota, usage_source FROM logs WHERE type=2')" = "$(printf '56\tupstream')" ]
}

@test "anthropic channel: a stream comes back as OpenAI chunks with [DONE]; usage only when asked" {
  channel anthropic --chunks 3
  chat '{"model":"claude-sonnet-4-0","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | python3 -c '
import json, sys
data = [l[6:] for l in sys.stdin.read().split("\n") if l.startswith("data: ")]
assert data[-1] == "[DONE]", data
chunks = [json.loads(d) for d in data[:-1]]
assert chunks[0]["choices"][0]["delta"]["role"] == "assistant", chunks[0]
text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
assert text == "hello " * 3, text
assert chunks[-1]["choices"][0]["finish_reason"] == "stop", chunks[-1]
assert all(c.get("usage") is None for c in chunks), chunks
'
  chat '{"model":"claude-sonnet-4-0","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}'
  printf '%s\n' "$body" | grep '^data: {' | tail -1 | sed 's/^data: //' | $JGET 'd["usage"]["completion_tokens"]' | grep -qx 3
  wait_logs 2
  [ "$(sql 'SELECT group_concat(usage_source), group_concat(completion_tokens) FROM logs WHERE type=2')" = "$(printf 'upstream,upstream\t3,3')" ]
}

@test "anthropic channel: its errors reach OpenAI clients in OpenAI's shape; embeddings are refused" {
  channel anthropic --status 429
  chat '{"model":"claude-sonnet-4-0","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET '"error" in d and "message" in d["error"] and "type" in d["error"]')" = true ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'mock error 429'
  run curl -s -w ' %{http_code}' "$RELAY_URL/v1/embeddings" -H "Authorization: Bearer $KEY" \
    -d '{"model":"claude-sonnet-4-0","input":"x"}'
  [[ "$output" == *"serves only chat requests"*' 400' ]]
}

@test "azure channel: deployment path, api-version, api-key header" {
  mock_start up
  printf 'azure-key\n' | gwctl channel add --name az --type azure --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models gpt-4.1 --api-version 2024-10-21
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = /openai/deployments/gpt-41/chat/completions ]
  [ "$(echo "$up" | $JGET 'd["query"]["api-version"]')" = 2024-10-21 ]
  [ "$(echo "$up" | $JGET 'd["headers"]["api-key"]')" = azure-key ]
  [ "$(echo "$up" | $JGET '"authorization" in d["headers"]')" = false ]
  chat '{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(printf '%s\n' "$body" | grep '^data: ' | tail -1)" = 'data: [DONE]' ]
}

@test "gemini channel: generateContent with x-goog-api-key; answer, stream and usage converted" {
  mock_start up --chunks 3
  printf 'gemini-key\n' | gwctl channel add --name gm --type gemini --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models gemini-2.5-flash
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"gemini-2.5-flash","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["content"], d["choices"][0]["finish_reason"]')" = '["hello hello hello ", "stop"]' ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = '/v1beta/models/gemini-2.5-flash:generateContent' ]
  [ "$(echo "$up" | $JGET 'd["headers"]["x-goog-api-key"]')" = gemini-key ]
  [ "$(echo "$up" | $JGET 'd["body"]["systemInstruction"]["parts"][0]["text"]')" = "be brief" ]
  # mock: prompt = 10 + 1 content + 1 for systemInstruction = 12, completion = 3
  [ "$(echo "$body" | $JGET 'd["usage"]["prompt_tokens"], d["usage"]["completion_tokens"]')" = '[12, 3]' ]

  chat '{"model":"gemini-2.5-flash","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"]')" = '/v1beta/models/gemini-2.5-flash:streamGenerateContent' ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["query"]["alt"]')" = sse ]
  printf '%s\n' "$body" | python3 -c '
import json, sys
data = [l[6:] for l in sys.stdin.read().split("\n") if l.startswith("data: ")]
assert data[-1] == "[DONE]", data
chunks = [json.loads(d) for d in data[:-1]]
text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
assert text == "hello " * 3, text
assert chunks[-1]["usage"]["completion_tokens"] == 3, chunks[-1]
'
  wait_logs 2
  # gemini-2.5-flash: (12 + 3 * 8.3333) * 0.15 = 5.55 -> 6 ; (11 + 25) * 0.15 = 5.4 -> 6
  [ "$(sql 'SELECT group_concat(quota), group_concat(usage_source) FROM logs WHERE type=2')" = "$(printf '6,6\tupstream,upstream')" ]
}

@test "gemini channel: a cut stream ends with an in-band error; errors in OpenAI's shape" {
  mock_start up --chunks 5 --disconnect-after 2
  printf 'gemini-key\n' | gwctl channel add --name gm --type gemini --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models gemini-2.5-flash
  mock_start bad --status 403
  printf 'gemini-key\n' | gwctl channel add --name gbad --type gemini --base-url "http://127.0.0.1:$MOCK_BAD_PORT" \
    --models gemini-2.5-pro
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep '^data: {"error"' | sed 's/^data: //' | $JGET 'd["error"]["code"]' | grep -qx stream_interrupted
  chat '{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 403 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'mock error 403'
}
