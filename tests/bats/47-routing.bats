#!/usr/bin/env bats
# Routing for cost and resilience (issue #25): tiered prices for long prompts, the exact-match
# response cache and model fallback chains, through a real relayd against the mock upstream.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
}

teardown() {
  relay_teardown
}

# post PATH BODY [curl args...]: sets status_code, body and headers (the answer's header lines)
post() {
  local path=$1 data=$2; shift 2
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s --max-time 60 -o "$out.body" -D "$out.headers" -w '%{http_code}' "$RELAY_URL$path" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$data" "$@") || true
  body=$(cat "$out.body" 2>/dev/null || true)
  headers=$(tr -d '\r' < "$out.headers" 2>/dev/null || true)
}

openai_channel() {
  printf 'sk-upstream\n' | gwctl channel add --name "$1" --type openai --base-url "$2" --models "$3"
}

# a chat body whose user message is N bytes of text, with extra top-level JSON after it
chat_body() {
  local model=$1 n=$2 extra=${3:-}
  printf '{"model":"%s","max_tokens":50,"messages":[{"role":"user","content":"%s"}]%s}' \
    "$model" "$(head -c "$n" /dev/zero | tr '\0' 'a')" "$extra"
}

@test "tiered price: above the prompt threshold the tier's ratios bill the whole request, in the row and in log explain" {
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" long-1
  gwctl price set long-1 --ratio 1 --completion-ratio 2 --tier 2000:ratio=2,completion=3 >/dev/null
  # the tier is listed (table and --json) and exported as --tier writes it
  gwctl price list | grep long-1 | grep -q '2000:ratio=2,completion=3,cache=1'
  [ "$(gwctl price list --json | $JGET '[r for r in d if r["model"]=="long-1"][0]["tier"]["above"]')" = 2000 ]
  gwctl price export --json | grep -q '"tier":"2000:ratio=2,completion=3,cache=1"'
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  relayd_start
  # 2,500 prompt tokens (above 2,000), 10 completion: (2500 + 10 x 3) x 2 = 5060, not the base 2520
  post /v1/chat/completions "$(chat_body long-1 3000 ',"mock":{"prompt_tokens":2500,"completion_tokens":10}')"
  [ "$status_code" = 200 ]
  # 1,500 prompt tokens: the base price, 1500 + 10 x 2 = 1520
  post /v1/chat/completions "$(chat_body long-1 100 ',"mock":{"prompt_tokens":1500,"completion_tokens":10}')"
  [ "$status_code" = 200 ]
  wait_until 20 sql_is 2 "SELECT count(*) FROM logs WHERE type = 2"
  [ "$(sql "SELECT quota FROM logs WHERE type = 2 AND prompt_tokens = 2500")" = 5060 ]
  [ "$(sql "SELECT quota FROM logs WHERE type = 2 AND prompt_tokens = 1500")" = 1520 ]
  long=$(sql "SELECT request_id FROM logs WHERE type = 2 AND prompt_tokens = 2500")
  short=$(sql "SELECT request_id FROM logs WHERE type = 2 AND prompt_tokens = 1500")
  # the row's breakdown names the tier and its ratios; explain prints it and re-computes the charge
  [ "$(gwctl log explain "$long" --json | $JGET 'd["rows"][0]["billing"]["tier_above"]')" = 2000 ]
  [ "$(gwctl log explain "$long" --json | $JGET 'd["rows"][0]["billing"]["model_ratio"]')" = 2 ]
  run gwctl log explain "$long"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'long-context tier: prompt above 2000 tokens'
  echo "$output" | grep -q 're-computed 5060 = logs.quota 5060: matches'
  run gwctl log explain "$short"
  [ "$status" -eq 0 ]
  ! echo "$output" | grep -q 'long-context tier'
  echo "$output" | grep -q 're-computed 1520 = logs.quota 1520: matches'
  # the reservation of the long request was at the tier (its input bound is above the threshold):
  # the charge fit in it, so nothing was cut
  [ "$(gwctl log explain "$long" --json | $JGET 'd["rows"][0]["billing"].get("note","")')" = "" ]
  res=$(gwctl log explain "$long" --json | $JGET 'd["rows"][0]["billing"]["reserved"]')
  [ "$res" -ge 5060 ]
}

@test "tiered price: gwctl checks --tier, removes it with none, and a fixed price takes none" {
  gwctl price set m1 --ratio 1 >/dev/null
  run gwctl price set m1 --tier 2000
  [ "$status" -eq 2 ]
  run gwctl price set m1 --tier 2000:completion=3
  [ "$status" -eq 2 ]
  run gwctl price set m1 --tier 0:ratio=2
  [ "$status" -eq 2 ]
  run gwctl price set m1 --tier 2000:ratio=2,bogus=1
  [ "$status" -eq 2 ]
  run gwctl price set m1 --price 0.01 --tier 2000:ratio=2
  [ "$status" -eq 2 ]
  gwctl price set m1 --tier 2000:ratio=2 >/dev/null
  [ "$(sql "SELECT tier_above || ' ' || tier_model_ratio || ' ' || coalesce(tier_completion_ratio, 'base') FROM prices WHERE model = 'm1'")" = "2000 2.0 base" ]
  gwctl price set m1 --tier none >/dev/null
  [ "$(sql "SELECT coalesce(tier_above, 'none') FROM prices WHERE model = 'm1'")" = none ]
  run gwctl price set nosuch --tier 2000:ratio=2
  [ "$status" -ne 0 ]
  # import takes the same text; a tier on a fixed price is refused before anything is written
  echo '{"m2":{"model_ratio":1,"tier":"100:ratio=3"}}' > "$BATS_TEST_TMPDIR/p.json"
  gwctl price import "$BATS_TEST_TMPDIR/p.json" >/dev/null
  [ "$(sql "SELECT tier_above FROM prices WHERE model = 'm2'")" = 100 ]
  echo '{"m3":{"fixed_price":0.1,"tier":"100:ratio=3"}}' > "$BATS_TEST_TMPDIR/q.json"
  run gwctl price import "$BATS_TEST_TMPDIR/q.json"
  [ "$status" -eq 2 ]
  [ "$(sql "SELECT count(*) FROM prices WHERE model = 'm3'")" = 0 ]
}
