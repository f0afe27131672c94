#!/usr/bin/env bats
# Reasoning suffixes on model names (relayd/reasoning.h): -low/-medium/-high become OpenAI
# reasoning_effort (an Anthropic thinking budget share, a Gemini 2.5 thinkingBudget or Gemini 3
# thinkingLevel); -thinking,
# -thinking-N and -nothinking become Anthropic thinking / Gemini thinkingConfig. A suffix the
# channel reads is stripped from the upstream model; routing, pricing and the log keep the client's
# name, falling back to the base model when the full name has no route or price.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
}

# post PATH JSON [curl args]: status_code and body
post() {
  local path=$1 data=$2; shift 2
  status_code=$(curl -s -o "$BATS_TEST_TMPDIR/resp" -w '%{http_code}' "$RELAY_URL$path" \
    -H 'content-type: application/json' --data-binary "$data" "$@")
  body=$(cat "$BATS_TEST_TMPDIR/resp")
}

chat() { post /v1/chat/completions "$1" -H "Authorization: Bearer $KEY"; }

wait_logs() {
  for _ in $(seq 1 50); do
    [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# last NAME: the last request mock NAME received
last() { mock_requests "${1:-up}" | tail -1; }

@test "-high/-low: reasoning_effort upstream, suffix stripped; routed and priced by the base unless the full name has its own" {
  mock_start up
  printf 'k\n' | gwctl channel add --name base --type openai --base-url "$MOCK_URL" --models o3-mini
  mock_start low
  printf 'k\n' | gwctl channel add --name low --type openai --base-url "$MOCK_LOW_URL" --models o3-mini-low
  gwctl price set o3-mini --ratio 1 --completion-ratio 1
  gwctl price set o3-mini-low --ratio 10 --completion-ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"o3-mini-high","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(last up | $JGET 'd["body"]["model"], d["body"]["reasoning_effort"], d["body"]["max_completion_tokens"], "max_tokens" in d["body"]')" = '["o3-mini", "high", 50, false]' ]
  chat '{"model":"o3-mini-low","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  # the full name has its own route: the "low" channel, with the suffix stripped there too
  [ "$(last low | $JGET 'd["body"]["model"], d["body"]["reasoning_effort"]')" = '["o3-mini", "low"]' ]
  [ "$(mock_requests up | wc -l)" = 1 ]
  wait_logs 2
  # mock usage 11 + 5: base price (16 * 1) for -high, the full name's own price (16 * 10) for -low
  [ "$(sql 'SELECT model_name, upstream_model, quota FROM logs WHERE type=2 ORDER BY id')" = "$(printf 'o3-mini-high\to3-mini\t16\no3-mini-low\to3-mini\t160')" ]
  # an unsuffixed request to the base is untouched
  chat '{"model":"o3-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$(last up | $JGET '"reasoning_effort" in d["body"], d["body"]["model"]')" = '[false, "o3-mini"]' ]
}

@test "-thinking on an openai channel is a model name: sent as it is" {
  mock_start up
  printf 'k\n' | gwctl channel add --name q --type openai --base-url "$MOCK_URL" --models qwen3-thinking
  gwctl price set qwen3-thinking --ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"qwen3-thinking","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(last | $JGET 'd["body"]["model"], "reasoning_effort" in d["body"], "thinking" in d["body"]')" = '["qwen3-thinking", false, false]' ]
}

@test "anthropic channel: -thinking-N, -thinking and -nothinking become thinking, from OpenAI and Anthropic clients" {
  mock_start up
  printf 'k\n' | gwctl channel add --name a --type anthropic --base-url "$MOCK_URL" --models claude-x
  gwctl price set claude-x --ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"claude-x-thinking-2048","max_tokens":4096,"temperature":0.3,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(last | $JGET 'd["path"], d["body"]["model"], d["body"]["thinking"], d["body"]["max_tokens"], "temperature" in d["body"]')" = '["/v1/messages", "claude-x", {"type": "enabled", "budget_tokens": 2048}, 4096, false]' ]
  # an Anthropic client (native pass-through): the same fields written into its own body
  post /v1/messages '{"model":"claude-x-thinking","max_tokens":4000,"top_k":4,"messages":[{"role":"user","content":"hi"}]}' -H "x-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(last | $JGET 'd["body"]')" = '{"model": "claude-x", "max_tokens": 4000, "messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "enabled", "budget_tokens": 3200}}' ]
  post /v1/messages '{"model":"claude-x-nothinking","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}' -H "x-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(last | $JGET 'd["body"]["model"], d["body"]["thinking"]')" = '["claude-x", {"type": "disabled"}]' ]
  post /v1/messages '{"model":"claude-x-medium","max_tokens":10000,"messages":[{"role":"user","content":"hi"}]}' -H "x-api-key: $KEY"
  [ "$(last | $JGET 'd["body"]["thinking"]')" = '{"type": "enabled", "budget_tokens": 5000}' ]
  wait_logs 4
  [ "$(sql "SELECT group_concat(model_name, ' '), group_concat(DISTINCT upstream_model) FROM logs WHERE type=2")" = "$(printf 'claude-x-thinking-2048 claude-x-thinking claude-x-nothinking claude-x-medium\tclaude-x')" ]
}

@test "gemini channel: suffixes become thinkingConfig, from OpenAI and Gemini clients; the model in the path is stripped" {
  mock_start up
  printf 'k\n' | gwctl channel add --name g --type gemini --base-url "$MOCK_URL" --models gem-1
  gwctl price set gem-1 --ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"gem-1-thinking-512","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(last | $JGET 'd["path"], d["body"]["generationConfig"]["thinkingConfig"]')" = '["/v1beta/models/gem-1:generateContent", {"includeThoughts": true, "thinkingBudget": 512}]' ]
  post '/v1beta/models/gem-1-nothinking:streamGenerateContent?alt=sse' \
    '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"safetySettings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}]}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(last | $JGET 'd["path"], d["body"]["generationConfig"], d["body"]["safetySettings"][0]["threshold"]')" = '["/v1beta/models/gem-1:streamGenerateContent", {"thinkingConfig": {"thinkingBudget": 0}}, "BLOCK_NONE"]' ]
  post '/v1beta/models/gem-1-thinking:generateContent' \
    '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":1000}}' -H "x-goog-api-key: $KEY"
  [ "$(last | $JGET 'd["body"]["generationConfig"]')" = '{"maxOutputTokens": 1000, "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 600}}' ]
  # gem-1 is no Gemini 3: an effort is the 2.5 form, a budget (every Gemini takes it; 2.5 refuses thinkingLevel)
  chat '{"model":"gem-1-high","messages":[{"role":"user","content":"hi"}]}'
  [ "$(last | $JGET 'd["body"]["generationConfig"]["thinkingConfig"]')" = '{"includeThoughts": true, "thinkingBudget": 24576}' ]
}

@test "a suffixed model with no route for it or its base is refused as unknown, nothing logged" {
  mock_start up
  printf 'k\n' | gwctl channel add --name g --type openai --base-url "$MOCK_URL" --models gpt-x
  gwctl price set gpt-x --ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"other-high","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = model_not_found ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q "other-high"
  [ "$(mock_requests up | wc -l)" = 0 ]
}
