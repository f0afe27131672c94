#!/usr/bin/env bats
# Channel health and routing: per-channel maximum concurrency, auto-disable on account errors with
# the reason shown, periodic tests that re-enable (never a manual disable), the circuit breaker,
# and latency-aware choice. Real relayd, mock upstreams whose behaviour the test changes at run
# time (POST /__mock/defaults).

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 1000000000
}

# add_channel NAME MOCK [extra gwctl channel add args]: a channel on mock MOCK
add_channel() {
  local name=$1 mock=$2 port
  shift 2
  port=$(cat "$BATS_TEST_TMPDIR/mock-$mock.port")
  printf 'sk-%s\n' "$name" | gwctl channel add --name "$name" --type openai \
    --base-url "http://127.0.0.1:$port" --models gpt-4o-mini "$@" > /dev/null
}

# chat [extra JSON fields]: sets status_code, body, headers
chat() {
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -o "$out.body" -D "$out.headers" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]${1:-}}")
  body=$(cat "$out.body")
  headers=$(tr -d '\r' < "$out.headers")
}

# set_mock NAME JSON: new default behaviour of mock NAME
set_mock() {
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/mock-$1.port")/__mock/defaults" -d "$2"
}

# chats_on NAME: chat requests mock NAME received
chats_on() { mock_requests "$1" | grep -c '"path":"/v1/chat/completions"' || true; }

admin() {
  python3 - "$RELAY_SOCKET" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write(sys.argv[2] + "\n"); f.flush(); print(f.readline().strip())
PY
}

# health NAME FIELD: a field of channel NAME in the admin stats
health() { admin '{"cmd":"stats"}' | $JGET "[c for c in d[\"channels\"] if c[\"name\"]==\"$1\"][0][\"$2\"]"; }

channel_status() { gwctl channel show "$1" --json | $JGET 'd["status"]'; }

# is EXPECTED CMD...: CMD prints EXPECTED (for wait_until, which runs it again each time)
is() { local want=$1; shift; [ "$("$@")" = "$want" ]; }
# at_least N CMD...: CMD prints a number >= N
at_least() { local want=$1; shift; [ "$("$@")" -ge "$want" ]; }
# total_chats: chat requests both mocks of the concurrency test received
total_chats() { echo $(( $(chats_on slow) + $(chats_on fast) )); }

@test "a channel at its maximum concurrency sends requests to the next one; none left is 503" {
  mock_start slow --delay-ms 1500
  mock_start fast
  add_channel c1 slow --priority 10
  add_channel c2 fast --priority 0
  gwctl channel edit c1 --max-concurrency 1
  [ "$(gwctl channel show c1 --json | $JGET 'd["max_concurrency"]')" = 1 ]
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  # one slow request holds c1's only slot
  curl -s -o "$BATS_TEST_TMPDIR/first" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' \
    > "$BATS_TEST_TMPDIR/first.code" &
  first=$!
  wait_until 5 is 1 chats_on slow
  [ "$(health c1 active)" = 1 ]
  # the next one goes to the lower tier instead of waiting or failing
  chat
  [ "$status_code" = 200 ]
  [ "$(chats_on fast)" = 1 ]
  [ "$(chats_on slow)" = 1 ]
  wait "$first"      # only our own jobs: under BATS_TEST_TIMEOUT a bare wait also waits for bats' timer
  [ "$(cat "$BATS_TEST_TMPDIR/first.code")" = 200 ]
  [ "$(health c1 active)" = 0 ]
  [ "$(health c1 busy_total)" -ge 1 ]
  # both full: 503 with Retry-After, nothing relayed
  gwctl channel edit c2 --max-concurrency 1
  set_mock fast '{"delay_ms":1500}'
  pids=()
  for i in 1 2; do
    curl -s -o /dev/null "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' &
    pids+=($!)
  done
  wait_until 5 is 4 total_chats
  chat
  [ "$status_code" = 503 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = channels_busy ]
  echo "$headers" | grep -qi '^retry-after: 1$'
  for p in "${pids[@]}"; do wait "$p"; done
  [ "$(( $(chats_on slow) + $(chats_on fast) ))" = 4 ]
}

