#!/usr/bin/env bats
# Money a hostile client or a lying upstream must not beat (issue #17). Each test reproduces a way
# the books were beaten on the code before the ledger (relayd/ledger.h) and checks the invariants:
# for every token, remain_quota + used_quota = granted and used_quota = sum of its logged charges,
# and no balance below zero.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
}

teardown() {
  relay_teardown
}

# post PATH BODY [curl args...]: sets status_code, body
post() {
  local path=$1 data=$2; shift 2
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s --max-time 60 -o "$out.body" -w '%{http_code}' "$RELAY_URL$path" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$data" "$@") || true
  body=$(cat "$out.body" 2>/dev/null || true)
}

# books TOKEN GRANTED: the token's invariants, printed when they break
books() {
  local remain used logged
  remain=$(sql "SELECT remain_quota FROM tokens WHERE name='$1'")
  used=$(sql "SELECT used_quota FROM tokens WHERE name='$1'")
  logged=$(sql "SELECT COALESCE(sum(l.quota),0) FROM logs l JOIN tokens t ON t.id = l.token_id WHERE t.name='$1'")
  echo "books $1: remain=$remain used=$used logged=$logged granted=$2" >&2
  [ $((remain + used)) = "$2" ] && [ "$used" = "$logged" ] && [ "$remain" -ge 0 ]
}

openai_channel() {
  printf 'sk-upstream\n' | gwctl channel add --name "$1" --type openai --base-url "$2" --models "$3"
}

@test "a token's quota holds when charged and free requests share writer batches (and reloads)" {
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 5000)
  relayd_start
  # a success costs (11 + 300*4) * 0.075 = 91; a 400 upstream costs nothing. Both kinds run at once,
  # so the writer's batches mix them; reloads copy the database into the live balance.
  ok=0
  for round in $(seq 1 12); do
    for i in 1 2 3 4 5 6; do
      curl -s -o /dev/null -w '%{http_code}\n' "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
        -H 'Content-Type: application/json' \
        -d '{"model":"gpt-4o-mini","max_tokens":400,"messages":[{"role":"user","content":"hi"}],"mock":{"completion_tokens":300}}' &
      curl -s -o /dev/null "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -d '{"model":"gpt-4o-mini","max_tokens":400,"messages":[{"role":"user","content":"hi"}],"mock":{"status":400}}' &
    done > "$BATS_TEST_TMPDIR/codes.$round"
    wait
    ok=$((ok + $(grep -c '^200$' "$BATS_TEST_TMPDIR/codes.$round" || true)))
    gwctl reload >/dev/null
  done
  relayd_stop
  echo "successes: $ok" >&2
  # 5000 / 91: at most 54 successes can be paid for
  [ "$ok" -le 54 ]
  [ "$ok" -ge 20 ]
  books t1 5000
  # every refusal after the quota ran out is the client's quota error
  [ "$(sql "SELECT count(*) FROM logs WHERE quota < 0")" = 0 ]
}

