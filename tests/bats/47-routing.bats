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
  [ "$(sql "SELECT tier_above FROM prices WHERE model = 'm1'")" = 2000 ]
  # a ratio not given is NULL: the base one applies
  [ "$(sql "SELECT count(*) FROM prices WHERE model = 'm1' AND tier_model_ratio = 2 AND tier_completion_ratio IS NULL AND tier_cache_ratio IS NULL")" = 1 ]
  gwctl price set m1 --tier none >/dev/null
  [ "$(sql "SELECT count(*) FROM prices WHERE model = 'm1' AND tier_above IS NULL AND tier_model_ratio IS NULL")" = 1 ]
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

# up_calls: how many requests the mock upstream "up" received
up_calls() { mock_requests | grep -c '"path":"/v1/chat/completions"' || true; }

@test "response cache: a hit replays the answer with no upstream call, whole and streamed; x-relay-cache; free and logged as a hit" {
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 1000000)
  gwctl token edit t1 --response-cache yes >/dev/null
  [ "$(gwctl token show t1 --json | $JGET 'd["response_cache"]')" = true ]
  relayd_start
  q='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"cache me"}],"temperature":0,"mock":{"chunks":7}}'
  post /v1/chat/completions "$q"
  [ "$status_code" = 200 ]
  echo "$headers" | grep -qix 'x-relay-cache: miss'
  first=$body
  [ "$(up_calls)" = 1 ]
  # the same question with other spacing and key order: the same canonical body
  post /v1/chat/completions '{ "temperature": 0, "mock": {"chunks": 7}, "messages": [{"content": "cache me", "role": "user"}], "model": "gpt-4o-mini" }'
  [ "$status_code" = 200 ]
  echo "$headers" | grep -qix 'x-relay-cache: hit'
  [ "$body" = "$first" ]
  [ "$(up_calls)" = 1 ]
  # streamed: its own entry (the form is in the key); the hit replays the same events
  s='{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"cache me"}],"temperature":0,"mock":{"chunks":7}}'
  post /v1/chat/completions "$s"
  [ "$status_code" = 200 ]
  echo "$headers" | grep -qix 'x-relay-cache: miss'
  sfirst=$body
  [ "$(up_calls)" = 2 ]
  post /v1/chat/completions "$s"
  [ "$status_code" = 200 ]
  echo "$headers" | grep -qix 'x-relay-cache: hit'
  echo "$headers" | grep -qi '^content-type: text/event-stream'
  [ "$body" = "$sfirst" ]
  echo "$body" | grep -q '^data: \[DONE\]'
  [ "$(up_calls)" = 2 ]
  # logged: two hits free, usage_source cache, no channel; the breakdown says cache_hit
  wait_until 20 sql_is 4 "SELECT count(*) FROM logs WHERE type = 2"
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 2 AND usage_source = 'cache' AND quota = 0 AND channel_id = 0")" = 2 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 2 AND usage_source = 'upstream' AND quota > 0")" = 2 ]
  hit=$(sql "SELECT request_id FROM logs WHERE usage_source = 'cache' ORDER BY id LIMIT 1")
  [ "$(gwctl log explain "$hit" --json | $JGET 'd["rows"][0]["billing"]["cache_hit"]')" = true ]
  run gwctl log explain "$hit"
  echo "$output" | grep -q "hit: answered from relayd's response cache"
  relayd_stop
  remain=$(sql "SELECT remain_quota FROM tokens WHERE name='t1'")
  used=$(sql "SELECT used_quota FROM tokens WHERE name='t1'")
  [ $((remain + used)) = 1000000 ]
  [ "$used" = "$(sql "SELECT sum(quota) FROM logs WHERE token_id = (SELECT id FROM tokens WHERE name='t1')")" ]
}

