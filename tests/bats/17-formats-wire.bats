#!/usr/bin/env bats
# Converted requests the real upstreams accept (issue #20, relayd/reqfit.h, doc/design.md "Reasoning
# suffixes on model names"). Every mock runs with the "strict" key: it refuses what the real API
# refuses in a request, with the API's own 400 (tests/mock_upstream.c strict_refusal, each rule
# with its provider's docs): Anthropic roles, temperature with top_p, a tool turn without its signed
# thinking when thinking is on; OpenAI reasoning models' max_tokens and temperature, reasoning_effort
# on gpt-4*; Gemini's Schema subset in tool parameters, thinkingLevel before Gemini 3, a Gemini 3
# call without its thoughtSignature. Each test also reads the body the mock recorded.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
  mock_start oa --mock '{"strict":true}'
  mock_start an --mock '{"strict":true}'
  mock_start ge --mock '{"strict":true}'
  printf 'k\n' | gwctl channel add --name oa --type openai --base-url "$MOCK_OA_URL" --models gpt-5,o3,gpt-4o
  printf 'k\n' | gwctl channel add --name an --type anthropic --base-url "$MOCK_AN_URL" --models claude-sonnet-4-5
  printf 'k\n' | gwctl channel add --name ge --type gemini --base-url "$MOCK_GE_URL" \
    --models gemini-2.5-pro,gemini-3-pro-preview
  for m in gpt-5 o3 gpt-4o claude-sonnet-4-5 gemini-2.5-pro gemini-3-pro-preview; do
    gwctl price set "$m" --ratio 1 --completion-ratio 1
  done
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

teardown() {
  relay_teardown
}

# post PATH JSON [curl args]: status_code and body
post() {
  local path=$1 data=$2; shift 2
  status_code=$(curl -s -o "$BATS_TEST_TMPDIR/resp" -w '%{http_code}' "$RELAY_URL$path" \
    -H 'content-type: application/json' --data-binary "$data" "$@")
  body=$(cat "$BATS_TEST_TMPDIR/resp")
}
chat() { post /v1/chat/completions "$1" -H "Authorization: Bearer $KEY"; }
messages() { post /v1/messages "$1" -H "x-api-key: $KEY"; }
gemini() { post "/v1beta/models/$1:generateContent" "$2" -H "x-goog-api-key: $KEY"; }
# last NAME EXPR: EXPR (jget) of the last body mock NAME received
last() { mock_requests "$1" | tail -1 | $JGET "$2"; }
ok() { [ "$status_code" = 200 ] || { echo "status $status_code: $body" >&2; return 1; }; }

# What Claude Code sends for a model it does not know as Claude: system and developer messages
# inside messages, adaptive thinking with output_config.effort, temperature 1.
CC='{"model":"MODEL","max_tokens":32000,"system":[{"type":"text","text":"S0"}],"temperature":1,
 "messages":[{"role":"system","content":"S1"},{"role":"user","content":"hi"},
 {"role":"developer","content":[{"type":"text","text":"S2"}]},{"role":"user","content":"go"}],
 "thinking":{"type":"adaptive"},"output_config":{"effort":"low"}}'

@test "Claude Code at a gpt/gemini model: system/developer messages and adaptive thinking accepted on every channel format" {
  messages "${CC/MODEL/gpt-5}"
  ok
  [ "$(last oa '[m["role"] + ":" + m["content"] for m in d["body"]["messages"]], d["body"]["reasoning_effort"], d["body"]["max_completion_tokens"], "max_tokens" in d["body"], "temperature" in d["body"]')" = \
    '[["system:S0", "system:S1", "user:hi", "system:S2", "user:go"], "low", 32000, false, false]' ]
  messages "${CC/MODEL/gpt-4o}"
  ok
  [ "$(last oa '"reasoning_effort" in d["body"], d["body"]["max_tokens"]')" = '[false, 32000]' ]
  messages "${CC/MODEL/gemini-2.5-pro}"
  ok
  [ "$(last ge 'd["body"]["systemInstruction"]["parts"][0]["text"], d["body"]["generationConfig"]["thinkingConfig"]')" = \
    '["S0\nS1\nS2", {"includeThoughts": true, "thinkingBudget": 1024}]' ]
  messages "${CC/MODEL/gemini-3-pro-preview}"
  ok
  [ "$(last ge 'd["body"]["generationConfig"]["thinkingConfig"]')" = '{"includeThoughts": true, "thinkingLevel": "low"}' ]
}

