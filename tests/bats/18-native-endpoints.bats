#!/usr/bin/env bats
# Endpoints answered by the channel itself when it speaks the client's format (issue #20):
# Anthropic's POST /v1/messages/count_tokens and Gemini's :countTokens passed to the channel's real
# count endpoint (free: never billed, no log row, a refusal never the channel's failure; relay's own
# count when it refuses, and on converted paths), and embeddings on Gemini channels: an OpenAI
# /v1/embeddings client converted to Google's batchEmbedContents and back (usage counted by relay:
# Google reports none), Gemini's :embedContent / :batchEmbedContents passed through, driven by the
# official SDKs (tests/sdk/client.mjs "embed").
# Shapes: https://docs.anthropic.com/en/api/messages-count-tokens ({"input_tokens":N}),
# https://ai.google.dev/api/tokens#CountTokensResponse, https://ai.google.dev/api/embeddings.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"
SDK_DIR="$BATS_TEST_DIRNAME/../sdk"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
  mock_start up
  local base="http://127.0.0.1:$MOCK_PORT"
  for m in claude-house gemini-native gemini-embed gemini-house claude-converted; do
    gwctl price set "$m" --ratio 1 >/dev/null
  done
  # the channel calls claude-house "claude-real": the model is renamed in the body it gets
  printf 'sk-anthropic-chan\n' | gwctl channel add --name ca --type anthropic --base-url "$base" \
    --models claude-house --model-map '{"claude-house":"claude-real"}'
  printf 'sk-gemini-chan\n' | gwctl channel add --name cg --type gemini --base-url "$base" \
    --models gemini-native,gemini-embed,gemini-house --model-map '{"gemini-house":"gemini-real"}'
  printf 'sk-openai-chan\n' | gwctl channel add --name co --type openai --base-url "$base" --models claude-converted
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
}

teardown() {
  relay_teardown
}

# req METHOD PATH [BODY] [curl args]: sets status_code, body, and headers (lower-cased)
req() {
  local method=$1 path=$2 data=${3-}; shift 3 || shift $#
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -D "$out.head" -o "$out.body" -w '%{http_code}' -X "$method" "$RELAY_URL$path" \
    -H 'content-type: application/json' --data-binary "$data" "$@")
  body=$(cat "$out.body")
  headers=$(tr -d '\r' < "$out.head" | tr '[:upper:]' '[:lower:]')
}

quota_of() { sql "SELECT remain_quota FROM tokens WHERE name='t1'"; }

@test "count_tokens and :countTokens are the channel's own count when it speaks the client's format; free" {
  relayd_start
  before=$(quota_of)
  # Anthropic: the channel's answer (the mock counts 1000 + messages), anthropic-beta passed, the
  # channel's key, the client's body with the channel's model name
  req POST /v1/messages/count_tokens \
    '{"model":"claude-house","system":"be brief","messages":[{"role":"user","content":"hello"},{"role":"assistant","content":"hi"},{"role":"user","content":"count me"}]}' \
    -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -H 'anthropic-beta: token-counting-2024-11-01'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd')" = '{"input_tokens": 1003}' ]
  echo "$headers" | grep -qx 'x-relay-token-count: upstream'
  sent=$(mock_requests up | grep '"/v1/messages/count_tokens"')
  [ "$(echo "$sent" | wc -l)" = 1 ]
  [ "$(echo "$sent" | $JGET 'd["headers"]["x-api-key"], d["headers"]["anthropic-beta"], d["body"]["model"], d["body"]["system"], len(d["body"]["messages"])')" = \
    '["sk-anthropic-chan", "token-counting-2024-11-01", "claude-real", "be brief", 3]' ]
  # Gemini: contents, or a whole generateContentRequest (its model renamed for the channel);
  # Google's whole answer, promptTokensDetails included
  req POST "/v1beta/models/gemini-native:countTokens" '{"contents":[{"role":"user","parts":[{"text":"abcdefgh"}]}]}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd')" = \
    '{"totalTokens": 1001, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1001}]}' ]
  echo "$headers" | grep -qx 'x-relay-token-count: upstream'
  req POST "/v1beta/models/gemini-house:countTokens?key=$KEY" \
    '{"generateContentRequest":{"model":"models/gemini-house","contents":[{"parts":[{"text":"a"}]},{"role":"model","parts":[{"text":"b"}]}]}}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["totalTokens"]')" = 1002 ]
  sent=$(mock_requests up | grep ':countTokens')
  [ "$(echo "$sent" | python3 -c 'import json,sys; print(" ".join(json.loads(l)["path"] for l in sys.stdin))')" = \
    '/v1beta/models/gemini-native:countTokens /v1beta/models/gemini-real:countTokens' ]
  [ "$(echo "$sent" | tail -1 | $JGET 'd["headers"]["x-goog-api-key"], d["body"]["generateContentRequest"]["model"]')" = \
    '["sk-gemini-chan", "models/gemini-real"]' ]
  # a converted path (an Anthropic client, an OpenAI channel) keeps relay's own count: nothing sent
  n=$(mock_requests up | wc -l)
  req POST /v1/messages/count_tokens '{"model":"claude-converted","messages":[{"role":"user","content":"abcdabcd"}]}' \
    -H "x-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd')" = '{"input_tokens": 2}' ]
  echo "$headers" | grep -qx 'x-relay-token-count: local'
  [ "$(mock_requests up | wc -l)" = "$n" ]
  # free: nothing charged, no log row
  sleep 0.3
  [ "$(quota_of)" = "$before" ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" = 0 ]
}