@test "401 auto-disables a channel with its reason; a passing periodic test re-enables it, never a manual disable" {
  mock_start bad --status 401
  mock_start good
  mock_start manual
  add_channel c1 bad --priority 10
  add_channel c2 good --priority 0
  add_channel c3 manual --priority 20
  gwctl channel disable c3
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  # c1 answers 401: the request moves on to c2, c1 is disabled with the reason
  chat
  [ "$status_code" = 200 ]
  [ "$(chats_on bad)" = 1 ]
  [ "$(chats_on good)" = 1 ]
  wait_until 5 is auto-disabled channel_status c1
  reason=$(gwctl channel show c1 --json | $JGET 'd["status_reason"]')
  echo "$reason" | grep -q 'HTTP 401'
  gwctl channel list | grep c1 | grep -q 'auto-disabled'
  gwctl channel list | grep c1 | grep -q 'HTTP 401'
  [ "$(gwctl channel list --status auto-disabled --json | $JGET '[c["name"] for c in d]')" = '["c1"]' ]
  wait_until 5 is 1 sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE '%c1 auto-disabled%'"
  # no longer chosen
  chat
  [ "$status_code" = 200 ]
  [ "$(chats_on bad)" = 1 ]
  # periodic tests every second: c1 still fails and stays disabled
  gwctl config set channel_test_interval_s 1
  wait_until 10 at_least 2 chats_on bad
  [ "$(channel_status c1)" = auto-disabled ]
  # the upstream recovers: the next test re-enables c1 and traffic returns to it
  set_mock bad '{"status":200}'
  wait_until 10 is enabled channel_status c1
  [ "$(gwctl channel show c1 --json | $JGET 'd["status_reason"]')" = "" ]
  [ "$(gwctl channel show c1 --json | $JGET 'd["test_time"]')" -gt 0 ]
  [ "$(gwctl channel show c1 --json | $JGET 'd["response_time"]')" -ge 0 ]
  wait_until 5 is enabled health c1 status
  n=$(chats_on bad)
  chat
  [ "$status_code" = 200 ]
  [ "$(chats_on bad)" = $((n + 1)) ]
  # the manually disabled channel was never tested nor used, and is still disabled
  [ "$(chats_on manual)" = 0 ]
  [ "$(channel_status c3)" = disabled ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE '%c1 re-enabled%'")" = 1 ]
}

@test "an auto-disabled channel stays off for a channel with auto_disable no, and an account error message counts" {
  mock_start quota
  add_channel c1 quota
  gwctl channel edit c1 --auto-disable no
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  gwctl config set retry_times 0
  relayd_start
  set_mock quota '{"status":403}'
  chat
  [ "$status_code" = 403 ]
  sleep 0.5
  [ "$(channel_status c1)" = enabled ]
  gwctl channel edit c1 --auto-disable yes
  chat
  [ "$status_code" = 403 ]
  wait_until 5 is auto-disabled channel_status c1
  gwctl channel show c1 --json | $JGET 'd["status_reason"]' | grep -q 'HTTP 403'
  # an administrator enables it again by hand
  set_mock quota '{"status":200}'
  gwctl channel enable c1
  [ "$(gwctl channel show c1 --json | $JGET 'd["status_reason"]')" = "" ]
  chat
  [ "$status_code" = 200 ]
}

@test "circuit breaker: opens after N failures, half-open trial fails and reopens, a passing trial closes it" {
  mock_start flaky --status 500
  add_channel c1 flaky
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  gwctl config set retry_times 0
  gwctl config set breaker_failures 2
  gwctl config set breaker_open_s 2
  relayd_start
  chat; [ "$status_code" = 502 ]
  chat; [ "$status_code" = 502 ]
  [ "$(health c1 breaker)" = open ]
  # open: refused without touching the upstream
  chat
  [ "$status_code" = 503 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = channels_unavailable ]
  echo "$headers" | grep -qiE '^retry-after: [12]$'
  [ "$(chats_on flaky)" = 2 ]
  # after the open time one trial goes through; it fails: open again at once
  wait_until 5 is half-open health c1 breaker
  chat; [ "$status_code" = 502 ]
  [ "$(chats_on flaky)" = 3 ]
  chat; [ "$status_code" = 503 ]
  [ "$(chats_on flaky)" = 3 ]
  [ "$(health c1 breaker)" = open ]
  # the upstream recovers: the next trial closes the breaker
  set_mock flaky '{"status":200}'
  wait_until 5 is half-open health c1 breaker
  chat; [ "$status_code" = 200 ]
  [ "$(health c1 breaker)" = closed ]
  [ "$(health c1 consecutive_failures)" = 0 ]
  chat; [ "$status_code" = 200 ]
  [ "$(health c1 breaker_opened_total)" = 2 ]
  [ "$(channel_status c1)" = enabled ]
}

