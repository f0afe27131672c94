#!/usr/bin/env bats
# Channel and pool-key limits, and channel affinity (issue #25), through a real relayd and the mock
# upstream. A channel (or key) at its rpm / tpm / concurrency limit is skipped -- the next key, the
# next channel of the tier -- and never counted as its failure; every candidate at its limit is a
# 429 with Retry-After in the client's own format (OpenAI, Anthropic, Gemini). Requests with the same
# prompt_cache_key / user / configured header stay on one channel while it serves well, move when
# it fails, and a flood of distinct keys keeps the affinity table at its fixed capacity.
# The gwctl parts also run on PostgreSQL (RELAY_TEST_DB=postgres).

load helpers
load gwtui_helpers

JGET="$BATS_TEST_DIRNAME/jget"

teardown() { gwtui_teardown; }

setup() {
  TM="$BATS_TEST_TMPDIR/tmux.sock"
  LIMIT=$(_relay_scale 10)
  relay_env
  gwctl user add alice --quota 1000000000 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 500000000)
}

# add_channel NAME MOCK [channel add flags...]: a channel on mock MOCK serving gpt-4o-mini
add_channel() {
  local name=$1 mock=$2 portvar
  shift 2
  portvar="MOCK_$(echo "$mock" | tr '[:lower:]-.' '[:upper:]__')_PORT"
  printf 'sk-upstream-%s\n' "$name" | gwctl channel add --name "$name" --type openai \
    --base-url "http://127.0.0.1:${!portvar}" --models gpt-4o-mini "$@" > /dev/null
}

# req PATH BODY [curl args...]: POST with the test key; sets status_code, body, headers
req() {
  local path=$1 data=$2 out="$BATS_TEST_TMPDIR/resp"
  shift 2
  status_code=$(curl -s -o "$out.body" -D "$out.headers" -w '%{http_code}' "$RELAY_URL$path" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$data" "$@")
  body=$(cat "$out.body")
  headers=$(tr -d '\r' < "$out.headers")
}
chat() { req /v1/chat/completions "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]${1:-}}" "${@:2}"; }
header() { echo "$headers" | awk -v n="$1" -F': ' 'tolower($1)==n{print $2}'; }

# chats_on MOCK: chat requests mock MOCK received
chats_on() { mock_requests "$1" | grep -c '"/v1/chat/completions"' || true; }
set_mock() { curl -sf -o /dev/null -X POST "http://127.0.0.1:$(port_of "$1")/__mock/defaults" -d "$2"; }
port_of() { local v="MOCK_$(echo "$1" | tr '[:lower:]-.' '[:upper:]__')_PORT"; echo "${!v}"; }
is() { local want=$1; shift; [ "$("$@")" = "$want" ]; }

admin() {
  python3 - "$RELAY_SOCKET" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write(sys.argv[2] + "\n"); f.flush(); print(f.readline().strip())
PY
}
# chstat NAME FIELD: a channel's field in relayd's admin stats
chstat() { admin '{"cmd":"stats"}' | $JGET "[c for c in d['channels'] if c['name']=='$1'][0]['$2']"; }
key_inflight() { admin '{"cmd":"stats"}' | $JGET "[k['in_flight'] for k in [c for c in d['channels'] if c['name']=='$1'][0]['keys']]"; }
# start: relayd with /metrics on its own listener
start() {
  MPORT=$(free_port)
  relayd_start --metrics-listen "127.0.0.1:$MPORT"
}
metrics() { curl -s "http://127.0.0.1:$MPORT/metrics"; }
metric() { metrics | awk -v m="$1" '$1==m{print $2}'; }

@test "gwctl: channel edit --rpm/--tpm/--concurrency and channel key limit are stored and shown; bad input refused" {
  mock_start up
  add_channel c1 up
  printf 'sk-pool-a-11111111\nsk-pool-b-22222222\n' | gwctl channel add --name p --type openai \
    --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  gwctl channel edit c1 --rpm 30 --tpm 9000 --concurrency 4
  run gwctl channel show c1 --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET 'd["rpm"]')" = 30 ]
  [ "$(echo "$output" | $JGET 'd["tpm"]')" = 9000 ]
  [ "$(echo "$output" | $JGET 'd["max_concurrency"]')" = 4 ]
  [ "$(gwctl channel list --json | $JGET '[c["rpm"] for c in d if c["name"]=="c1"]')" = '[30]' ]
  # one flag keeps the others; 0 removes
  gwctl channel edit c1 --rpm 0
  [ "$(gwctl channel show c1 --json | $JGET '[d["rpm"], d["tpm"]]')" = '[0, 9000]' ]
  gwctl channel key limit p 2 --rpm 5 --concurrency 1
  gwctl channel key limit p 2 --tpm 700
  run gwctl channel key list p --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET '[[k["index"], k["rpm"], k["tpm"], k["max_concurrency"]] for k in d]')" = \
    '[[1, 0, 0, 0], [2, 5, 700, 1]]' ]
  gwctl channel key list p | head -1 | grep -q 'MAXCONC'
  # bad input: usage (2), no such key (3); nothing changed
  run gwctl channel edit c1 --rpm -1
  [ "$status" -eq 2 ]
  run gwctl channel edit c1 --tpm lots
  [ "$status" -eq 2 ]
  run gwctl channel key limit p 2
  [ "$status" -eq 2 ]
  run gwctl channel key limit p 2 --concurrency -3
  [ "$status" -eq 2 ]
  run gwctl channel key limit p 9 --rpm 1
  [ "$status" -eq 3 ]
  run gwctl channel key limit nosuch 1 --rpm 1
  [ "$status" -eq 3 ]
  [ "$(gwctl channel key list p --json | $JGET '[k["rpm"] for k in d]')" = '[0, 5]' ]
  # the changes are in the management log
  [ "$(sql "SELECT count(*) FROM logs WHERE content LIKE 'channel key limit p 2%'")" = 2 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE content LIKE 'channel edit c1%rpm=30 tpm=9000%'")" = 1 ]
}