@test "response cache: keys differ per group and field, never errors or cut streams; no-store, force, opt-in by model, hit percent" {
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini,gpt-4o
  gwctl group set vip --ratio 1 --selectable yes >/dev/null
  printf 'sk-upstream\n' | gwctl channel add --name c2 --type openai --base-url "$MOCK_UP_URL" --models gpt-4o-mini --group vip >/dev/null
  gwctl user add alice --quota 100000000
  KEY_A=$(gwctl token create --user alice --name a --unlimited)
  KEY_B=$(gwctl token create --user alice --name b --unlimited --group vip)
  KEY_C=$(gwctl token create --user alice --name c --unlimited)
  gwctl token edit a --response-cache yes >/dev/null
  gwctl token edit b --response-cache yes >/dev/null
  gwctl config set response_cache_hit_percent 50 >/dev/null
  relayd_start
  q='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"q1"}],"user":"u1"}'
  KEY=$KEY_A post /v1/chat/completions "$q"
  echo "$headers" | grep -qix 'x-relay-cache: miss'
  [ "$(up_calls)" = 1 ]
  # another group: another key
  KEY=$KEY_B post /v1/chat/completions "$q"
  echo "$headers" | grep -qix 'x-relay-cache: miss'
  [ "$(up_calls)" = 2 ]
  # a field that changes the answer: another key; "user" does not
  KEY=$KEY_A post /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"q1"}],"user":"u1","temperature":0.5}'
  echo "$headers" | grep -qix 'x-relay-cache: miss'
  [ "$(up_calls)" = 3 ]
  KEY=$KEY_A post /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"q1"}],"user":"someone else"}'
  echo "$headers" | grep -qix 'x-relay-cache: hit'
  [ "$(up_calls)" = 3 ]
  # no-store: neither read nor stored, no header
  KEY=$KEY_A post /v1/chat/completions "$q" -H 'x-relay-cache: no-store'
  [ "$status_code" = 200 ]
  ! echo "$headers" | grep -qi '^x-relay-cache'
  [ "$(up_calls)" = 4 ]
  # errors are never stored: the same failing question goes upstream each time
  e='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"q2"}],"mock":{"status":400}}'
  KEY=$KEY_A post /v1/chat/completions "$e"
  [ "$status_code" = 400 ]
  KEY=$KEY_A post /v1/chat/completions "$e"
  [ "$status_code" = 400 ]
  echo "$headers" | grep -qix 'x-relay-cache: miss'
  [ "$(up_calls)" = 6 ]
  # a stream cut short is never stored
  cut='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"q3"}],"mock":{"chunks":6,"disconnect_after":2}}'
  KEY=$KEY_A post /v1/chat/completions "$cut"
  KEY=$KEY_A post /v1/chat/completions "$cut"
  echo "$headers" | grep -qix 'x-relay-cache: miss'
  [ "$(up_calls)" = 8 ]
  # a token that did not opt in: no cache, unless the request forces it
  KEY=$KEY_C post /v1/chat/completions "$q"
  ! echo "$headers" | grep -qi '^x-relay-cache'
  [ "$(up_calls)" = 9 ]
  KEY=$KEY_C post /v1/chat/completions "$q" -H 'x-relay-cache: force'
  echo "$headers" | grep -qix 'x-relay-cache: hit'
  [ "$(up_calls)" = 9 ]
  # opt-in by model for every token
  gwctl config set response_cache_models 'gpt-4o' >/dev/null
  gwctl reload >/dev/null
  m='{"model":"gpt-4o","messages":[{"role":"user","content":"q4"}]}'
  KEY=$KEY_C post /v1/chat/completions "$m"
  echo "$headers" | grep -qix 'x-relay-cache: miss'
  KEY=$KEY_C post /v1/chat/completions "$m"
  echo "$headers" | grep -qix 'x-relay-cache: hit'
  [ "$(up_calls)" = 10 ]
  # hits cost response_cache_hit_percent (50) of the answer's price
  wait_until 20 sql_is 3 "SELECT count(*) FROM logs WHERE usage_source = 'cache'"
  full=$(sql "SELECT quota FROM logs WHERE model_name = 'gpt-4o' AND usage_source = 'upstream'")
  half=$(sql "SELECT quota FROM logs WHERE model_name = 'gpt-4o' AND usage_source = 'cache'")
  [ "$full" -gt 1 ]
  [ "$half" = $(( (full + 1) / 2 )) ]
}

@test "response cache: bounded under a flood of distinct requests (least recently used out)" {
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  gwctl token edit t1 --response-cache yes >/dev/null
  gwctl config set response_cache_mb 1 >/dev/null
  relayd_start
  maddr=$(gwctl status --json | $JGET 'd["metrics_listen"]')
  # 300 distinct answers of ~12 KB each: 3.6 MB through a 1 MiB cache
  for i in $(seq 1 300); do
    curl -s -o /dev/null --max-time 30 "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' \
      -d "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"flood $i\"}],\"mock\":{\"chunks\":2000}}"
  done
  curl -s "http://$maddr/metrics" > "$BATS_TEST_TMPDIR/m.txt"
  bytes=$(awk '$1 == "relayd_response_cache_bytes" {print $2}' "$BATS_TEST_TMPDIR/m.txt")
  entries=$(awk '$1 == "relayd_response_cache_entries" {print $2}' "$BATS_TEST_TMPDIR/m.txt")
  echo "cache: $entries entries, $bytes bytes" >&2
  [ "$bytes" -le 1048576 ]
  [ "$entries" -ge 10 ]
  [ "$entries" -lt 300 ]
  # the first ones went first; the last one is still there
  post /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"flood 1"}],"mock":{"chunks":2000}}'
  echo "$headers" | grep -qix 'x-relay-cache: miss'
  post /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"flood 300"}],"mock":{"chunks":2000}}'
  echo "$headers" | grep -qix 'x-relay-cache: hit'
}

