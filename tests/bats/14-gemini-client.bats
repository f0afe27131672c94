#!/usr/bin/env bats
# Clients that speak Gemini's API (generateContent, streamGenerateContent?alt=sse) through relayd to
# an OpenAI-style channel: request, answer, frames, errors and billing in Gemini's shapes.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
  mock_start up --chunks 3
  printf 'sk-upstream\n' | gwctl channel add --name c1 --type openai --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models gemini-2.5-flash
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

teardown() {
  relay_teardown
}

# gem PATH BODY [curl args]: POST to relayd; sets status_code and body
gem() {
  local path=$1 data=$2; shift 2
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -N -o "$out.body" -w '%{http_code}' "$RELAY_URL$path" -H 'content-type: application/json' \
    --data-binary "$data" "$@")
  body=$(cat "$out.body")
}

@test "generateContent: converted to chat, answered as a GenerateContentResponse, billed" {
  gem /v1beta/models/gemini-2.5-flash:generateContent \
    '{"systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":50}}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["candidates"][0]["content"]["parts"][0]["text"], d["candidates"][0]["finishReason"]')" = '["hello hello hello ", "STOP"]' ]
  [ "$(echo "$body" | $JGET 'd["usageMetadata"]["promptTokenCount"], d["usageMetadata"]["candidatesTokenCount"]')" = '[12, 3]' ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = /v1/chat/completions ]
  [ "$(echo "$up" | $JGET 'd["body"]["model"], d["body"]["messages"][0]["role"], d["body"]["max_tokens"]')" = '["gemini-2.5-flash", "system", 50]' ]
  for _ in $(seq 1 50); do [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" = 1 ] && break; sleep 0.1; done
  # (12 + 3 * 8.3333) * 0.15 = 5.55 -> 6
  [ "$(sql 'SELECT model_name, quota FROM logs WHERE type=2')" = "$(printf 'gemini-2.5-flash\t6')" ]
}

@test "streamGenerateContent?alt=sse with ?key=: Gemini frames, usage on the last, no [DONE]" {
  gem "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=$KEY" \
    '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | python3 -c '
import json, sys
frames = [json.loads(l[6:]) for l in sys.stdin.read().replace("\r", "").split("\n") if l.startswith("data: ")]
text = "".join(p.get("text", "") for f in frames for c in f.get("candidates", []) for p in c["content"]["parts"])
assert text == "hello " * 3, text
last = frames[-1]
assert last["candidates"][0]["finishReason"] == "STOP", last
assert last["usageMetadata"]["candidatesTokenCount"] == 3, last
'
  ( ! printf '%s\n' "$body" | grep -q DONE )
  mock_requests up | tail -1 | $JGET 'd["body"]["stream"]' | grep -qx true
}

@test "Gemini clients get errors in google.rpc shape" {
  gem /v1beta/models/gemini-2.5-flash:generateContent '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
  [ "$status_code" = 401 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"], d["error"]["status"]')" = '[401, "UNAUTHENTICATED"]' ]
  gem /v1beta/models/gemini-2.5-flash:embedText '{}' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = NOT_FOUND ]
  gem /v1beta/models/gemini-2.5-flash:generateContent '{"contents":"hi"}' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = INVALID_ARGUMENT ]
  gem /v1beta/models/no-such-model:generateContent '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = NOT_FOUND ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q no-such-model
}