@test "a channel that refuses a count: relay counts itself, says so, and the channel is not failed" {
  gwctl config set retry_times 0
  gwctl config set breaker_failures 0
  gwctl config set channel_disable_failures 2
  relayd_start
  # the mock reads "mock" in the body it gets: the client's own, passed as it is
  for status in 500 503 429; do
    req POST /v1/messages/count_tokens \
      "{\"model\":\"claude-house\",\"mock\":{\"status\":$status},\"messages\":[{\"role\":\"user\",\"content\":\"abcdabcd\"}]}" \
      -H "x-api-key: $KEY"
    [ "$status_code" = 200 ]
    echo "$headers" | grep -qx 'x-relay-token-count: local'
    echo "$headers" | grep -qx 'x-relay-counter: chars/4'
    [ "$(echo "$body" | $JGET 'd["input_tokens"]')" -gt 0 ]
    [ "$(echo "$body" | $JGET 'd["input_tokens"]')" -lt 1000 ]
  done
  req POST "/v1beta/models/gemini-native:countTokens" '{"contents":[{"parts":[{"text":"x"}]}],"mock":{"status":500}}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'list(d)')" = '["totalTokens"]' ]
  echo "$headers" | grep -qx 'x-relay-token-count: local'
  [ "$(mock_requests up | grep -c 'count')" = 4 ]
  # three refusals in a row, two allowed: still enabled, and the next count is the channel's
  sleep 0.3
  [ "$(gwctl channel show ca --json | $JGET 'd["status"]')" = enabled ]
  req POST /v1/messages/count_tokens '{"model":"claude-house","messages":[{"role":"user","content":"x"}]}' \
    -H "x-api-key: $KEY"
  [ "$(echo "$body" | $JGET 'd["input_tokens"]')" = 1001 ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" = 0 ]
}

@test "embeddings on a Gemini channel: OpenAI's SDK converted to batchEmbedContents, Gemini's SDK passed through" {
  [ -d "$SDK_DIR/node_modules/openai" ] || {
    echo "tests/sdk/node_modules is missing: make check runs npm ci there" >&2
    return 1
  }
  relayd_start
  before=$(quota_of)
  out=$(cd "$SDK_DIR" && RELAY_KEY=$KEY node client.mjs openai embed gemini-embed)
  echo "openai embed: $out" >&3
  # two vectors of 4 dimensions (the SDK asked base64, its default, and decoded it), relay's count
  [ "$(echo "$out" | $JGET '[len(v) for v in d["vectors"]]')" = '[4, 4]' ]
  [ "$(echo "$out" | $JGET 'd["vectors"][0] != d["vectors"][1]')" = true ]
  prompt=$(echo "$out" | $JGET 'd["usage"]["prompt_tokens"]')
  [ "$prompt" -gt 0 ]
  [ "$(echo "$out" | $JGET 'd["usage"]["total_tokens"]')" = "$prompt" ]
  # what Google got: batchEmbedContents, each request naming the model, dimensions as
  # outputDimensionality, the channel's key
  sent=$(mock_requests up | grep batchEmbedContents)
  [ "$(echo "$sent" | $JGET 'd["path"], d["headers"]["x-goog-api-key"]')" = \
    '["/v1beta/models/gemini-embed:batchEmbedContents", "sk-gemini-chan"]' ]
  [ "$(echo "$sent" | $JGET '[(r["model"], r["content"]["parts"][0]["text"], r["outputDimensionality"]) for r in d["body"]["requests"]]')" = \
    '[["models/gemini-embed", "hello", 4], ["models/gemini-embed", "world", 4]]' ]
  # billed by relay's count, which the client saw, and the row says the count was relay's
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE type=2 AND model_name='gemini-embed'"
  row=$(sql "SELECT prompt_tokens || ' ' || usage_source FROM logs WHERE type=2 AND model_name='gemini-embed'")
  echo "row: $row" >&3
  [ "$row" = "$prompt local" ]
  [ "$(quota_of)" -lt "$before" ]
  # Gemini's own SDK: its embedContent call reaches the channel as Google's request, the answer as
  # it came: the same vectors for the same texts
  gout=$(cd "$SDK_DIR" && RELAY_KEY=$KEY node client.mjs gemini embed gemini-embed)
  echo "gemini embed: $gout" >&3
  python3 -c '
import json, sys
a = json.loads(sys.argv[1])["vectors"]; b = json.loads(sys.argv[2])["vectors"]
assert len(a) == len(b) == 2 and all(len(v) == 4 for v in b), (a, b)
assert all(abs(x - y) < 1e-6 for va, vb in zip(a, b) for x, y in zip(va, vb)), (a, b)' "$out" "$gout"
  [ "$(mock_requests up | grep -c 'EmbedContents\|embedContent')" = 2 ]
  # a mapped model: the native body names the channel's model in every request
  req POST "/v1beta/models/gemini-house:batchEmbedContents" \
    '{"requests":[{"model":"models/gemini-house","content":{"parts":[{"text":"hello"}]},"outputDimensionality":4}]}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'len(d["embeddings"][0]["values"])')" = 4 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"], d["body"]["requests"][0]["model"]')" = \
    '["/v1beta/models/gemini-real:batchEmbedContents", "models/gemini-real"]' ]
  req POST "/v1beta/models/gemini-house:embedContent" '{"content":{"parts":[{"text":"hello"}]}}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'len(d["embedding"]["values"])')" = 8 ]
  # token ids have no Gemini form: the client's 400, in OpenAI's shape, nothing sent or charged
  n=$(mock_requests up | wc -l)
  req POST /v1/embeddings '{"model":"gemini-embed","input":[[1,2,3]]}' -H "Authorization: Bearer $KEY"
  [ "$status_code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'text only'
  [ "$(mock_requests up | wc -l)" = "$n" ]
}