@test "a channel at its rpm is skipped for the next one of its tier, never a failure; all at their limit: 429 in each client format" {
  mock_start a
  mock_start b
  add_channel ca a
  add_channel cb b
  gwctl channel edit ca --rpm 1
  gwctl channel edit cb --rpm 1
  start
  chat
  [ "$status_code" = 200 ]
  chat
  [ "$status_code" = 200 ]
  # one each: the second request went to the other channel of the tier
  [ "$(chats_on a)" = 1 ]
  [ "$(chats_on b)" = 1 ]
  # both at their limit: 429 in OpenAI's shape, with Retry-After, and no upstream call
  chat
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = channel_limit_reached ]
  ra=$(header retry-after)
  [ "$ra" -ge 1 ] && [ "$ra" -le 60 ]
  [ "$(header retry-after-ms)" -gt 0 ]
  # Anthropic's shape on /v1/messages
  req /v1/messages '{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}' \
    -H 'anthropic-version: 2023-06-01'
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["type"]')" = error ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = rate_limit_error ]
  [ -n "$(header retry-after)" ]
  # Gemini's shape on generateContent
  req /v1beta/models/gpt-4o-mini:generateContent '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' \
    -H "x-goog-api-key: $KEY"
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = RESOURCE_EXHAUSTED ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = 429 ]
  [ -n "$(header retry-after)" ]
  [ "$(( $(chats_on a) + $(chats_on b) ))" = 2 ]
  # never a failure: no failed attempt, breakers closed, both enabled; the skips are counted
  [ "$(chstat ca attempt_failures)" = 0 ]
  [ "$(chstat cb attempt_failures)" = 0 ]
  [ "$(gwctl channel show ca --json | $JGET 'd["status"]')" = enabled ]
  [ "$(metrics | grep '^relayd_channel_failures_total{channel="ca"}' | awk '{print $2}')" = 0 ]
  [ "$(( $(chstat ca limited_total) + $(chstat cb limited_total) ))" -ge 4 ]
  metrics | grep -q '^relayd_channel_limited_total{channel="ca"} [1-9]'
  # the refusals cost nothing: two consume rows only
  wait_until 5 is 2 sql "SELECT count(*) FROM logs WHERE type = 2"
}