# calls NAME: chat requests the mock NAME received
calls() { mock_requests "$1" | grep -c '"path":"/v1/chat/completions"' || true; }

@test "fallback chain: walked when every channel of the model failed, billed at the served model, logged with both names" {
  mock_start bad --status 500
  mock_start good
  openai_channel cb1 "$MOCK_BAD_URL" big-a,big-c
  openai_channel cb2 "$MOCK_BAD_URL" big-a
  openai_channel cg "$MOCK_GOOD_URL" small-b,small-c
  gwctl price set big-a --ratio 1 >/dev/null
  gwctl price set big-c --ratio 1 >/dev/null
  gwctl price set small-b --ratio 5 >/dev/null
  gwctl price set small-c --ratio 3 >/dev/null
  gwctl fallback set big-a --chain nosuch,small-b 2>"$BATS_TEST_TMPDIR/warn"
  grep -q "'nosuch' has no price" "$BATS_TEST_TMPDIR/warn"
  [ "$(gwctl fallback list --json | $JGET 'd[0]["chain"]')" = nosuch,small-b ]
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 1000000)
  relayd_start
  post /v1/chat/completions '{"model":"big-a","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["content"]')" != "" ]
  # both channels of big-a were tried, then small-b's
  [ "$(calls bad)" = 2 ]
  [ "$(calls good)" = 1 ]
  [ "$(mock_requests good | $JGET 'd["body"]["model"]')" = small-b ]
  # a model without a chain fails as before
  post /v1/chat/completions '{"model":"big-c","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 502 ]
  [ "$(calls good)" = 1 ]
  wait_until 20 sql_is 1 "SELECT count(*) FROM logs WHERE type = 2"
  # the row: requested model, served model; billed at small-b's ratio 5: (11 + 5) x 5 = 80
  [ "$(sql "SELECT model_name || ' ' || upstream_model || ' ' || quota FROM logs WHERE type = 2")" = "big-a small-b 80" ]
  rid=$(sql "SELECT request_id FROM logs WHERE type = 2")
  [ "$(gwctl log explain "$rid" --json | $JGET 'd["rows"][0]["billing"]["served_model"]')" = small-b ]
  [ "$(gwctl log explain "$rid" --json | $JGET 'd["rows"][0]["billing"]["requested_model"]')" = big-a ]
  [ "$(gwctl log explain "$rid" --json | $JGET 'd["rows"][0]["billing"]["model_ratio"]')" = 5 ]
  run gwctl log explain "$rid"
  echo "$output" | grep -q 'requested big-a, served small-b'
  echo "$output" | grep -q 're-computed 80 = logs.quota 80: matches'
  # the reservation covered the chain's dearest model: (input bound + 100) x 5, not x 1
  res=$(gwctl log explain "$rid" --json | $JGET 'd["rows"][0]["billing"]["reserved"]')
  [ "$res" -gt $(( (1024 + 100) * 5 )) ]
  # a token's chain wins over the model's; a group's over the model's
  gwctl fallback set big-a --chain small-c --token t1 >/dev/null
  gwctl reload >/dev/null
  post /v1/chat/completions '{"model":"big-a","max_tokens":100,"messages":[{"role":"user","content":"again"}]}'
  [ "$status_code" = 200 ]
  [ "$(mock_requests good | tail -1 | $JGET 'd["body"]["model"]')" = small-c ]
  relayd_stop
  remain=$(sql "SELECT remain_quota FROM tokens WHERE name='t1'")
  used=$(sql "SELECT used_quota FROM tokens WHERE name='t1'")
  [ $((remain + used)) = 1000000 ]
  [ "$used" = "$(sql "SELECT sum(quota) FROM logs WHERE token_id = (SELECT id FROM tokens WHERE name='t1')")" ]
}

