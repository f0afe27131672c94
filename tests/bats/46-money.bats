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
    pids=()
    for i in 1 2 3 4 5 6; do
      curl -s --max-time 60 -o /dev/null -w '%{http_code}\n' "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
        -H 'Content-Type: application/json' \
        -d '{"model":"gpt-4o-mini","max_tokens":400,"messages":[{"role":"user","content":"hi"}],"mock":{"completion_tokens":300}}' &
      pids+=($!)
      curl -s --max-time 60 -o /dev/null "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -d '{"model":"gpt-4o-mini","max_tokens":400,"messages":[{"role":"user","content":"hi"}],"mock":{"status":400}}' &
      pids+=($!)
    done > "$BATS_TEST_TMPDIR/codes.$round"
    wait "${pids[@]}"      # not a bare wait: bats' own timeout watcher is a job of this shell
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
  sql 'SELECT billing FROM logs WHERE type = 2' | $JGET 'd["note"]' | grep -q 'above this request'
  rid=$(sql 'SELECT request_id FROM logs WHERE type = 2')
  gwctl log explain "$rid" | grep -q 'above this request'
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

# --- usage as upstreams really write it ---------------------------------------------------------

# recorded: the directory of provider output recorded by public projects (kept in the steering
# repo's shared/, beside the checkout: data from public repositories is not committed here). Its
# SOURCES.md names the repository, path and commit of each file.
RECORDED="${RELAY_RECORDED:-$BATS_TEST_DIRNAME/../../../shared/fixtures/recorded}"
need_recorded() {
  [ -f "$RECORDED/$1" ] || skip "recorded provider output $RECORDED/$1 is not here (shared/fixtures/recorded)"
}

# replay_mock FILE CTYPE: a mock that answers every request with FILE's bytes
replay_mock() {
  mock_start up --mock "{\"replay\":{\"file\":\"$1\",\"content_type\":\"$2\",\"chunk_bytes\":97}}"
}