@test "channel_limit_wait_ms: a request waits for room instead of 429; the queue is bounded; past the wait, 429" {
  mock_start a
  add_channel ca a
  gwctl channel edit ca --rpm 1
  gwctl config set rate_limit_window_s 2
  gwctl config set channel_limit_wait_ms 10000
  start
  chat
  [ "$status_code" = 200 ]
  # the bucket has room again within 2 s: the second request waits and is served, no 429
  chat
  [ "$status_code" = 200 ]
  [ "$(chats_on a)" = 2 ]
  # a long window and a queue of one: one request waits, the next is refused at once
  gwctl config set rate_limit_window_s 3600
  gwctl config set channel_limit_queue 1
  gwctl config set channel_limit_wait_ms 3000
  chat
  [ "$status_code" = 200 ]
  curl -s -o "$BATS_TEST_TMPDIR/waited" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' \
    > "$BATS_TEST_TMPDIR/waited.code" &
  waiter=$!
  wait_until 5 is 1 metric relayd_channel_limit_waiting
  chat
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = channel_limit_reached ]
  wait "$waiter"
  # past its wait: 429 in the client's format, nothing relayed, the queue empty again
  [ "$(cat "$BATS_TEST_TMPDIR/waited.code")" = 429 ]
  [ "$(cat "$BATS_TEST_TMPDIR/waited" | $JGET 'd["error"]["code"]')" = channel_limit_reached ]
  [ "$(chats_on a)" = 3 ]
  [ "$(metric relayd_channel_limit_waiting)" = 0 ]
  [ "$(chstat ca attempt_failures)" = 0 ]
  # relayd stops while one waits: it is answered 503 shutting_down and relayd exits cleanly
  gwctl config set channel_limit_wait_ms 60000
  curl -s -o "$BATS_TEST_TMPDIR/stopped" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' \
    > "$BATS_TEST_TMPDIR/stopped.code" &
  waiter=$!
  wait_until 5 is 1 metric relayd_channel_limit_waiting
  relayd_stop
  wait "$waiter" || true
  [ "$(cat "$BATS_TEST_TMPDIR/stopped.code")" = 503 ]
  [ "$(cat "$BATS_TEST_TMPDIR/stopped" | $JGET 'd["error"]["code"]')" = shutting_down ]
}

@test "a channel at its tpm sends the next request to the lower tier; settle gives back what was not used" {
  mock_start a
  mock_start b
  add_channel ca a --priority 10
  add_channel cb b --priority 0
  gwctl channel edit ca --tpm 100
  start
  # each request is counted for its prompt estimate + max_tokens (61 or more) until settled at what
  # it used (the mock's usage, far less): so a second one still fits the bucket of 100
  chat ',"max_tokens":60'
  [ "$status_code" = 200 ]
  wait_until 5 is 1 sql "SELECT count(*) FROM logs WHERE type = 2"
  used=$(sql "SELECT prompt_tokens + completion_tokens FROM logs WHERE type = 2")
  [ "$used" -lt 30 ]
  chat ',"max_tokens":60'
  [ "$status_code" = 200 ]
  [ "$(chats_on a)" = 2 ]
  # one that cannot fit what is left goes to the lower tier, not counted as ca's failure
  chat ',"max_tokens":90'
  [ "$status_code" = 200 ]
  [ "$(chats_on a)" = 2 ]
  [ "$(chats_on b)" = 1 ]
  [ "$(chstat ca attempt_failures)" = 0 ]
  [ "$(chstat ca tpm)" = 100 ]
  [ "$(chstat ca limited_total)" -ge 1 ]
}

