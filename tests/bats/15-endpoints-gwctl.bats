#!/usr/bin/env bats
# gwctl for the providers and endpoints of doc/endpoints.md: default base URLs per channel type,
# `channel test` in each type's own API, prices per image / second / search unit.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
}

# refused CODE TEXT CMD...: CMD exits CODE and says TEXT on stderr
refused() {
  local want=$1 text=$2
  shift 2
  run "$@"
  [ "$status" -eq "$want" ] || { echo "exit $status, expected $want: $output" >&2; return 1; }
  [[ $output == *"$text"* ]] || { echo "no '$text' in: $output" >&2; return 1; }
}

@test "channel add: without --base-url a type gets its public API's URL; azure, custom and compatible need one" {
  for t in openai anthropic gemini cohere jina deepseek; do
    printf 'k\n' | gwctl channel add --name "c-$t" --type "$t" --models m1
  done
  [ "$(sql "SELECT type, base_url FROM channels ORDER BY id" | tr '\t\n' ' |')" = \
    "openai https://api.openai.com|anthropic https://api.anthropic.com|gemini https://generativelanguage.googleapis.com|cohere https://api.cohere.ai|jina https://api.jina.ai|deepseek https://api.deepseek.com|" ]
  for t in azure custom compatible; do
    refused 2 "missing --base-url URL: a" bash -c "printf 'k\n' | '$RELAY_BIN/gwctl' channel add --name c-$t --type $t --models m1"
  done
  [ "$(sql "SELECT count(*) FROM channels")" = 6 ]
  # an explicit --base-url still wins
  printf 'k\n' | gwctl channel add --name own --type cohere --base-url https://rerank.example/ --models m1
  [ "$(sql "SELECT base_url FROM channels WHERE name='own'")" = https://rerank.example ]
  refused 2 "unknown channel type 'mistrall'" bash -c "printf 'k\n' | '$RELAY_BIN/gwctl' channel add --name x --type mistrall --models m1"
  gwctl --list-commands | grep -q 'channel.add.*\[--base-url URL\]'
}

@test "channel test speaks each type's API: chat, azure deployment, anthropic messages, gemini, cohere/jina rerank" {
  mock_start up
  printf 'k-openai\n' | gwctl channel add --name o --type openai --base-url "$MOCK_URL" --models gpt-4o
  printf 'k-azure\n' | gwctl channel add --name a --type azure --base-url "$MOCK_URL" --models gpt-4.1 --api-version 2025-01-01
  printf 'k-anthropic\n' | gwctl channel add --name c --type anthropic --base-url "$MOCK_URL" --models claude-sonnet-4-0
  printf 'k-gemini\n' | gwctl channel add --name g --type gemini --base-url "$MOCK_URL" --models gemini-2.0-flash
  printf 'k-cohere\n' | gwctl channel add --name co --type cohere --base-url "$MOCK_URL" --models rerank-v3.5
  printf 'k-jina\n' | gwctl channel add --name ji --type jina --base-url "$MOCK_URL/v1" --models jina-reranker-m0
  for ch in o a c g co ji; do
    run gwctl channel test "$ch" --json
    [ "$status" -eq 0 ] || { echo "$ch: $output" >&2; false; }
    [ "$(echo "$output" | $JGET 'd["ok"], d["status"]')" = '[true, 200]' ]
  done
  mock_requests up > "$BATS_TEST_TMPDIR/reqs"
  python3 - "$BATS_TEST_TMPDIR/reqs" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert [x["path"] for x in r] == ["/v1/chat/completions", "/openai/deployments/gpt-41/chat/completions",
                                  "/v1/messages", "/v1beta/models/gemini-2.0-flash:generateContent",
                                  "/v1/rerank", "/v1/rerank"], [x["path"] for x in r]
h = [x["headers"] for x in r]
assert h[0]["authorization"] == "Bearer k-openai"
assert h[1]["api-key"] == "k-azure" and r[1]["query"]["api-version"] == "2025-01-01"
assert h[2]["x-api-key"] == "k-anthropic" and h[2]["anthropic-version"] == "2023-06-01"
assert h[3]["x-goog-api-key"] == "k-gemini" and r[3]["body"]["contents"][0]["parts"][0]["text"] == "hi"
assert h[4]["authorization"] == "Bearer k-cohere" and r[4]["body"]["model"] == "rerank-v3.5"
assert h[5]["authorization"] == "Bearer k-jina" and len(r[5]["body"]["documents"]) == 2
PY
  # a failing upstream is exit 5 with its message
  printf 'k\n' | gwctl channel add --name bad --type cohere --base-url "$MOCK_URL/nowhere" --models rerank-v3.5
  refused 5 "answered HTTP 404" gwctl channel test bad
}

@test "price set --per and import/export carry the unit; unknown units are refused" {
  gwctl price set my-image --price 0.05 --per image
  gwctl price set my-audio --price 0.0002 --per second
  gwctl price set my-call --price 0.1
  [ "$(sql "SELECT model, fixed_price, price_unit FROM prices WHERE model LIKE 'my-%' ORDER BY model" | tr '\t\n' ' |')" = \
    "my-audio 0.0002 second|my-call 0.1 call|my-image 0.05 image|" ]
  [ "$(gwctl price list --json | $JGET '[p["unit"] for p in d if p["model"] == "my-image"]')" = '["image"]' ]
  gwctl price list | grep my-audio | grep -q '0.0002 USD/second'
  # defaults shipped by migration 006
  [ "$(sql "SELECT fixed_price, price_unit FROM prices WHERE model='dall-e-3'" | tr '\t' ' ')" = "0.04 image" ]
  [ "$(sql "SELECT fixed_price, price_unit FROM prices WHERE model='whisper-1'" | tr '\t' ' ')" = "0.0001 second" ]
  [ "$(sql "SELECT fixed_price, price_unit FROM prices WHERE model='rerank-v3.5'" | tr '\t' ' ')" = "0.002 search" ]
  [ "$(sql "SELECT model_ratio, fixed_price IS NULL FROM prices WHERE model='tts-1'" | tr '\t' ' ')" = "7.5 1" ]
  # export -> import round trip keeps units
  gwctl price export --json > "$BATS_TEST_TMPDIR/p.json"
  [ "$($JGET 'd["my-image"]' < "$BATS_TEST_TMPDIR/p.json")" = '{"fixed_price": 0.05, "unit": "image"}' ]
  [ "$($JGET 'd["my-call"]' < "$BATS_TEST_TMPDIR/p.json")" = '{"fixed_price": 0.1}' ]
  gwctl price set my-image --ratio 1
  gwctl price import "$BATS_TEST_TMPDIR/p.json"
  [ "$(sql "SELECT fixed_price, price_unit FROM prices WHERE model='my-image'" | tr '\t' ' ')" = "0.05 image" ]
  refused 2 "unknown price unit 'minute'" gwctl price set x --price 1 --per minute
  refused 2 "--per UNIT goes with --price" gwctl price set x --ratio 1 --per image
  echo '{"x":{"fixed_price":1,"unit":"token"}}' > "$BATS_TEST_TMPDIR/bad.json"
  refused 2 "unknown price unit 'token'" gwctl price import "$BATS_TEST_TMPDIR/bad.json"
  echo '{"x":{"model_ratio":1,"unit":"image"}}' > "$BATS_TEST_TMPDIR/bad2.json"
  refused 2 "unit goes with fixed_price" gwctl price import "$BATS_TEST_TMPDIR/bad2.json"
  [ "$(sql "SELECT count(*) FROM prices WHERE model='x'")" = 0 ]
}
