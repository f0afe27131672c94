#!/usr/bin/env bats
# Key pools (issue #23): one channel, many upstream keys, through a real relayd and the mock
# upstream (its reject_keys answers 401 invalid_api_key to the keys it names). channel add with
# several keys on stdin makes a pool (it used to refuse them); round-robin spreads, sticky keeps an
# end user on one key; a key the upstream rejects is disabled alone (reason, time) and the request
# is served by another key; every key bad disables the channel; the periodic test re-enables keys
# and the channel; per-key counters in channel show, key list, /metrics and admin stats; the keys
# never show up in relayd's log, the logs table, /metrics or gwctl's output.

load helpers
load gwtui_helpers

JGET="$BATS_TEST_DIRNAME/jget"
K1=sk-pool-key-one-1111
K2=sk-pool-key-two-2222
K3=sk-pool-key-three-3333
K4=sk-pool-key-four-4444

teardown() { gwtui_teardown; }

setup() {
  TM="$BATS_TEST_TMPDIR/tmux.sock"
  LIMIT=$(_relay_scale 10)
  relay_env
  gwctl user add alice --quota 1000000000 > /dev/null
  mock_start
  KEY=$(gwctl token create --user alice --name t1 --quota 500000000)
}

# pool NAME MODE KEYS...: a channel on the mock whose keys come one a line on stdin
pool() {
  local name=$1 mode=$2
  shift 2
  printf '%s\n' "$@" | gwctl channel add --name "$name" --type openai --base-url "$MOCK_URL" \
    --models gpt-4o-mini --key-mode "$mode" > /dev/null
}

# chat [extra JSON fields]: sets status_code and body
chat() {
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -o "$out" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]${1:-}}")
  body=$(cat "$out")
}

# used: the upstream keys of the chat requests the mock got, in order, one a line
used() {
  mock_requests | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    if r["path"] == "/v1/chat/completions":
        print(r["headers"].get("authorization", "").removeprefix("Bearer "))'
}
# count KEY: chat requests sent with KEY
count() { used | grep -cx "$1" || true; }

set_mock() { curl -sf -o /dev/null -X POST "$MOCK_URL/__mock/defaults" -d "$1"; }

keyfield() { gwctl channel key list "$1" --json | $JGET "[k for k in d if k[\"index\"]==$2][0][\"$3\"]"; }
is() { local want=$1; shift; [ "$("$@")" = "$want" ]; }
channel_status() { gwctl channel show "$1" --json | $JGET 'd["status"]'; }

@test "channel add with several keys on stdin creates a key pool, sealed at rest; key add/list/remove/enable/disable" {
  pool p round-robin "$K1" "$K2" "$K3"
  [ "$(gwctl channel key list p --json | $JGET 'len(d)')" = 3 ]
  [ "$(gwctl channel key list p --json | $JGET '[k["index"] for k in d]')" = '[1, 2, 3]' ]
  [ "$(keyfield p 2 masked)" = "sk-…2222" ]
  [ "$(keyfield p 2 status)" = enabled ]
  # sealed like channels.key; channels.key is a copy of key 1
  [ "$(sql "SELECT count(*) FROM channel_keys WHERE key LIKE 'enc:%'")" = 3 ]
  [ "$(sql "SELECT count(*) FROM channel_keys WHERE key LIKE '%pool-key%'")" = 0 ]
  [ "$(sql "SELECT key = (SELECT key FROM channel_keys WHERE idx = 1) FROM channels WHERE name = 'p'")" = 1 ]
  [ "$(gwctl channel show p --json | $JGET 'd["key_mode"]')" = round-robin ]
  # more keys from a file; indexes go on, never reused
  printf '%s\n\n' "$K4" > "$BATS_TEST_TMPDIR/keys"
  gwctl channel key add p --file "$BATS_TEST_TMPDIR/keys" | grep -q '1 key(s) added as 4..4, 4 in its pool'
  gwctl channel key remove p 1 --yes
  [ "$(gwctl channel key list p --json | $JGET '[k["index"] for k in d]')" = '[2, 3, 4]' ]
  [ "$(sql "SELECT key = (SELECT key FROM channel_keys WHERE idx = 2) FROM channels WHERE name = 'p'")" = 1 ]
  gwctl channel key disable p 3
  [ "$(keyfield p 3 status)" = disabled ]
  gwctl channel key enable p 3
  [ "$(keyfield p 3 status)" = enabled ]
  # refusals, each with its exit code, nothing changed
  run gwctl channel key add p < /dev/null
  [ "$status" = 2 ]; [[ "$output" == *"no key on stdin"* ]]
  run gwctl channel key remove p 9 --yes
  [ "$status" = 3 ]
  run gwctl channel key enable nosuch 1
  [ "$status" = 3 ]
  run bash -c "printf 'x\n' | '$RELAY_BIN/gwctl' channel edit p --key-stdin"
  [ "$status" = 4 ]; [[ "$output" == *"key pool"* ]]
  run gwctl channel edit p --key-mode sometimes
  [ "$status" = 2 ]
  gwctl channel key remove p 2 --yes
  gwctl channel key remove p 3 --yes
  run gwctl channel key remove p 4 --yes
  [ "$status" = 4 ]; [[ "$output" == *"last key"* ]]
  [ "$(gwctl channel key list p --json | $JGET 'len(d)')" = 1 ]
  # the keys were never printed
  ! gwctl channel show p | grep -q 'pool-key'
  ! gwctl channel key list p | grep -q 'pool-key'
}

