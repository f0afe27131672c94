#!/usr/bin/env bats
# The endpoints clients call that relay used to answer wrong (issue #20): Anthropic's
# /v1/messages/count_tokens and Gemini's :countTokens (free, counted locally, never billed),
# Gemini's GET /v1beta/models listing, 404 model_not_found in each client's own shape for a model
# no channel serves (503 stays for channels that are all down), 404s under an API's own tree in
# its shape, listings that hold only what the key will be served, and the inbound API named in
# the access log and the log row.
# Answer shapes: https://docs.anthropic.com/en/api/messages-count-tokens ({"input_tokens":N}),
# https://ai.google.dev/api/tokens#method:-models.counttokens ({"totalTokens":N}),
# https://ai.google.dev/api/models#method:-models.list ({"models":[{"name":"models/ID",...}]}).

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
  mock_start up --chunks 2
  printf 'sk-upstream\n' | gwctl channel add --name c1 --type openai --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models gpt-4o-mini,house-model,gemini-2.5-flash,claude-sonnet-4-5,gpt-4o
  gwctl price set house-llm --ratio 1 >/dev/null   # priced, but no channel serves it
  gwctl price set claude-sonnet-4-5 --ratio 1 >/dev/null
  gwctl price set gpt-4o-mini --ratio 1 >/dev/null
  gwctl price set gemini-2.5-flash --ratio 1 >/dev/null
  gwctl price set gpt-4o --ratio 1 >/dev/null
  # house-model is served but has no price: never listed
  gwctl price unset house-model >/dev/null 2>&1 || true
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

teardown() {
  relay_teardown
}

# req METHOD PATH [BODY] [curl args]: sets status_code, body, and headers (lower-cased)
req() {
  local method=$1 path=$2 data=${3-}; shift 3 || shift $#
  local out="$BATS_TEST_TMPDIR/resp"
  if [ -n "$data" ]; then
    status_code=$(curl -s -D "$out.head" -o "$out.body" -w '%{http_code}' -X "$method" "$RELAY_URL$path" \
      -H 'content-type: application/json' --data-binary "$data" "$@")
  else
    status_code=$(curl -s -D "$out.head" -o "$out.body" -w '%{http_code}' -X "$method" "$RELAY_URL$path" "$@")
  fi
  body=$(cat "$out.body")
  headers=$(tr -d '\r' < "$out.head" | tr '[:upper:]' '[:lower:]')
}

quota_of() { sql "SELECT remain_quota FROM tokens WHERE name='t1'"; }

