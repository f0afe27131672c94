#!/usr/bin/env bats
# Native pass-through: when the client's format is the channel's (Anthropic client -> anthropic
# channel, Gemini client -> gemini channel, OpenAI client -> openai channel) the request body goes
# upstream as the client's exact bytes (the mock records their length and SHA-256), changed
# only where relay must (model mapping; OpenAI stream usage), and the answer and stream come back as
# the upstream sent them; billing reads the usage in the native answer or frames.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
  gwctl price set nat-model --ratio 2 --completion-ratio 3
}

# sha FILE: SHA-256 of the file's bytes, as the mock records body_sha256
sha() { sha256sum "$1" | cut -d' ' -f1; }

# one_channel TYPE [channel add flags]: mock "up" (3 chunks), a TYPE channel on it serving nat-model
one_channel() {
  local type=$1; shift
  mock_start up --chunks 3
  printf 'sk-provider\n' | gwctl channel add --name ch --type "$type" --base-url "$MOCK_URL" --models nat-model "$@"
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

# post PATH FILE [curl args]: POSTs FILE's bytes to relayd; status_code and body
post() {
  local path=$1 file=$2; shift 2
  status_code=$(curl -s -N -o "$BATS_TEST_TMPDIR/resp" -w '%{http_code}' "$RELAY_URL$path" \
    -H 'content-type: application/json' --data-binary "@$file" "$@")
  body=$(cat "$BATS_TEST_TMPDIR/resp")
}

# direct URL FILE [curl args]: the same bytes straight to the mock; its answer in $direct
direct() {
  local url=$1 file=$2; shift 2
  direct=$(curl -s -N "$url" -H 'content-type: application/json' --data-binary "@$file" "$@")
}

wait_logs() {
  for _ in $(seq 1 50); do
    [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

@test "Anthropic client -> anthropic channel: the exact request bytes go upstream, fields no converter keeps included" {
  one_channel anthropic
  # odd spacing, key order, and fields the OpenAI conversion would drop (top_k, metadata,
  # cache_control, an unknown extension field)
  cat > "$BATS_TEST_TMPDIR/req.json" <<'EOF'
{ "max_tokens" : 64,  "model":"nat-model", "top_k": 7, "metadata": {"user_id": "u-1"},
  "x_relay_probe": {"kept": [1, 2, 3]},
  "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
  "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}] }
EOF
  post /v1/messages "$BATS_TEST_TMPDIR/req.json" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01'
  [ "$status_code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = /v1/messages ]
  [ "$(echo "$up" | $JGET 'd["headers"]["x-api-key"]')" = sk-provider ]
  [ "$(echo "$up" | $JGET 'd["body_len"]')" = "$(stat -c %s "$BATS_TEST_TMPDIR/req.json")" ]
  [ "$(echo "$up" | $JGET 'd["body_sha256"]')" = "$(sha "$BATS_TEST_TMPDIR/req.json")" ]
  [ "$(echo "$up" | $JGET 'd["body"]["top_k"], d["body"]["x_relay_probe"], d["body"]["system"][0]["cache_control"]')" = '[7, {"kept": [1, 2, 3]}, {"type": "ephemeral"}]' ]
  # the answer is the upstream's, byte for byte
  direct "$MOCK_URL/v1/messages" "$BATS_TEST_TMPDIR/req.json" -H 'x-api-key: k' -H 'anthropic-version: 2023-06-01'
  [ "$body" = "$direct" ]
  # billed from the message's own usage: mock input = 10 + 1 message + 1 system = 12, output 3
  wait_logs 1
  [ "$(sql 'SELECT prompt_tokens, completion_tokens, quota, usage_source FROM logs WHERE type=2')" = "$(printf '12\t3\t42\tupstream')" ]
}

@test "Anthropic client -> anthropic channel: a stream passes through event for event; usage from message_start/message_delta" {
  one_channel anthropic
  printf '%s' '{"model":"nat-model","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}' > "$BATS_TEST_TMPDIR/req.json"
  post /v1/messages "$BATS_TEST_TMPDIR/req.json" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01'
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["body_sha256"]')" = "$(sha "$BATS_TEST_TMPDIR/req.json")" ]
  direct "$MOCK_URL/v1/messages" "$BATS_TEST_TMPDIR/req.json" -H 'x-api-key: k' -H 'anthropic-version: 2023-06-01'
  # the mock's own frames (ping included, which a conversion would drop)
  [ "$body" = "$direct" ]
  echo "$body" | grep -qx 'event: ping'
  wait_logs 1
  # input 11 (message_start), output 3 (message_delta): (11 + 9) * 2 = 40
  [ "$(sql 'SELECT prompt_tokens, completion_tokens, quota, is_stream FROM logs WHERE type=2')" = "$(printf '11\t3\t40\t1')" ]
}

@test "Anthropic client -> anthropic channel with model mapping: only the model changes" {
  one_channel anthropic --model-map '{"nat-model":"claude-upstream-1"}'
  printf '%s' '{"model":"nat-model","max_tokens":64,"top_k":3,"messages":[{"role":"user","content":"hi"}]}' > "$BATS_TEST_TMPDIR/req.json"
  post /v1/messages "$BATS_TEST_TMPDIR/req.json" -H "x-api-key: $KEY"
  [ "$status_code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["body"]')" = '{"model": "claude-upstream-1", "max_tokens": 64, "top_k": 3, "messages": [{"role": "user", "content": "hi"}]}' ]
  wait_logs 1
  [ "$(sql 'SELECT model_name, upstream_model FROM logs WHERE type=2')" = "$(printf 'nat-model\tclaude-upstream-1')" ]
}

@test "Gemini client -> gemini channel: exact bytes (safetySettings, every generationConfig field), answer and frames unconverted" {
  one_channel gemini --model-map '{"nat-model":"gemini-upstream-1"}'
  cat > "$BATS_TEST_TMPDIR/req.json" <<'EOF'
{"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
 "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
 "generationConfig": {"temperature": 0.3, "topK": 5, "candidateCount": 1, "responseModalities": ["TEXT"],
                      "thinkingConfig": {"thinkingBudget": 128, "includeThoughts": true}},
 "cachedContent": "cachedContents/abc", "labels": {"team": "x"}}
EOF
  post "/v1beta/models/nat-model:generateContent" "$BATS_TEST_TMPDIR/req.json" -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = /v1beta/models/gemini-upstream-1:generateContent ]
  [ "$(echo "$up" | $JGET 'd["headers"]["x-goog-api-key"]')" = sk-provider ]
  [ "$(echo "$up" | $JGET 'd["body_sha256"]')" = "$(sha "$BATS_TEST_TMPDIR/req.json")" ]
  [ "$(echo "$up" | $JGET 'd["body"]["safetySettings"][0]["threshold"], d["body"]["cachedContent"]')" = '["BLOCK_ONLY_HIGH", "cachedContents/abc"]' ]
  direct "$MOCK_URL/v1beta/models/gemini-upstream-1:generateContent" "$BATS_TEST_TMPDIR/req.json" -H 'x-goog-api-key: k'
  [ "$body" = "$direct" ]

  post "/v1beta/models/nat-model:streamGenerateContent?alt=sse" "$BATS_TEST_TMPDIR/req.json" -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"], d["query"]["alt"]')" = '["/v1beta/models/gemini-upstream-1:streamGenerateContent", "sse"]' ]
  [ "$(echo "$up" | $JGET 'd["body_sha256"]')" = "$(sha "$BATS_TEST_TMPDIR/req.json")" ]
  direct "$MOCK_URL/v1beta/models/gemini-upstream-1:streamGenerateContent?alt=sse" "$BATS_TEST_TMPDIR/req.json" -H 'x-goog-api-key: k'
  [ "$body" = "$direct" ]
  wait_logs 2
  # usageMetadata: prompt 11, candidates 3: (11 + 9) * 2 = 40, twice
  [ "$(sql 'SELECT group_concat(prompt_tokens), group_concat(completion_tokens), sum(quota) FROM logs WHERE type=2')" = "$(printf '11,11\t3,3\t80')" ]
}

@test "native errors pass through in the upstream's own shape; a cut native stream ends with an error event" {
  mock_start up --status 429
  printf 'sk\n' | gwctl channel add --name a --type anthropic --base-url "$MOCK_URL" --models nat-model
  mock_start gem --status 400
  printf 'sk\n' | gwctl channel add --name g --type gemini --base-url "$MOCK_GEM_URL" --models nat-gem
  mock_start cut --chunks 5 --disconnect-after 2
  printf 'sk\n' | gwctl channel add --name c --type anthropic --base-url "$MOCK_CUT_URL" --models nat-cut
  gwctl price set nat-gem --ratio 1
  gwctl price set nat-cut --ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  printf '%s' '{"model":"nat-model","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}' > "$BATS_TEST_TMPDIR/req.json"
  post /v1/messages "$BATS_TEST_TMPDIR/req.json" -H "x-api-key: $KEY"
  [ "$status_code" = 429 ]
  direct "$MOCK_UP_URL/v1/messages" "$BATS_TEST_TMPDIR/req.json" -H 'x-api-key: k' -H 'anthropic-version: 2023-06-01'
  [ "$body" = "$direct" ]
  [ "$(echo "$body" | $JGET 'd["type"], d["error"]["type"]')" = '["error", "rate_limit_error"]' ]
  printf '%s' '{"contents":[{"parts":[{"text":"hi"}]}]}' > "$BATS_TEST_TMPDIR/g.json"
  post /v1beta/models/nat-gem:generateContent "$BATS_TEST_TMPDIR/g.json" -H "x-goog-api-key: $KEY"
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"], d["error"]["message"]')" = '["INVALID_ARGUMENT", "mock error 400"]' ]
  printf '%s' '{"model":"nat-cut","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}' > "$BATS_TEST_TMPDIR/c.json"
  post /v1/messages "$BATS_TEST_TMPDIR/c.json" -H "x-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | grep -c '^event: content_block_delta')" = 2 ]
  [ "$(echo "$body" | grep '^event: ' | tail -1)" = 'event: error' ]
  echo "$body" | grep '^data: ' | tail -1 | sed 's/^data: //' | $JGET 'd["type"], d["error"]["type"]' | grep -qx '\["error", "api_error"\]'
  wait_logs 1
  [ "$(sql "SELECT count(*) FROM logs WHERE end_reason='upstream_error'")" -ge 1 ]
}

@test "OpenAI client -> openai channel: the exact bytes go upstream unless relay must change them" {
  one_channel openai
  printf '%s' '{ "model":"nat-model", "x_relay_probe": 5, "messages":[{"role":"user","content":"hi"}] }' > "$BATS_TEST_TMPDIR/req.json"
  post /v1/chat/completions "$BATS_TEST_TMPDIR/req.json" -H "Authorization: Bearer $KEY"
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["body_sha256"]')" = "$(sha "$BATS_TEST_TMPDIR/req.json")" ]
  # a stream: include_usage is the one change
  printf '%s' '{"model":"nat-model","stream":true,"x_relay_probe":5,"messages":[{"role":"user","content":"hi"}]}' > "$BATS_TEST_TMPDIR/req.json"
  post /v1/chat/completions "$BATS_TEST_TMPDIR/req.json" -H "Authorization: Bearer $KEY"
  [ "$(mock_requests up | tail -1 | $JGET 'd["body"]')" = '{"model": "nat-model", "stream": true, "x_relay_probe": 5, "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": true}}' ]
  # and it is the only change: the client's own bytes around it (a seed past 2^53 and the spacing
  # as sent; a print of the tree wrote the seed through a double), the member last in the object
  printf '%s' '{ "model":"nat-model", "stream":true, "seed": 12345678901234567891, "messages":[{"role":"user","content":"hi"}] }
' > "$BATS_TEST_TMPDIR/req.json"
  printf '%s' '{ "model":"nat-model", "stream":true, "seed": 12345678901234567891, "messages":[{"role":"user","content":"hi"}] ,"stream_options":{"include_usage":true}}
' > "$BATS_TEST_TMPDIR/want.json"
  post /v1/chat/completions "$BATS_TEST_TMPDIR/req.json" -H "Authorization: Bearer $KEY"
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["body_sha256"]')" = "$(sha "$BATS_TEST_TMPDIR/want.json")" ]
}

@test "converters: safetySettings and generationConfig carried where the other format has them" {
  mock_start up
  printf 'k\n' | gwctl channel add --name g --type gemini --base-url "$MOCK_URL" --models nat-model
  mock_start oai
  printf 'k\n' | gwctl channel add --name o --type openai --base-url "$MOCK_OAI_URL" --models nat-oai
  gwctl price set nat-oai --ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  # OpenAI client -> gemini channel: sampling knobs into generationConfig, safety_settings kept
  printf '%s' '{"model":"nat-model","messages":[{"role":"user","content":"hi"}],"top_k":4,"presence_penalty":0.5,"n":2,"logprobs":true,"top_logprobs":2,"safety_settings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","threshold":"BLOCK_LOW_AND_ABOVE"}]}' > "$BATS_TEST_TMPDIR/o.json"
  post /v1/chat/completions "$BATS_TEST_TMPDIR/o.json" -H "Authorization: Bearer $KEY"
  [ "$status_code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["body"]["generationConfig"]')" = '{"presencePenalty": 0.5, "topK": 4, "logprobs": 2, "responseLogprobs": true, "candidateCount": 2}' ]
  [ "$(echo "$up" | $JGET 'd["body"]["safetySettings"]')" = '[{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_LOW_AND_ABOVE"}]' ]
  # Gemini client -> openai channel: generationConfig into OpenAI's fields
  printf '%s' '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0.2,"topP":0.8,"maxOutputTokens":30,"stopSequences":["x"],"presencePenalty":0.3,"frequencyPenalty":0.4,"seed":9,"candidateCount":1,"responseMimeType":"application/json"}}' > "$BATS_TEST_TMPDIR/g.json"
  post /v1beta/models/nat-oai:generateContent "$BATS_TEST_TMPDIR/g.json" -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(mock_requests oai | tail -1 | $JGET '[d["body"][k] for k in ("temperature", "top_p", "max_tokens", "stop", "presence_penalty", "frequency_penalty", "seed", "response_format")]')" = '[0.2, 0.8, 30, ["x"], 0.3, 0.4, 9, {"type": "json_object"}]' ]
}

@test "Anthropic client -> anthropic channel: the client's anthropic-beta header goes with its request, and only there" {
  mock_start up
  printf 'sk-provider\n' | gwctl channel add --name a --type anthropic --base-url "$MOCK_URL" --models nat-model
  mock_start oai
  printf 'k\n' | gwctl channel add --name o --type openai --base-url "$MOCK_OAI_URL" --models nat-oai
  gwctl price set nat-oai --ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  printf '%s' '{"model":"nat-model","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}' > "$BATS_TEST_TMPDIR/req.json"
  post /v1/messages "$BATS_TEST_TMPDIR/req.json" -H "x-api-key: $KEY" -H 'anthropic-beta: prompt-caching-2024-07-31'
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["headers"].get("anthropic-beta"), d["headers"]["anthropic-version"], d["headers"]["x-api-key"]')" = '["prompt-caching-2024-07-31", "2023-06-01", "sk-provider"]' ]
  post /v1/messages "$BATS_TEST_TMPDIR/req.json" -H "x-api-key: $KEY"
  [ "$(mock_requests up | tail -1 | $JGET '"anthropic-beta" in d["headers"]')" = false ]
  # a converted request (openai channel) carries no Anthropic header
  printf '%s' '{"model":"nat-oai","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}' > "$BATS_TEST_TMPDIR/o.json"
  post /v1/messages "$BATS_TEST_TMPDIR/o.json" -H "x-api-key: $KEY" -H 'anthropic-beta: prompt-caching-2024-07-31'
  [ "$status_code" = 200 ]
  [ "$(mock_requests oai | tail -1 | $JGET '"anthropic-beta" in d["headers"]')" = false ]
}