@test "round-robin spreads requests evenly over the keys; a one-key channel stays as it was and grows into a pool" {
  pool p round-robin "$K1" "$K2" "$K3" "$K4"
  printf '%s\n' sk-legacy-single-9999 | gwctl channel add --name one --type openai --base-url "$MOCK_URL" \
    --models other-model > /dev/null 2>&1
  gwctl price set other-model --ratio 1 > /dev/null 2>&1
  relayd_start
  for i in 1 2 3 4 5 6 7 8; do chat; [ "$status_code" = 200 ]; done
  for k in "$K1" "$K2" "$K3" "$K4"; do [ "$(count "$k")" = 2 ]; done
  # per-key requests and spend: channel show (live from relayd), admin stats
  [ "$(gwctl channel show p --json | $JGET '[k["requests"] for k in d["keys"]]')" = '[2, 2, 2, 2]' ]
  [ "$(gwctl channel show p --json | $JGET 'all(k["spend"] > 0 for k in d["keys"])')" = true ]
  [ "$(gwctl stats --json | $JGET '[c for c in d["channels"] if c["name"]=="p"][0]["keys"][0]["requests"]')" = 2 ]
  # the legacy channel: its one key is key 1, no pool rows
  [ "$(gwctl channel key list one --json | $JGET '[k["index"] for k in d]')" = '[1]' ]
  [ "$(keyfield one 1 masked)" = "sk-…9999" ]
  [ "$(sql "SELECT count(*) FROM channel_keys k JOIN channels c ON c.id = k.channel_id WHERE c.name = 'one'")" = 0 ]
  curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"other-model","messages":[{"role":"user","content":"hi"}]}' | grep -qx 200
  [ "$(count sk-legacy-single-9999)" = 1 ]
  # key add turns it into a pool whose key 1 is the old key
  printf '%s\n' sk-legacy-second-8888 | gwctl channel key add one > /dev/null
  gwctl channel edit one --key-mode round-robin > /dev/null
  [ "$(gwctl channel key list one --json | $JGET '" ".join(k["masked"] for k in d)')" = "sk-…9999 sk-…8888" ]
  for i in 1 2; do
    curl -s -o /dev/null "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -d '{"model":"other-model","messages":[{"role":"user","content":"hi"}]}'
  done
  [ "$(count sk-legacy-single-9999)" = 2 ]
  [ "$(count sk-legacy-second-8888)" = 1 ]
}