@test "pool keys at their rpm: the next key, then 429; a key's concurrency limit holds with open streams" {
  mock_start up --chunks 3
  printf 'sk-pool-a-11111111\nsk-pool-b-22222222\n' | gwctl channel add --name p --type openai \
    --base-url "$MOCK_URL" --models gpt-4o-mini --key-mode round-robin > /dev/null
  gwctl channel key limit p 1 --rpm 1
  gwctl channel key limit p 2 --rpm 1
  start
  chat
  [ "$status_code" = 200 ]
  chat
  [ "$status_code" = 200 ]
  [ "$(mock_requests | grep -c 'sk-pool-a-11111111')" = 1 ]
  [ "$(mock_requests | grep -c 'sk-pool-b-22222222')" = 1 ]
  chat
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = channel_limit_reached ]
  [ "$(mock_requests | grep -c '/v1/chat/completions')" = 2 ]
  # no key was disabled for it
  [ "$(gwctl channel key list p --json | $JGET '[k["status"] for k in d]')" = '["enabled", "enabled"]' ]

  # concurrency: each key may have one open request; two held streams fill both
  gwctl channel key limit p 1 --rpm 0 --concurrency 1
  gwctl channel key limit p 2 --rpm 0 --concurrency 1
  set_mock up '{"chunks":3,"chunk_gap_ms":1500}'
  pids=()
  for i in 1 2; do
    curl -s -N -o "$BATS_TEST_TMPDIR/s$i" "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}' &
    pids+=($!)
  done
  wait_until 10 is 4 chats_on up
  wait_until 5 is '[1, 1]' key_inflight p
  chat
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = channel_limit_reached ]
  for p in "${pids[@]}"; do wait "$p"; done
  grep -q '\[DONE\]' "$BATS_TEST_TMPDIR/s1"
  grep -q '\[DONE\]' "$BATS_TEST_TMPDIR/s2"
  # the streams ended: their slots are free again
  set_mock up '{}'
  chat
  [ "$status_code" = 200 ]
  [ "$(chstat p attempt_failures)" = 0 ]
}

@test "affinity: one prompt_cache_key stays on one channel; it moves when that channel fails; gwctl affinity list/clear" {
  mock_start a
  mock_start b
  add_channel ca a
  add_channel cb b
  start
  # off by default: nothing remembered
  chat ',"prompt_cache_key":"conv-1"'
  [ "$status_code" = 200 ]
  [ "$(gwctl affinity list --json | $JGET 'len(d["entries"])')" = 0 ]
  gwctl config set affinity_ttl_s 300
  for i in $(seq 1 12); do
    chat ',"prompt_cache_key":"conv-1"'
    [ "$status_code" = 200 ]
  done
  # the 12 went to one mock (beside the first, before affinity was on)
  a=$(chats_on a); b=$(chats_on b)
  [ $(( a + b )) = 13 ]
  [ "$a" -ge 12 ] || [ "$b" -ge 12 ]
  if [ "$a" -ge 12 ]; then first=a; other=b; chan=ca; else first=b; other=a; chan=cb; fi
  run gwctl affinity list --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET '[[e["key"], e["model"], e["channel"], e["key_index"]] for e in d["entries"]]')" = \
    "[[\"conv-1\", \"gpt-4o-mini\", \"$chan\", -1]]" ]
  [ "$(echo "$output" | $JGET 'd["hits"]')" -ge 11 ]
  gwctl affinity list | grep -q "conv-1"
  [ "$(metric relayd_affinity_hits_total)" -ge 11 ]
  [ "$(metric relayd_affinity_misses_total)" -ge 1 ]
  [ "$(metric relayd_affinity_entries)" = 1 ]
  # Anthropic metadata.user_id and a configured header are affinity keys too
  gwctl config set affinity_header x-session-id
  chat '' -H 'x-session-id: sess-9'
  [ "$status_code" = 200 ]
  req /v1/messages '{"model":"gpt-4o-mini","max_tokens":10,"metadata":{"user_id":"u-42"},"messages":[{"role":"user","content":"hi"}]}' \
    -H 'anthropic-version: 2023-06-01'
  [ "$status_code" = 200 ]
  [ "$(gwctl affinity list --json | $JGET 'sorted(e["key"] for e in d["entries"])')" = '["conv-1", "sess-9", "u-42"]' ]
  # the channel fails: the request is retried on the other one, and the key moves there
  set_mock "$first" '{"status":500}'
  before_other=$(chats_on "$other")
  chat ',"prompt_cache_key":"conv-1"'
  [ "$status_code" = 200 ]
  [ "$(chats_on "$other")" = $(( before_other + 1 )) ]
  set_mock "$first" '{}'
  n_first=$(chats_on "$first")
  for i in 1 2 3 4 5; do
    chat ',"prompt_cache_key":"conv-1"'
    [ "$status_code" = 200 ]
  done
  [ "$(chats_on "$first")" = "$n_first" ]
  [ "$(chats_on "$other")" = $(( before_other + 6 )) ]
  [ "$(gwctl affinity list --json | $JGET '[e["channel"] for e in d["entries"] if e["key"]=="conv-1"]')" = "[\"c$other\"]" ]
  # clear one key, then all
  [ "$(gwctl affinity clear conv-1 --json | $JGET 'd["cleared"]')" = 1 ]
  [ "$(gwctl affinity list --json | $JGET 'sorted(e["key"] for e in d["entries"])')" = '["sess-9", "u-42"]' ]
  gwctl affinity clear | grep -q '2 affinity entries cleared'
  [ "$(gwctl affinity list --json | $JGET 'len(d["entries"])')" = 0 ]
  # no relayd: a clear error and exit 69
  relayd_stop
  run gwctl affinity list
  [ "$status" -eq 69 ]
}