@test "fallback chain: never walked after the first byte reached the client; refusals walk it only when asked (--on context)" {
  mock_start cut --mock '{"disconnect_after":2,"chunks":6}'
  mock_start ctx --mock '{"status":400,"raw":"{\"error\":{\"message\":\"This model'"'"'s maximum context length is 8192 tokens.\",\"type\":\"invalid_request_error\",\"code\":\"context_length_exceeded\"}}"}'
  mock_start good
  openai_channel cc "$MOCK_CUT_URL" cut-a
  openai_channel cx "$MOCK_CTX_URL" short-a
  openai_channel cg "$MOCK_GOOD_URL" small-b
  for m in cut-a short-a small-b; do gwctl price set $m --ratio 1 >/dev/null; done
  gwctl fallback set cut-a --chain small-b >/dev/null
  gwctl fallback set short-a --chain small-b >/dev/null
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  relayd_start
  # the stream started (200, events went out) then broke: the client is told in the stream, no fallback
  post /v1/chat/completions '{"model":"cut-a","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  echo "$body" | grep -q 'hello'
  echo "$body" | grep -q 'stream_interrupted\|error'
  [ "$(calls cut)" = 1 ]
  [ "$(calls good)" = 0 ]
  # a context-length refusal is the client's error: passed on unless the chain says --on context
  post /v1/chat/completions '{"model":"short-a","messages":[{"role":"user","content":"long"}]}'
  [ "$status_code" = 400 ]
  echo "$body" | grep -q context_length_exceeded
  [ "$(calls good)" = 0 ]
  gwctl fallback set short-a --chain small-b --on context >/dev/null
  [ "$(gwctl fallback list --json | $JGET '[r for r in d if r["model"]=="short-a"][0]["on"]')" = context ]
  gwctl reload >/dev/null
  post /v1/chat/completions '{"model":"short-a","messages":[{"role":"user","content":"long"}]}'
  [ "$status_code" = 200 ]
  [ "$(calls good)" = 1 ]
  # gwctl checks what it stores
  run gwctl fallback set short-a --chain short-a
  [ "$status" -eq 2 ]
  run gwctl fallback set short-a --chain small-b --on bogus
  [ "$status" -eq 2 ]
  run gwctl fallback set short-a --chain small-b --group nosuchgroup
  [ "$status" -ne 0 ]
  gwctl fallback rm short-a >/dev/null
  run gwctl fallback rm short-a
  [ "$status" -ne 0 ]
}

@test "fallback chain: a token whose quota covers its model but not the chain's dearest is refused up front" {
  mock_start bad --status 500
  mock_start good
  openai_channel cb "$MOCK_BAD_URL" big-a
  openai_channel cg "$MOCK_GOOD_URL" small-b
  gwctl price set big-a --ratio 1 >/dev/null
  gwctl price set small-b --ratio 50 >/dev/null
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 20000)
  relayd_start
  q='{"model":"big-a","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}'
  # without a chain the bound ((~1100 + 100) x 1) fits: relayd asks the upstream (which fails)
  post /v1/chat/completions "$q"
  [ "$status_code" = 502 ]
  gwctl fallback set big-a --chain small-b >/dev/null
  gwctl reload >/dev/null
  # with it the bound is small-b's (x 50): refused before any upstream call, nothing charged
  post /v1/chat/completions "$q"
  [ "$status_code" = 429 ]
  echo "$body" | grep -q insufficient_quota
  [ "$(calls bad)" = 1 ]
  [ "$(calls good)" = 0 ]
}

@test "fallback chain: a model whose channels are all disabled goes to its chain at admission" {
  mock_start good
  openai_channel cb "$MOCK_GOOD_URL" big-a
  openai_channel cg "$MOCK_GOOD_URL" small-b
  gwctl channel disable cb >/dev/null
  gwctl price set big-a --ratio 1 >/dev/null
  gwctl price set small-b --ratio 2 >/dev/null
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  relayd_start
  q='{"model":"big-a","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
  post /v1/chat/completions "$q"
  [ "$status_code" = 503 ]
  [ "$(calls good)" = 0 ]
  gwctl fallback set big-a --chain small-b >/dev/null
  gwctl reload >/dev/null
  post /v1/chat/completions "$q"
  [ "$status_code" = 200 ]
  [ "$(calls good)" = 1 ]
  [ "$(mock_requests good | $JGET 'd["body"]["model"]')" = small-b ]
  wait_until 20 sql_is 1 "SELECT count(*) FROM logs WHERE type = 2"
  # (11 + 5) x 2: small-b's price
  [ "$(sql "SELECT model_name || ' ' || upstream_model || ' ' || quota FROM logs WHERE type = 2")" = "big-a small-b 32" ]
}