@test "count_tokens (Anthropic) and :countTokens (Gemini): counted by relay, free, never reach the upstream" {
  before=$(quota_of)
  # a model outside OpenAI's families: characters/4 of every text string ("hello world!" 3 + "abcd" 1)
  req POST /v1/messages/count_tokens \
    '{"model":"claude-sonnet-4-5","system":"abcd","messages":[{"role":"user","content":"hello world!"}]}' \
    -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd')" = '{"input_tokens": 4}' ]
  echo "$headers" | grep -qx 'x-relay-counter: chars/4'
  # an OpenAI model: its BPE when the tokenizer data is installed, else characters/4; named either way
  req POST /v1/messages/count_tokens '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello world"}]}' \
    -H "x-api-key: $KEY"
  [ "$status_code" = 200 ]
  # o200k_base: "hello" " world" = 2 tokens; characters/4 of "hello world" = 3
  counter=$(echo "$headers" | sed -n 's/^x-relay-counter: //p')
  case "$counter" in
    o200k_base) [ "$(echo "$body" | $JGET 'd["input_tokens"]')" = 2 ] ;;
    chars/4) [ "$(echo "$body" | $JGET 'd["input_tokens"]')" = 3 ] ;;
    *) false ;;
  esac
  # Claude Code asks 18 times for one /context: every one answered, none billed
  for _ in $(seq 1 18); do
    req POST /v1/messages/count_tokens '{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"abcdabcd"}]}' \
      -H "x-api-key: $KEY"
    [ "$status_code" = 200 ]; [ "$(echo "$body" | $JGET 'd["input_tokens"]')" = 2 ]
  done
  # Gemini: contents, or a whole generateContentRequest
  req POST "/v1beta/models/gemini-2.5-flash:countTokens" '{"contents":[{"role":"user","parts":[{"text":"abcdefgh"}]}]}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd')" = '{"totalTokens": 2}' ]
  req POST "/v1beta/models/gemini-2.5-flash:countTokens?key=$KEY" \
    '{"generateContentRequest":{"model":"models/gemini-2.5-flash","contents":[{"parts":[{"text":"abcdefghijkl"}]}]}}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["totalTokens"]')" = 3 ]
  # a model the key is not served: 404 in each shape, still free
  req POST /v1/messages/count_tokens '{"model":"no-such-model","messages":[]}' -H "x-api-key: $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["type"], d["error"]["type"]')" = '["error", "not_found_error"]' ]
  req POST /v1beta/models/no-such-model:countTokens '{"contents":[]}' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = NOT_FOUND ]
  req POST /v1/messages/count_tokens '{"messages":[]}' -H "x-api-key: $KEY"
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = invalid_request_error ]
  # the key is still checked
  req POST /v1/messages/count_tokens '{"model":"gpt-4o-mini","messages":[]}' -H "x-api-key: sk-wrongwrongwrong"
  [ "$status_code" = 401 ]
  # nothing went upstream, nothing was charged, no log row was written
  [ -z "$(mock_requests up)" ]
  sleep 0.3
  [ "$(quota_of)" = "$before" ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" = 0 ]
  # with the published ranks installed (make tokenizer-data), an OpenAI model is counted by its BPE
  local dir=${BUILD:-build}/share/tokenizer
  [[ "$dir" = /* ]] || dir="$BATS_TEST_DIRNAME/../../$dir"
  if [ -f "$dir/o200k_base.json" ]; then
    relayd_stop
    relayd_start --tokenizer-dir "$dir"      # the argument beats helpers.bash's RELAY_TOKENIZER_DIR
    req POST /v1/messages/count_tokens '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello world"}]}' \
      -H "x-api-key: $KEY"
    [ "$status_code" = 200 ]
    echo "$headers" | grep -qx 'x-relay-counter: o200k_base'
    [ "$(echo "$body" | $JGET 'd["input_tokens"]')" = 2 ]
  fi
}

@test "GET /v1beta/models: Google's list shape with what the key will be served" {
  req GET "/v1beta/models?key=$KEY" ''
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET '[m["name"] for m in d["models"]]')" = \
    '["models/claude-sonnet-4-5", "models/gemini-2.5-flash", "models/gpt-4o", "models/gpt-4o-mini"]' ]
  [ "$(echo "$body" | $JGET '"generateContent" in d["models"][0]["supportedGenerationMethods"]')" = true ]
  req GET /v1beta/models/gemini-2.5-flash '' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["name"], d["baseModelId"]')" = '["models/gemini-2.5-flash", "gemini-2.5-flash"]' ]
  req GET /v1beta/models/house-model '' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = NOT_FOUND ]
  req GET /v1beta/models '' 
  [ "$status_code" = 401 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = UNAUTHENTICATED ]
}

@test "/v1/models lists only what the key will be served: routed, allowed and priced" {
  req GET /v1/models '' -H "Authorization: Bearer $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET '[m["id"] for m in d["data"]]')" = \
    '["claude-sonnet-4-5", "gemini-2.5-flash", "gpt-4o", "gpt-4o-mini"]' ]
  # the unpriced one is refused when asked for: it must not be listed
  req POST /v1/chat/completions '{"model":"house-model","messages":[{"role":"user","content":"hi"}]}' \
    -H "Authorization: Bearer $KEY"
  [ "$status_code" = 403 ]
  req GET /v1/models/house-model '' -H "Authorization: Bearer $KEY"
  [ "$status_code" = 404 ]
  # a key limited to some models lists those
  K2=$(gwctl token create --user alice --name t2 --quota 1000000 --models gpt-4o-mini,house-model)
  wait_until 10 curl -sf -o /dev/null "$RELAY_URL/v1/models" -H "Authorization: Bearer $K2"
  req GET /v1/models '' -H "Authorization: Bearer $K2"
  [ "$(echo "$body" | $JGET '[m["id"] for m in d["data"]]')" = '["gpt-4o-mini"]' ]
}

@test "a model no channel serves is 404 model_not_found in each client's shape; channels all down stay 503" {
  req POST /v1/chat/completions '{"model":"house-llm","messages":[{"role":"user","content":"hi"}]}' \
    -H "Authorization: Bearer $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"], d["error"]["param"]')" = '["model_not_found", "model"]' ]
  req POST /v1/messages '{"model":"house-llm","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' \
    -H "x-api-key: $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["type"], d["error"]["type"]')" = '["error", "not_found_error"]' ]
  req POST /v1beta/models/house-llm:generateContent '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"], d["error"]["status"]')" = '[404, "NOT_FOUND"]' ]
  [ -z "$(mock_requests up)" ]
  # unknown paths under an API's own tree: that API's error shape
  req POST /v1/messages/batches-nope '{}' -H "x-api-key: $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["type"], d["error"]["type"]')" = '["error", "not_found_error"]' ]
  req GET /v1beta/files '' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = NOT_FOUND ]
  req GET /v1/nowhere '' -H "Authorization: Bearer $KEY"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = invalid_request_error ]
  # a model whose channels are all disabled (by hand here; by health alike): 503, as before (it
  # exists; try later)
  gwctl channel disable c1
  wait_until 10 sh -c "curl -s -o /dev/null -w '%{http_code}' '$RELAY_URL/v1/chat/completions' \
    -H 'Authorization: Bearer $KEY' -H 'content-type: application/json' \
    -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' | grep -qx 503"
  req POST /v1/messages '{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' \
    -H "x-api-key: $KEY"
  [ "$status_code" = 503 ]
}

@test "the access log and the log row name the inbound API of each request" {
  req POST /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' \
    -H "Authorization: Bearer $KEY"
  [ "$status_code" = 200 ]; id_openai=$(echo "$headers" | sed -n 's/^x-request-id: //p')
  req POST /v1/messages '{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' \
    -H "x-api-key: $KEY"
  [ "$status_code" = 200 ]; id_claude=$(echo "$headers" | sed -n 's/^x-request-id: //p')
  req POST /v1beta/models/gpt-4o-mini:generateContent '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]; id_gemini=$(echo "$headers" | sed -n 's/^x-request-id: //p')
  req POST /v1/messages/count_tokens '{"model":"gpt-4o-mini","messages":[]}' -H "x-api-key: $KEY"
  [ "$status_code" = 200 ]; id_count=$(echo "$headers" | sed -n 's/^x-request-id: //p')
  log="$BATS_TEST_TMPDIR/relayd.log"
  wait_until 10 grep -q "request_id=$id_count .*api=anthropic" "$log"
  wait_until 10 grep -q "request_id=$id_gemini .*api=gemini" "$log"
  grep "request_id=$id_openai " "$log" | grep -q ' api=openai'
  grep "request_id=$id_claude " "$log" | grep -q ' api=anthropic'
  # the row keeps it in its breakdown; gwctl log explain prints it
  wait_until 10 sql_is 3 'SELECT count(*) FROM logs WHERE type=2'
  run gwctl log explain "$id_claude"
  [ "$status" = 0 ]
  echo "$output" | grep -Eq '^  api +anthropic$'
  [ "$(gwctl log explain "$id_gemini" --json | $JGET 'd["rows"][0]["billing"]["api"]')" = gemini ]
  # gwctl log list: an API column, and "api" in its JSON
  [ "$(gwctl log list --json --type consume | $JGET 'sorted(r["api"] for r in d)')" = '["anthropic", "gemini", "openai"]' ]
  run gwctl log list --tsv --type consume
  [ "$(echo "${lines[0]}" | cut -f10)" = API ]
  [ "$(printf '%s\n' "${lines[@]:1}" | cut -f10 | sort | tr '\n' ' ')" = 'anthropic gemini openai ' ]
}

@test "streamGenerateContent without alt=sse: Google's JSON array form, converted and native" {
  printf 'gemini-key\n' | gwctl channel add --name gm --type gemini --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models gemini-native
  gwctl price set gemini-native --ratio 1 >/dev/null
  for model in gpt-4o-mini gemini-native; do
    wait_until 10 sh -c "curl -s '$RELAY_URL/v1/models' -H 'Authorization: Bearer $KEY' | grep -q '\"$model\"'"
    req POST "/v1beta/models/$model:streamGenerateContent" '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' \
      -H "x-goog-api-key: $KEY"
    [ "$status_code" = 200 ]
    echo "$headers" | grep -q '^content-type: application/json'
    # one JSON array of GenerateContentResponse objects: the text in order, finishReason and usage on the last
    printf '%s' "$body" | python3 -c '
import json, sys
arr = json.load(sys.stdin)
assert isinstance(arr, list) and len(arr) >= 2, arr
text = "".join(p.get("text", "") for f in arr for c in f.get("candidates", []) for p in c["content"]["parts"])
assert text == "hello " * 2, text
assert arr[-1]["candidates"][0]["finishReason"] == "STOP", arr[-1]
assert arr[-1]["usageMetadata"]["candidatesTokenCount"] == 2, arr[-1]
'
  done
  # alt=sse still streams SSE
  req POST "/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse" '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  echo "$headers" | grep -q '^content-type: text/event-stream'
  printf '%s\n' "$body" | grep -q '^data: {'
}

@test ":embedContent and :batchEmbedContents: converted to an OpenAI embeddings channel, billed as embeddings" {
  gwctl price set text-embedding-3-small --ratio 0.01 >/dev/null
  gwctl channel edit c1 --models gpt-4o-mini,house-model,gemini-2.5-flash,claude-sonnet-4-5,gpt-4o,text-embedding-3-small >/dev/null
  wait_until 10 sh -c "curl -s '$RELAY_URL/v1/models' -H 'Authorization: Bearer $KEY' | grep -q text-embedding-3-small"
  req POST /v1beta/models/text-embedding-3-small:embedContent \
    '{"model":"models/text-embedding-3-small","content":{"parts":[{"text":"hello"},{"text":"world"}]},"outputDimensionality":8}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'len(d["embedding"]["values"]) > 0')" = true ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = /v1/embeddings ]
  [ "$(echo "$up" | $JGET 'd["body"]["model"], d["body"]["input"], d["body"]["dimensions"]')" = \
    '["text-embedding-3-small", ["hello\nworld"], 8]' ]
  req POST "/v1beta/models/text-embedding-3-small:batchEmbedContents?key=$KEY" \
    '{"requests":[{"model":"models/text-embedding-3-small","content":{"parts":[{"text":"a"}]}},{"model":"models/text-embedding-3-small","content":{"parts":[{"text":"b"}]}}]}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'len(d["embeddings"]), all(len(e["values"]) > 0 for e in d["embeddings"])')" = '[2, true]' ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["body"]["input"]')" = '["a", "b"]' ]
  # a bad body: Google's error shape, nothing sent upstream, nothing billed
  n=$(mock_requests up | wc -l)
  req POST /v1beta/models/text-embedding-3-small:embedContent '{"content":{}}' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = INVALID_ARGUMENT ]
  [ "$(mock_requests up | wc -l)" = "$n" ]
  # billed as embeddings: two rows, prompt tokens only
  wait_until 10 sql_is 2 "SELECT count(*) FROM logs WHERE type=2 AND model_name='text-embedding-3-small' AND completion_tokens=0 AND prompt_tokens>0"
}