@test "affinity keeps a pooled channel's key; a flood of distinct keys keeps the table at its capacity" {
  mock_start up
  printf 'sk-pool-a-11111111\nsk-pool-b-22222222\nsk-pool-c-33333333\n' | gwctl channel add --name p \
    --type openai --base-url "$MOCK_URL" --models gpt-4o-mini --key-mode random > /dev/null
  gwctl config set affinity_ttl_s 300
  start
  for i in $(seq 1 9); do
    chat ',"user":"end-user-7"'
    [ "$status_code" = 200 ]
  done
  # the 9 used one key of the three
  [ "$(mock_requests | grep -o 'sk-pool-[a-c]' | sort -u | wc -l)" = 1 ]
  [ "$(gwctl affinity list --json | $JGET '[e["key_index"] for e in d["entries"]][0] in (1, 2, 3)')" = true ]
  # 4500 distinct keys (more than the 4096 entries): the table stays bounded
  python3 "$BATS_TEST_DIRNAME/chat_load.py" "$RELAY_PORT" "$KEY" 4 4500 --cache-key flood-
  n=$(metric relayd_affinity_entries)
  [ "$n" -le 4096 ]
  [ "$n" -ge 3000 ]
  [ "$(gwctl affinity list --json | $JGET 'len(d["entries"]) <= d["capacity"] == 4096')" = true ]
  [ "$(metric relayd_affinity_misses_total)" -ge 4500 ]
}

@test "gwtui: a channel's limits and skips in its detail, the affinity counters on the overview" {
  command -v tmux > /dev/null || skip "tmux is not installed"
  mock_start a
  add_channel ca a
  gwctl channel edit ca --rpm 1 --tpm 5000
  gwctl config set affinity_ttl_s 300
  start
  chat ',"prompt_cache_key":"conv-tui"'
  [ "$status_code" = 200 ]
  chat ',"prompt_cache_key":"conv-tui"'
  [ "$status_code" = 429 ]
  gwtui_start 120 40
  wait_screen 'affinity +entries 1 +hits 0 +misses 2'
  keys 2
  wait_screen '^ +1 ca +enabled'
  keys Enter
  wait_screen 'limits +rpm 1 +tpm 5000 +passed over [1-9]'
}