@test "duplicate keys: refused with 400 in the client's format before anything is billed or sent" {
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini,gpt-4o,tts-1
  printf 'sk-ant\n' | gwctl channel add --name a1 --type anthropic --base-url "$MOCK_UP_URL" --models claude-sonnet-4-5
  gwctl price set claude-sonnet-4-5 --ratio 1.5 --completion-ratio 5 >/dev/null
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000 --models gpt-4o-mini,tts-1,claude-sonnet-4-5)
  relayd_start
  # the token may use the cheap model only; the upstream would take the last "model"
  post /v1/chat/completions '{"model":"gpt-4o-mini","model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"], d["error"]["code"]')" = '["invalid_request_error", "duplicate_key"]' ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q "'\$.model'"
  # nested: the key twice inside a message part
  post /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}'
  [ "$status_code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'messages\[0\].content\[0\].text'
  # the same on native /v1/messages, in Anthropic's error shape
  status_code=$(curl -s -o "$BATS_TEST_TMPDIR/m" -w '%{http_code}' "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" \
    -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
    -d '{"model":"claude-sonnet-4-5","max_tokens":10,"model":"claude-opus-4-1","messages":[{"role":"user","content":"hi"}]}')
  [ "$status_code" = 400 ]
  [ "$($JGET 'd["type"], d["error"]["type"]' < "$BATS_TEST_TMPDIR/m")" = '["error", "invalid_request_error"]' ]
  # speech billed by its input's characters: input twice
  long=$(python3 -c 'print("x" * 4000)')
  post /v1/audio/speech "{\"model\":\"tts-1\",\"voice\":\"alloy\",\"input\":\"a\",\"input\":\"$long\"}"
  [ "$status_code" = 400 ]
  # nothing reached the upstream, nothing was billed or logged
  [ "$(mock_requests up | wc -l)" = 0 ]
  relayd_stop
  [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" = 0 ]
  books t1 50000000
  [ "$(sql 'SELECT used_quota FROM tokens')" = 0 ]
}

@test "a request reserves its worst case: refused when it does not fit, never charged past its bound" {
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini,gpt-4o
  gwctl user add alice --quota 200000
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  relayd_start
  # no max_tokens: the output bound is the model's largest answer (default 32768 tokens);
  # a 300 KB prompt to gpt-4o: ((300k + overhead) * 2 (dearest input ratio) + 32768 * 4) * 1.25 > 200000
  python3 -c 'import json; print(json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "w " * 150000}]}))' \
    > "$BATS_TEST_TMPDIR/big.json"
  post /v1/chat/completions "@$BATS_TEST_TMPDIR/big.json"
  echo "$status_code $body" >&2
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = insufficient_quota ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'may cost up to'
  [ "$(mock_requests up | wc -l)" = 0 ]
  # a request that fits, answered by an upstream that claims 10 million output tokens: charged its
  # bound at most, and the balance never goes below zero
  post /v1/chat/completions '{"model":"gpt-4o-mini","max_tokens":1000,"messages":[{"role":"user","content":"hi"}],"mock":{"completion_tokens":10000000}}'
  [ "$status_code" = 200 ]
  relayd_stop
  quota=$(sql 'SELECT quota FROM users'); used=$(sql 'SELECT used_quota FROM users')
  charged=$(sql 'SELECT quota FROM logs WHERE type = 2')
  echo "quota=$quota used=$used charged=$charged" >&2
  [ "$quota" -ge 0 ]
  [ $((quota + used)) = 200000 ]
  # (bytes + 1024) * 2 + 1000 * 4, * 0.075: a few hundred, not 3,000,000
  [ "$charged" -lt 1000 ]
  billing=$(sql 'SELECT billing FROM logs WHERE type = 2' 2>/dev/null || true)
  [ -z "$billing" ] || echo "$billing" | $JGET 'd["note"]' | grep -q 'above this request'
}

@test "native Anthropic stream, client leaves: billed for the output it was sent, not message_start's" {
  mock_start up
  printf 'sk-ant\n' | gwctl channel add --name a1 --type anthropic --base-url "$MOCK_UP_URL" --models claude-sonnet-4-5
  gwctl price set claude-sonnet-4-5 --ratio 1.5 --completion-ratio 5 >/dev/null
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  # 400 text deltas 10 ms apart; the client reads ~1.5 s of them and hangs up
  curl -s -N --max-time 1.5 -o "$BATS_TEST_TMPDIR/got" "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" \
    -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
    -d '{"model":"claude-sonnet-4-5","max_tokens":2000,"stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":400,"chunk_gap_ms":10}}' || true
  deltas=$(grep -c '"content_block_delta"' "$BATS_TEST_TMPDIR/got" || true)
  echo "deltas received: $deltas" >&2
  [ "$deltas" -ge 10 ]
  wait_until "$(_relay_scale 10)" sql_is 1 'SELECT count(*) FROM logs WHERE type IN (2,5)'
  row=$(sql "SELECT completion_tokens, usage_source, end_reason FROM logs WHERE type IN (2,5)")
  echo "log: $row" >&2
  completion=$(echo "$row" | cut -f1)
  # each delta is "hello " (6 characters): relay's count of what went out, not message_start's 0
  [ "$completion" -ge $((deltas * 6 / 4 / 2)) ]
  [ "$(echo "$row" | cut -f2)" = partial ]
  relayd_stop
  books t1 50000000
}