# anthropic_replay FILE: an anthropic channel answering every request with FILE, relayd, $KEY (t1)
anthropic_replay() {
  replay_mock "$1" application/json
  printf 'sk-ant\n' | gwctl channel add --name a1 --type anthropic --base-url "$MOCK_UP_URL" --models claude-sonnet-4-0
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

charged_row() {
  wait_until "$(_relay_scale 10)" sql_is 1 'SELECT count(*) FROM logs WHERE type IN (2,5)'
  sql "SELECT prompt_tokens, completion_tokens, quota, usage_source FROM logs WHERE type IN (2,5)"
}

@test "usage written with spaces (any Python server) is read by parsing, and the client that did not ask never sees it" {
  # what a Python server's json.dumps writes: "usage": {"prompt_tokens": 480, ...}
  python3 - "$BATS_TEST_TMPDIR/spaced.sse" <<'PY'
import json, sys
ev = lambda o: "data: " + json.dumps(o) + "\n\n"
base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
out = ev(dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
for w in ["Hello", " there", "!"]:
    out += ev(dict(base, choices=[{"index": 0, "delta": {"content": w}, "finish_reason": None}]))
out += ev(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
out += ev(dict(base, choices=[], usage={"prompt_tokens": 480, "completion_tokens": 3, "total_tokens": 483}))
out += "data: [DONE]\n\n"
open(sys.argv[1], "w").write(out)
PY
  replay_mock "$BATS_TEST_TMPDIR/spaced.sse" text/event-stream
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  post /v1/chat/completions '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  echo "$body" | grep -q '^data: \[DONE\]'
  # the usage chunk was relay's request (include_usage forced for billing): not relayed
  ! echo "$body" | grep -q 'prompt_tokens'
  row=$(charged_row)
  echo "$row" >&2
  # (480 + 3 * 4) * 0.075 = 36.9 -> 37, from the upstream's usage
  [ "$row" = "$(printf '480\t3\t37\tupstream')" ]
  relayd_stop
  books t1 50000000
}

@test "garbage usage from an upstream is never free: billed by relay's own count, logged as such" {
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  n=0
  for bad in -5 9223372036854775807 1e300 '"480"' 1.5; do
    n=$((n + 1))
    python3 - "$BATS_TEST_TMPDIR/bad$n.json" "$bad" <<'PY'
import json, sys
body = '{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0, ' \
       '"message": {"role": "assistant", "content": "%s"}, "finish_reason": "stop"}], ' \
       '"usage": {"prompt_tokens": %s, "completion_tokens": 40, "total_tokens": 50}}' % ("word " * 40, sys.argv[2])
json.loads(body)
open(sys.argv[1], "w").write(body)
PY
  done
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini
  relayd_start
  for i in $(seq 1 $n); do
    post /v1/chat/completions "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mock\":{\"replay\":{\"file\":\"$BATS_TEST_TMPDIR/bad$i.json\"}}}"
    [ "$status_code" = 200 ]
  done
  wait_until "$(_relay_scale 10)" sql_is "$n" 'SELECT count(*) FROM logs WHERE type = 2'
  sql 'SELECT prompt_tokens, completion_tokens, quota, usage_source FROM logs WHERE type = 2' >&2
  # each is charged (200 characters of answer counted by relay), none is free
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 2 AND quota > 0 AND usage_source = 'local' AND completion_tokens > 10")" = "$n" ]
  relayd_stop
  books t1 50000000
}

# the Anthropic usage of a turn that reads and writes the prompt cache (the shape of Anthropic's
# Messages API: cache_creation splits the writes by lifetime)
cache_usage_message() {
  python3 - "$1" <<'PY'
import json, sys
msg = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-0",
       "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn", "stop_sequence": None,
       "usage": {"input_tokens": 3, "cache_creation_input_tokens": 1418, "cache_read_input_tokens": 1111,
                 "cache_creation": {"ephemeral_5m_input_tokens": 418, "ephemeral_1h_input_tokens": 1000},
                 "output_tokens": 33, "service_tier": "standard"}}
open(sys.argv[1], "w").write(json.dumps(msg))
PY
}

@test "whole answers read in the worker's arena: the upstream's bytes as they came, usage read or text counted at any size" {
  # relayd/respond.c reads a whole answer's usage from a tree in the worker's jsonarena (32 KB; a
  # bigger answer spills to the heap) and counts its text only when no usable usage came
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
d = sys.argv[1]
def answer(text, usage):
    # spaces, escapes and members in an order relay does not write: any change to the bytes shows
    head = '{ "id" : "chatcmpl-arena", "object": "chat.completion", "created": 1, "model": "m",\n  "choices": [ {"index": 0, ' \
           '"message": {"role": "assistant", "content": %s}, "logprobs": null, "finish_reason": "stop"} ]' % json.dumps(text)
    return head + (',\n  "usage": %s' % usage if usage else '') + ' , "system_fingerprint": "fp_\\u00e9" }\n'
big = "caf\u00e9 \"quoted\" word " * 6000          # about 130 KB of text: past the arena
files = {
    "small": answer("Hello, caf\u00e9 \u4f60\u597d!", '{"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28}'),
    "big": answer(big, '{"completion_tokens": 9000, "prompt_tokens": 30, "total_tokens": 9030}'),
    "bignone": answer(big, None),
    "bigbad": answer(big, '{"prompt_tokens": 30, "completion_tokens": "9000", "total_tokens": 9030}'),
    "small2": answer("again", '{"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}'),
}
for k, v in files.items():
    json.loads(v)
    open("%s/%s.json" % (d, k), "w").write(v)
PY
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini
  relayd_start
  # one request at a time, so each row is the one before it
  local n=0 f
  for f in small big bignone bigbad small2; do
    n=$((n + 1))
    post /v1/chat/completions "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mock\":{\"replay\":{\"file\":\"$BATS_TEST_TMPDIR/$f.json\"}}}"
    [ "$status_code" = 200 ]
    # a same-format answer relayed unchanged: the client's bytes are the upstream's
    cmp "$BATS_TEST_TMPDIR/resp.body" "$BATS_TEST_TMPDIR/$f.json"
    wait_until "$(_relay_scale 10)" sql_is "$n" 'SELECT count(*) FROM logs WHERE type = 2'
  done
  sql 'SELECT prompt_tokens, completion_tokens, usage_source FROM logs WHERE type = 2 ORDER BY id' >&2
  [ "$(sql "SELECT prompt_tokens || '/' || completion_tokens || '/' || usage_source FROM logs WHERE type = 2 ORDER BY id LIMIT 2")" = "$(printf '21/7/upstream\n30/9000/upstream')" ]
  # no usage, or a count that is not one: relay's own count of the 130 KB of text (thousands of tokens)
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 2 AND id IN (SELECT id FROM logs WHERE type = 2 ORDER BY id LIMIT 2 OFFSET 2) AND usage_source = 'local' AND completion_tokens > 10000 AND quota > 0")" = 2 ]
  [ "$(sql "SELECT prompt_tokens || '/' || completion_tokens || '/' || usage_source FROM logs WHERE type = 2 ORDER BY id DESC LIMIT 1")" = "5/2/upstream" ]
  # an Anthropic client (the answer converted from OpenAI's): the answer's usage, or relay's count
  # without it (a mock per answer: the client's body carries no mock keys through a conversion)
  relayd_stop
  mock_start up2 --mock "{\"replay\":{\"file\":\"$BATS_TEST_TMPDIR/small.json\",\"content_type\":\"application/json\"}}"
  mock_start up3 --mock "{\"replay\":{\"file\":\"$BATS_TEST_TMPDIR/bignone.json\",\"content_type\":\"application/json\"}}"
  openai_channel c2 "$MOCK_UP2_URL" gpt-4o
  openai_channel c3 "$MOCK_UP3_URL" gpt-4.1
  relayd_start
  local a m
  for m in gpt-4o gpt-4.1; do
    a=$(curl -s --max-time 60 "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' \
      -H 'Content-Type: application/json' --data-binary "{\"model\":\"$m\",\"max_tokens\":64000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
    [ "$(echo "$a" | $JGET 'd["type"]')" = message ]
    n=$((n + 1))
    wait_until "$(_relay_scale 10)" sql_is "$n" 'SELECT count(*) FROM logs WHERE type = 2'
  done
  [ "$(echo "$a" | $JGET 'd["content"][0]["text"][:10]')" = "café \"quot" ]
  sql 'SELECT prompt_tokens, completion_tokens, usage_source FROM logs WHERE type = 2 ORDER BY id' >&2
  [ "$(sql "SELECT prompt_tokens || '/' || completion_tokens || '/' || usage_source FROM logs WHERE type = 2 ORDER BY id LIMIT 1 OFFSET 5")" = "21/7/upstream" ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 2 AND id = (SELECT max(id) FROM logs) AND usage_source = 'local' AND completion_tokens > 10000 AND quota > 0")" = 1 ]
  relayd_stop
  books t1 50000000
}

@test "Anthropic cache writes: 1.25x for the 5-minute cache, 2x for the 1-hour cache, native and converted" {
  cache_usage_message "$BATS_TEST_TMPDIR/cache.json"
  anthropic_replay "$BATS_TEST_TMPDIR/cache.json"
  # a prompt as long as the 2532 tokens the usage reports (the bound of a request is its bytes)
  python3 -c 'import json; print(json.dumps({"model": "claude-sonnet-4-0", "max_tokens": 100, "messages": [{"role": "user", "content": "word " * 2600}]}))' \
    > "$BATS_TEST_TMPDIR/req.json"
  status_code=$(curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" \
    -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' -d "@$BATS_TEST_TMPDIR/req.json")
  [ "$status_code" = 200 ]
  post /v1/chat/completions "@$BATS_TEST_TMPDIR/req.json"
  [ "$status_code" = 200 ]
  wait_until "$(_relay_scale 10)" sql_is 2 'SELECT count(*) FROM logs WHERE type = 2'
  # claude-sonnet-4-0: ratio 1.5, completion 5, cache read 0.1:
  # (3 + 1111 * 0.1 + 418 * 1.25 + 1000 * 2 + 33 * 5) * 1.5 = 4202.4 -> 4203 (1x writes: 2547)
  [ "$(sql 'SELECT DISTINCT quota FROM logs WHERE type = 2')" = 4203 ]
  [ "$(sql 'SELECT DISTINCT prompt_tokens FROM logs WHERE type = 2')" = 2532 ]
  # the explanation names every kind and ratio, and its recomputation matches the charge
  rid=$(sql 'SELECT request_id FROM logs WHERE type = 2 ORDER BY id LIMIT 1')
  gwctl log explain "$rid" --json > "$BATS_TEST_TMPDIR/ex.json"
  cat "$BATS_TEST_TMPDIR/ex.json" >&2
  python3 - "$BATS_TEST_TMPDIR/ex.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
text = json.dumps(doc)
for k in ("cache_write_5m", "cache_write_1h", "cache_write_ratio", "cache_write_1h_ratio", "reserved"):
    assert k in text, k
def find(o, key):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == key: return v
            r = find(v, key)
            if r is not None: return r
    if isinstance(o, list):
        for v in o:
            r = find(v, key)
            if r is not None: return r
b = find(doc, "tokens")
assert b == {"prompt": 2532, "cached": 1111, "cache_write_5m": 418, "cache_write_1h": 1000, "completion": 33, "reasoning": 0}, b
PY
  gwctl log explain "$rid" | grep -iq 'match'
  relayd_stop
  books t1 50000000
}

@test "recorded Anthropic message with cache reads and writes is billed at the cache ratios" {
  need_recorded anthropic-message-cache.json
  anthropic_replay "$RECORDED/anthropic-message-cache.json"
  python3 -c 'import json; print(json.dumps({"model": "claude-sonnet-4-0", "max_tokens": 100, "messages": [{"role": "user", "content": "word " * 1600}]}))' \
    > "$BATS_TEST_TMPDIR/req.json"
  post /v1/chat/completions "@$BATS_TEST_TMPDIR/req.json"
  [ "$status_code" = 200 ]
  # recorded usage: input 3, cache write 418 (5-minute), cache read 1111, output 33:
  # (3 + 1111 * 0.1 + 418 * 1.25 + 33 * 5) * 1.5 = 1202.4 -> 1203
  [ "$(charged_row)" = "$(printf '1532\t33\t1203\tupstream')" ]
}

@test "recorded streams (OpenAI, vLLM, Anthropic, Gemini) are billed from the usage they carry" {
  need_recorded openai-chat-stream.sse
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  mock_start up
  openai_channel c1 "$MOCK_UP_URL" gpt-4o-mini
  relayd_start
  post /v1/chat/completions "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mock\":{\"replay\":{\"file\":\"$RECORDED/openai-chat-stream.sse\",\"content_type\":\"text/event-stream\",\"chunk_bytes\":50}}}"
  [ "$status_code" = 200 ]
  post /v1/chat/completions "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mock\":{\"replay\":{\"file\":\"$RECORDED/vllm-chat-stream.sse\",\"content_type\":\"text/event-stream\",\"chunk_bytes\":50}}}"
  [ "$status_code" = 200 ]
  wait_until "$(_relay_scale 10)" sql_is 2 'SELECT count(*) FROM logs WHERE type = 2'
  # SOURCES.md: openai prompt 14 completion 8; vLLM prompt 46 completion 14
  [ "$(sql "SELECT prompt_tokens || '/' || completion_tokens || '/' || usage_source FROM logs WHERE type = 2 ORDER BY id")" = "$(printf '14/8/upstream\n46/14/upstream')" ]
}

@test "recorded native streams (Anthropic to an Anthropic client, Gemini to a Gemini client) are billed from their own usage" {
  need_recorded anthropic-stream-text.sse
  need_recorded gemini-stream-thinking.sse
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  mock_start up
  printf 'sk-ant\n' | gwctl channel add --name a1 --type anthropic --base-url "$MOCK_UP_URL" --models claude-sonnet-4-0
  printf 'sk-gem\n' | gwctl channel add --name g1 --type gemini --base-url "$MOCK_UP_URL" --models gemini-2.5-pro
  relayd_start
  curl -s -o "$BATS_TEST_TMPDIR/a.sse" "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' \
    -H 'content-type: application/json' \
    -d "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":100,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mock\":{\"replay\":{\"file\":\"$RECORDED/anthropic-stream-text.sse\",\"content_type\":\"text/event-stream\",\"chunk_bytes\":64}}}"
  cmp "$BATS_TEST_TMPDIR/a.sse" "$RECORDED/anthropic-stream-text.sse"
  # a long prompt: the recorded thinking stream reports 1,256 output tokens for a 34-token prompt
  python3 - "$BATS_TEST_TMPDIR/g.json" "$RECORDED/gemini-stream-thinking.sse" <<'PY'
import json, sys
json.dump({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 8000},
           "mock": {"replay": {"file": sys.argv[2], "content_type": "text/event-stream", "chunk_bytes": 64}}},
          open(sys.argv[1], "w"))
PY
  curl -s -o "$BATS_TEST_TMPDIR/g.sse" "$RELAY_URL/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse" \
    -H "x-goog-api-key: $KEY" -H 'content-type: application/json' -d "@$BATS_TEST_TMPDIR/g.json"
  cmp "$BATS_TEST_TMPDIR/g.sse" "$RECORDED/gemini-stream-thinking.sse"
  wait_until "$(_relay_scale 10)" sql_is 2 'SELECT count(*) FROM logs WHERE type = 2'
  # SOURCES.md: Anthropic input 20, output 5; Gemini prompt 34, candidates 469 + thoughts 787
  [ "$(sql "SELECT prompt_tokens || '/' || completion_tokens || '/' || usage_source FROM logs WHERE type = 2 ORDER BY id")" = "$(printf '20/5/upstream\n34/1256/upstream')" ]
  relayd_stop
  books t1 50000000
}