@test "the client's reasoning parameters cross formats: reasoning_effort, thinkingConfig, thinking" {
  chat '{"model":"claude-sonnet-4-5","max_tokens":10000,"reasoning_effort":"medium","temperature":0.2,"messages":[{"role":"user","content":"hi"}]}'
  ok
  [ "$(last an 'd["body"]["thinking"], "temperature" in d["body"]')" = '[{"type": "enabled", "budget_tokens": 5000}, false]' ]
  chat '{"model":"gemini-2.5-pro","reasoning_effort":"high","messages":[{"role":"user","content":"hi"}]}'
  ok
  [ "$(last ge 'd["body"]["generationConfig"]["thinkingConfig"]')" = '{"includeThoughts": true, "thinkingBudget": 24576}' ]
  gemini claude-sonnet-4-5 '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":20000,"thinkingConfig":{"thinkingBudget":12000}}}'
  ok
  [ "$(last an 'd["body"]["thinking"]')" = '{"type": "enabled", "budget_tokens": 16000}' ]
  gemini o3 '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":300,"temperature":0.5,"thinkingConfig":{"thinkingLevel":"low"}}}'
  ok
  [ "$(last oa 'd["body"]["reasoning_effort"], d["body"]["max_completion_tokens"], "temperature" in d["body"]')" = '["low", 300, false]' ]
  messages '{"model":"gemini-2.5-pro","max_tokens":9000,"messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":4000}}'
  ok
  [ "$(last ge 'd["body"]["generationConfig"]["thinkingConfig"]')" = '{"includeThoughts": true, "thinkingBudget": 8192}' ]
  # a reasoning suffix on /v1/responses sets reasoning.effort (the client's other reasoning fields kept)
  post /v1/responses '{"model":"o3-high","input":"hi","reasoning":{"summary":"auto"}}' -H "Authorization: Bearer $KEY"
  ok
  [ "$(last oa 'd["body"]["model"], d["body"]["reasoning"]')" = '["o3", {"summary": "auto", "effort": "high"}]' ]
}

@test "sampling and schemas the upstream accepts: temperature or top_p, max_completion_tokens, Gemini's Schema subset, json_schema" {
  chat '{"model":"claude-sonnet-4-5","temperature":0.3,"top_p":0.9,"messages":[{"role":"user","content":"hi"}]}'
  ok
  [ "$(last an 'd["body"]["temperature"], "top_p" in d["body"]')" = '[0.3, false]' ]
  messages '{"model":"o3","max_tokens":500,"temperature":0.7,"messages":[{"role":"user","content":"hi"}]}'
  ok
  [ "$(last oa 'd["body"]["max_completion_tokens"], "max_tokens" in d["body"], "temperature" in d["body"]')" = '[500, false, false]' ]
  # Claude Code's own tool schemas (JSON Schema draft 7) through an Anthropic client to Gemini
  messages '{"model":"gemini-2.5-pro","max_tokens":100,"messages":[{"role":"user","content":"read"}],
    "tools":[{"name":"Read","input_schema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
      "additionalProperties":false,"required":["file_path"],"properties":{
      "file_path":{"type":"string"},"limit":{"type":"number","exclusiveMinimum":0},
      "mode":{"const":"fast"},"env":{"type":"object","propertyNames":{"pattern":"^[A-Z_]+$"},"additionalProperties":{"type":"string"}}}}}]}'
  ok
  [ "$(last ge 'd["body"]["tools"][0]["functionDeclarations"][0]["parameters"]')" = \
    '{"type": "object", "required": ["file_path"], "properties": {"file_path": {"type": "string"}, "limit": {"type": "number"}, "mode": {"enum": ["fast"], "type": "string"}, "env": {"type": "object"}}}' ]
  gemini gpt-4o '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"a":{"type":"integer"}}}}}'
  ok
  [ "$(last oa 'd["body"]["response_format"]["type"], d["body"]["response_format"]["json_schema"]["schema"]')" = \
    '["json_schema", {"type": "object", "properties": {"a": {"type": "integer"}}}]' ]
}