@test "sticky keeps an end user (OpenAI user, Anthropic metadata.user_id, prompt_cache_key) on one key, also when another key goes" {
  pool p sticky "$K1" "$K2" "$K3" "$K4"
  relayd_start
  for i in 1 2 3 4 5; do chat ',"user":"user-alice"'; [ "$status_code" = 200 ]; done
  [ "$(used | sort -u | wc -l)" = 1 ]
  alice=$(used | head -n 1)
  # many users spread over the keys
  for i in $(seq 1 16); do chat ",\"user\":\"u$i\""; done
  [ "$(used | sort -u | wc -l)" -ge 2 ]
  # the prompt cache key counts as the user when there is none
  mock_reset
  for i in 1 2 3; do chat ',"prompt_cache_key":"conversation-42"'; done
  [ "$(used | sort -u | wc -l)" = 1 ]
  # an Anthropic client: metadata.user_id is the end user
  mock_reset
  for i in 1 2 3; do
    curl -s -o /dev/null -w '%{http_code}\n' "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" \
      -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
      -d '{"model":"gpt-4o-mini","max_tokens":16,"metadata":{"user_id":"user-alice"},"messages":[{"role":"user","content":"hi"}]}'
  done | sort -u | grep -qx 200
  [ "$(used | sort -u | wc -l)" = 1 ]
  # ... read, not the token's fallback: many Anthropic users spread over the keys
  mock_reset
  for i in $(seq 1 16); do
    curl -s -o /dev/null "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' \
      -H 'content-type: application/json' \
      -d "{\"model\":\"gpt-4o-mini\",\"max_tokens\":16,\"metadata\":{\"user_id\":\"a$i\"},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
  done
  [ "$(used | sort -u | wc -l)" -ge 2 ]
  # another key disabled: alice stays where she was
  other=1
  for i in 1 2 3 4; do
    k=$(gwctl channel key list p --json | $JGET "[k[\"masked\"] for k in d if k[\"index\"]==$i][0]")
    [ "$k" = "sk-…${alice: -4}" ] || { other=$i; break; }
  done
  gwctl channel key disable p "$other"
  mock_reset
  for i in 1 2 3; do chat ',"user":"user-alice"'; done
  [ "$(used | sort -u)" = "$alice" ]
}

@test "a key the upstream rejects is disabled alone with its reason and the request is served by another; every key bad disables the channel; tests re-enable them" {
  pool p round-robin "$K1" "$K2" "$K3"
  MPORT=$(free_port)
  relayd_start --metrics-listen "127.0.0.1:$MPORT"
  set_mock "{\"reject_keys\":\"$K2\"}"
  for i in 1 2 3 4 5 6; do chat; [ "$status_code" = 200 ]; done
  [ "$(count "$K2")" = 1 ]           # tried once, then never again
  wait_until 10 is auto-disabled keyfield p 2 status
  keyfield p 2 status_reason | grep -q 'HTTP 401'
  [ "$(keyfield p 2 disabled_at)" -gt 0 ]
  [ "$(keyfield p 1 status)" = enabled ]
  [ "$(channel_status p)" = enabled ]
  [ "$(keyfield p 2 errors)" = 1 ]
  wait_until 5 is 1 sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE '%p key 2 auto-disabled%'"
  # /metrics: by index, never the key
  curl -s "http://127.0.0.1:$MPORT/metrics" > "$BATS_TEST_TMPDIR/metrics.txt"
  grep -qx 'relayd_channel_key_up{channel="p",key="2"} 0' "$BATS_TEST_TMPDIR/metrics.txt"
  grep -qx 'relayd_channel_key_up{channel="p",key="1"} 1' "$BATS_TEST_TMPDIR/metrics.txt"
  grep -qx 'relayd_channel_key_errors_total{channel="p",key="2"} 1' "$BATS_TEST_TMPDIR/metrics.txt"
  # every key bad: the keys go one by one, the channel with the last
  set_mock "{\"reject_keys\":\"$K1,$K2,$K3\"}"
  chat
  [ "$status_code" = 401 ]
  wait_until 10 is auto-disabled channel_status p
  [ "$(gwctl channel key list p --json | $JGET '[k["status"] for k in d]')" = '["auto-disabled", "auto-disabled", "auto-disabled"]' ]
  chat
  [ "$status_code" = 503 ]
  # the upstream takes key 3 again: the periodic test re-enables it and the channel; 1 and 2 stay off
  run gwctl channel test p --key 3
  [ "$status" = 5 ]; [[ "$output" == *"HTTP 401"* ]]; [[ "$output" != *"$K3"* ]]
  set_mock "{\"reject_keys\":\"$K1,$K2\"}"
  gwctl channel test p --key 3 | grep -q ok
  run gwctl channel test p --key 9
  [ "$status" = 3 ]
  gwctl config set channel_test_interval_s 1 > /dev/null
  wait_until 15 is enabled keyfield p 3 status
  wait_until 10 is enabled channel_status p
  [ "$(keyfield p 1 status)" = auto-disabled ]
  mock_reset
  wait_until 5 is 200 bash -c "curl -s -o /dev/null -w '%{http_code}' '$RELAY_URL/v1/chat/completions' -H 'Authorization: Bearer $KEY' -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'"
  [ "$(count "$K3")" -ge 1 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE '%p key 3 re-enabled%'")" = 1 ]
  # the keys never reached relayd's log, the logs table, /metrics or gwctl's output
  curl -s "http://127.0.0.1:$MPORT/metrics" > "$BATS_TEST_TMPDIR/metrics.txt"
  for k in "$K1" "$K2" "$K3"; do
    ! grep -q -- "$k" "$BATS_TEST_TMPDIR/relayd.log"
    ! grep -q -- "$k" "$BATS_TEST_TMPDIR/metrics.txt"
    [ "$(sql "SELECT count(*) FROM logs WHERE content LIKE '%$k%'")" = 0 ]
    ! gwctl channel show p | grep -q -- "$k"
  done
}

@test "gwtui: a pooled channel's detail shows each key's status and counters" {
  command -v tmux > /dev/null || skip "tmux is not installed"
  pool p round-robin "$K1" "$K2"
  gwctl config set retry_times 2 > /dev/null
  relayd_start
  set_mock "{\"reject_keys\":\"$K2\"}"
  for i in 1 2 3; do chat; [ "$status_code" = 200 ]; done
  wait_until 10 is auto-disabled keyfield p 2 status
  gwtui_start 120 40
  keys 2
  wait_screen '^ +1 p +enabled'
  keys Enter
  wait_screen 'keys +2 \(round-robin\), 1 not chosen'
  wait_screen '#1 +enabled +req [0-9]+ +err 0'
  wait_screen '#2 +auto-disabled +req 1 +err 1'
  ! screen | grep -q 'pool-key'
}