@test "failures in a row disable a channel when channel_disable_failures is set" {
  mock_start down --status 500   # a 503 reaches the client as 503 (an overload, issue #20)
  add_channel c1 down
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  gwctl config set retry_times 0
  gwctl config set breaker_failures 0
  gwctl config set channel_disable_failures 3
  relayd_start
  for i in 1 2 3; do chat; [ "$status_code" = 502 ]; done
  wait_until 5 is auto-disabled channel_status c1
  gwctl channel show c1 --json | $JGET 'd["status_reason"]' | grep -q '3 failures in a row'
  chat
  [ "$status_code" = 503 ]
  [ "$(chats_on down)" = 3 ]
}

@test "routing = latency prefers the faster channel of a tier" {
  mock_start slow --delay-ms 300
  mock_start fast
  add_channel c1 slow
  add_channel c2 fast
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  gwctl config set routing latency
  relayd_start
  for i in $(seq 1 12); do chat; [ "$status_code" = 200 ]; done
  # each channel is measured once at most before the average decides
  [ "$(chats_on slow)" -le 1 ]
  [ "$(chats_on fast)" -ge 11 ]
  slow_ms=$(health c1 latency_ewma_ms)
  fast_ms=$(health c2 latency_ewma_ms)
  python3 -c "import sys; sys.exit(0 if float('$fast_ms') < float('$slow_ms') or float('$slow_ms') == 0 else 1)"
  # when the fast one turns slow its average rises and traffic moves
  set_mock fast '{"delay_ms":900}'
  for i in $(seq 1 8); do chat; done
  [ "$(chats_on slow)" -ge 2 ]
  run gwctl config set routing fastest
  [ "$status" -eq 2 ]
}

@test "the periodic test speaks each channel's own API: auto-disabled anthropic and gemini channels come back" {
  mock_start abad --status 401
  mock_start gbad --status 401
  mock_start good
  port() { cat "$BATS_TEST_TMPDIR/mock-$1.port"; }
  printf 'sk-ant-a1\n' | gwctl channel add --name a1 --type anthropic --base-url "http://127.0.0.1:$(port abad)" \
    --models gpt-4o-mini --priority 20 > /dev/null
  printf 'AIza-g1\n' | gwctl channel add --name g1 --type gemini --base-url "http://127.0.0.1:$(port gbad)" \
    --models gpt-4o-mini --priority 10 > /dev/null
  add_channel c2 good --priority 0
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  # a1 and g1 answer 401 in their own formats: each is disabled, c2 serves
  chat
  [ "$status_code" = 200 ]
  chat
  [ "$status_code" = 200 ]
  wait_until 5 is auto-disabled channel_status a1
  wait_until 5 is auto-disabled channel_status g1
  gwctl config set channel_test_interval_s 1
  # the tests reach each mock on its own API path and keep failing
  wait_until 10 at_least 2 eval "mock_requests abad | grep -c '\"path\":\"/v1/messages\"'"
  wait_until 10 at_least 1 eval "mock_requests gbad | grep -c '\"path\":\"/v1beta/models/gpt-4o-mini:generateContent\"'"
  [ "$(channel_status a1)" = auto-disabled ]
  [ "$(channel_status g1)" = auto-disabled ]
  # both upstreams recover: a passing test re-enables each
  set_mock abad '{"status":200}'
  set_mock gbad '{"status":200}'
  wait_until 10 is enabled channel_status a1
  wait_until 10 is enabled channel_status g1
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE '%a1 re-enabled%'")" = 1 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE '%g1 re-enabled%'")" = 1 ]
  # and, once relayd has the change, traffic returns to the highest priority, in Anthropic's format
  wait_until 5 is enabled health a1 status
  n=$(mock_requests abad | grep -c '"path":"/v1/messages"')
  chat
  [ "$status_code" = 200 ]
  [ "$(mock_requests abad | grep -c '"path":"/v1/messages"')" = $((n + 1)) ]
}