@test "turn 2 of a tool loop: the signed reasoning sent back reaches Anthropic and Gemini 3; without it the request is still accepted" {
  local head='{"role":"user","content":"weather?"}' tool='{"role":"tool","tool_call_id":"c1","content":"sunny"}'
  local call='"tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{}"}'
  # Anthropic with thinking on (-thinking): the signature the client got back in reasoning_details
  chat '{"model":"claude-sonnet-4-5-thinking","max_tokens":4000,"messages":['"$head"',{"role":"assistant","content":null,
    "reasoning_details":[{"type":"reasoning.text","text":"plan","signature":"sigA","format":"anthropic-claude-v1","index":0}],
    '"$call"'}]},'"$tool"']}'
  ok
  [ "$(last an 'd["body"]["thinking"]["type"], [b["type"] for b in d["body"]["messages"][1]["content"]], d["body"]["messages"][1]["content"][0]["signature"]')" = \
    '["enabled", ["thinking", "tool_use"], "sigA"]' ]
  # no signature came back: thinking off for this turn (Anthropic would refuse it)
  chat '{"model":"claude-sonnet-4-5-thinking","max_tokens":4000,"messages":['"$head"',{"role":"assistant","content":null,'"$call"'}]},'"$tool"']}'
  ok
  [ "$(last an 'd["body"]["thinking"]')" = '{"type": "disabled"}' ]
  # Gemini 3: the call's signature in Google's OpenAI-compatible field, back on its functionCall
  chat '{"model":"gemini-3-pro-preview","messages":['"$head"',{"role":"assistant","content":null,'"$call"',
    "extra_content":{"google":{"thought_signature":"gsig"}}}]},'"$tool"']}'
  ok
  [ "$(last ge 'd["body"]["contents"][1]["parts"][0]["thoughtSignature"]')" = gsig ]
  # none came back: Google's documented placeholder
  chat '{"model":"gemini-3-pro-preview","messages":['"$head"',{"role":"assistant","content":null,'"$call"'}]},'"$tool"']}'
  ok
  [ "$(last ge 'd["body"]["contents"][1]["parts"][0]["thoughtSignature"]')" = skip_thought_signature_validator ]
  # Claude Code on a Gemini 3 model sends back the thinking block carrying the call's signature
  messages '{"model":"gemini-3-pro-preview","max_tokens":100,"messages":[{"role":"user","content":"go"},
    {"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"C1"},{"type":"tool_use","id":"c1","name":"w","input":{}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"x"}]}]}'
  ok
  [ "$(last ge 'd["body"]["contents"][1]["parts"][0]["thoughtSignature"]')" = C1 ]
}

@test "strict mock: what the real APIs refuse is refused (the rules the tests above rely on)" {
  # native pass-through is the client's own request: the mock's refusal reaches the client as it is
  messages '{"model":"claude-sonnet-4-5","max_tokens":10,"temperature":0.1,"top_p":0.5,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'cannot both be specified'
  chat '{"model":"o3","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q "max_completion_tokens"
  gemini gemini-2.5-pro '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"low"}}}'
  [ "$status_code" = 400 ]
  gemini gemini-2.5-pro '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer","exclusiveMinimum":0}}}}]}]}'
  [ "$status_code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'Unknown name \\\?"exclusiveMinimum'
  gemini gemini-3-pro-preview '{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}'
  [ "$status_code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'thought_signature'
}
