#!/usr/bin/env bats
# Upstream balances and notifications (issue #23): `gwctl channel balance` reads each provider's
# balance endpoint (the mock answers each in the provider's documented shape: tests/mock_upstream.c
# section "balances") and stores it; relayd's poll updates it, /metrics shows it, a low balance fires
# one webhook and one system log row; channel and pool-key auto-disables and re-enables fire webhook
# events; a dead webhook receiver never holds up requests; `gwctl notify test`.

load helpers
load gwtui_helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000 > /dev/null
}

teardown() {
  if [ -n "${SINK_PID:-}" ]; then kill "$SINK_PID" 2>/dev/null || true; fi
  if [ -n "${TM:-}" ]; then gwtui_teardown; else relay_teardown; fi
  if [ -n "${BAL_PGHOST:-}" ]; then sh "$BATS_TEST_DIRNAME/../pg.sh" stop "$BAL_PGHOST" || true; fi
}

# add NAME TYPE BASE [flags...]: a channel whose key is sk-NAME-secret
add() {
  local name=$1 type=$2 base=$3
  shift 3
  printf 'sk-%s-secret\n' "$name" | gwctl channel add --name "$name" --type "$type" --base-url "$base" \
    --models gpt-4o-mini "$@" > /dev/null
}

set_mock() {
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/mock-$1.port")/__mock/defaults" -d "$2"
}

# hooks [EVENT [CHANNEL]]: webhook bodies the hook mock received, one JSON object a line ('' any event)
hooks() {
  mock_requests hook | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    b = r["body"]
    if not r["path"].startswith("/webhook") or not isinstance(b, dict):
        continue
    if len(sys.argv) > 1 and sys.argv[1] and b.get("event") != sys.argv[1]:
        continue
    if len(sys.argv) > 2 and b.get("channel") != sys.argv[2]:
        continue
    print(json.dumps(b, sort_keys=True))' "$@"
}
nhooks() { hooks "$@" | wc -l; }
is() { local want=$1; shift; [ "$("$@")" = "$want" ]; }
at_least() { local want=$1; shift; [ "$("$@")" -ge "$want" ]; }
chan_status() { gwctl channel show "$1" --json | $JGET 'd["status"]'; }
gets() { mock_requests "${2:-up}" | grep -c "\"path\":\"$1\"" || true; }
metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | grep -F "$1" | awk '{print $2}'; }

chat() {
  status_code=$(curl -s -o "$BATS_TEST_TMPDIR/chat.out" -w '%{http_code}' --max-time 30 "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}')
}

@test "channel balance: each provider's endpoint in its own shape, stored, shown in list and show; --json" {
  mock_start up --mock '{"balance":42.5}'
  add ds deepseek "$MOCK_UP_URL/v1"           # /user/balance is at the host's root
  add ms moonshot "$MOCK_UP_URL/v1"
  add sf siliconflow "$MOCK_UP_URL/v1"
  add or openrouter "$MOCK_UP_URL/api"
  add oa openai "$MOCK_UP_URL"
  for c in ds ms sf or oa; do
    gwctl channel balance "$c" --json > "$BATS_TEST_TMPDIR/$c.json"
  done
  [ "$($JGET '[d["balance"], d["balance_currency"], d["kind"]]' < "$BATS_TEST_TMPDIR/ds.json")" = '[42.5, "CNY", "deepseek"]' ]
  [ "$($JGET '[d["balance"], d["balance_currency"]]' < "$BATS_TEST_TMPDIR/ms.json")" = '[42.5, "CNY"]' ]
  [ "$($JGET '[d["balance"], d["balance_currency"]]' < "$BATS_TEST_TMPDIR/sf.json")" = '[42.5, "CNY"]' ]
  [ "$($JGET '[d["balance"], d["balance_currency"]]' < "$BATS_TEST_TMPDIR/or.json")" = '[42.5, "USD"]' ]
  # OpenAI's billing: the hard limit (62.50) less the usage (2000 cents)
  [ "$($JGET '[d["balance"], d["balance_currency"], d["kind"]]' < "$BATS_TEST_TMPDIR/oa.json")" = '[42.5, "USD", "openai-billing"]' ]
  # each endpoint got the channel's key as the provider wants it, on its documented path
  [ "$(gets /user/balance)" = 1 ]
  [ "$(gets /v1/users/me/balance)" = 1 ]
  [ "$(gets /v1/user/info)" = 1 ]
  [ "$(gets /api/v1/credits)" = 1 ]
  [ "$(gets /v1/dashboard/billing/subscription)" = 1 ]
  [ "$(gets /v1/dashboard/billing/usage)" = 1 ]
  mock_requests | grep '"/user/balance"' | $JGET 'd["headers"]["authorization"]' | grep -qx 'Bearer sk-ds-secret'
  mock_requests | grep '"/v1/dashboard/billing/usage"' | $JGET 'sorted(d["query"].keys())' | grep -Fqx '["end_date", "start_date"]'
  # stored with the time it was read
  [ "$(sql "SELECT balance || ' ' || currency || ' ' || source FROM channel_balances WHERE channel_id = (SELECT id FROM channels WHERE name = 'ds')")" = '42.5 CNY gwctl' ]
  [ "$(sql "SELECT count(*) FROM channel_balances WHERE updated_time > 0")" = 5 ]
  # shown: the list's BALANCE column, list --json, show
  run gwctl channel list
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == *"BASE_URL"*"BALANCE"*"MAXCONC"* ]]
  echo "$output" | grep -E '^[0-9]+ +ds ' | grep -q '42.50 CNY'
  [ "$(gwctl channel list --json | $JGET '[[c["name"], c["balance"], c["balance_currency"]] for c in d if c["name"] in ("or", "sf")]')" = '[["sf", 42.5, "CNY"], ["or", 42.5, "USD"]]' ]
  [ "$(gwctl channel show or --json | $JGET 'd["balance_time"] > 0')" = true ]
  gwctl channel show or | grep -E '^balance +42.5$'
  # the text form, and every channel at once (those whose provider publishes a balance)
  gwctl channel balance ds | grep -E '^ds +deepseek +42.50 CNY'
  set_mock up '{"balance":7.25}'
  [ "$(gwctl channel balance --json | $JGET '[[r["name"], r["balance"]] for r in d]')" = '[["ds", 7.25], ["ms", 7.25], ["sf", 7.25], ["or", 7.25], ["oa", 7.25]]' ]
  [ "$(gwctl channel list --json | $JGET '[c["balance"] for c in d]')" = '[7.25, 7.25, 7.25, 7.25, 7.25]' ]
  # the key never shows in what gwctl prints
  ! gwctl channel balance --json | grep -q secret
  # channel rm takes its balance with it
  gwctl channel rm oa --yes > /dev/null
  [ "$(sql "SELECT count(*) FROM channel_balances")" = 4 ]
}

@test "gwtui's channel detail shows the last balance read" {
  mock_start up --mock '{"balance":42.5}'
  add ds deepseek "$MOCK_UP_URL"
  add an anthropic "$MOCK_UP_URL"
  gwctl channel balance ds > /dev/null
  relayd_start
  TM="$BATS_TEST_TMPDIR/tmux.sock"
  LIMIT=$(_relay_scale 10)
  gwtui_start 120 30
  keys 2
  wait_screen '^ +1 ds '
  keys Enter
  wait_screen 'channel 1: ds'
  wait_screen 'balance +42\.50 CNY \(read '
  keys Escape j Enter
  wait_screen 'channel 2: an'
  wait_screen 'balance +-'
}

@test "channel balance: a provider without a balance endpoint says so (exit 4); an upstream error is exit 5 without the key" {
  mock_start up
  add an anthropic "$MOCK_UP_URL"
  add ds deepseek "$MOCK_UP_URL"
  run gwctl channel balance an
  [ "$status" -eq 4 ]
  [[ "$output" == *"a anthropic channel has no balance endpoint"* ]] || [[ "$output" == *"no balance endpoint"* ]]
  [ "$(gets /user/balance)" = 0 ]
  [ "$(sql "SELECT count(*) FROM channel_balances")" = 0 ]
  # the upstream refuses the key (its 401 echoes it, as OpenAI's does): exit 5, nothing stored
  set_mock up '{"status":401,"echo_key":true}'
  run gwctl channel balance ds
  [ "$status" -eq 5 ]
  [[ "$output" == *"HTTP 401"* ]]
  [[ "$output" != *"sk-ds-secret"* ]]
  [ "$(sql "SELECT count(*) FROM channel_balances")" = 0 ]
  # an answer that is not the documented shape is an error too, not a figure
  set_mock up '{"raw":"{\"balance_infos\":\"lots\"}"}'
  run gwctl channel balance ds
  [ "$status" -eq 5 ]
  [[ "$output" == *"documented shape"* ]]
  # channel types says which have an endpoint
  [ "$(gwctl channel types --json | $JGET '[[t["type"], t["balance"]] for t in d if t["type"] in ("anthropic", "deepseek", "openai", "moonshot")]')" = '[["openai", "openai-billing"], ["anthropic", "none"], ["deepseek", "deepseek"], ["moonshot", "moonshot"]]' ]
  run gwctl channel balance nosuch
  [ "$status" -eq 3 ]
  run gwctl channel balance ds --timeout 0
  [ "$status" -eq 2 ]
}

@test "relayd polls balances into the table and /metrics; a low balance fires one webhook and one log row, re-armed by a top-up" {
  mock_start up --mock '{"balance":100}'
  mock_start hook
  add ds deepseek "$MOCK_UP_URL"
  add an anthropic "$MOCK_UP_URL"
  gwctl config set webhook_url "$MOCK_HOOK_URL/webhook/relay"
  gwctl config set balance_low_threshold 50
  gwctl config set balance_poll_interval_s 1
  MPORT=$(free_port)
  relayd_start --metrics-listen "127.0.0.1:$MPORT"
  wait_until 10 is '100.0 relayd' sql "SELECT balance || ' ' || source FROM channel_balances"
  wait_until 5 is 100.000000 metric 'relayd_channel_balance{channel="ds",currency="CNY"}'
  # the anthropic channel has no endpoint: never asked, no series
  [ -z "$(metric 'relayd_channel_balance{channel="an"')" ]
  [ "$(nhooks)" = 0 ]
  # the balance drops below 50: one webhook, one log row
  set_mock up '{"balance":12.5}'
  wait_until 10 is 1 nhooks balance_low ds
  body=$(hooks balance_low ds)
  [ "$(echo "$body" | $JGET '[d["balance"], d["currency"], d["key_index"], d["channel_id"] > 0]')" = '[12.5, "CNY", null, true]' ]
  echo "$body" | $JGET 'd["reason"]' | grep -q 'below 50'
  [ "$(echo "$body" | $JGET 'd["time"] > 0')" = true ]
  wait_until 5 is 12.500000 metric 'relayd_channel_balance{channel="ds",currency="CNY"}'
  wait_until 5 is 1 sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE 'channel ds balance low:%'"
  [ "$(sql "SELECT low_fired_time > 0 FROM channel_balances")" = 1 ]
  # more polls below the threshold fire nothing more
  n=$(gets /user/balance)
  wait_until 10 at_least $((n + 3)) gets /user/balance
  [ "$(nhooks balance_low)" = 1 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE 'channel ds balance low:%'")" = 1 ]
  # a top-up re-arms it; the next fall fires again
  set_mock up '{"balance":80}'
  wait_until 10 is 0 sql "SELECT low_fired_time FROM channel_balances"
  set_mock up '{"balance":3}'
  wait_until 10 is 2 nhooks balance_low ds
  # gwctl's figure reaches relayd too (it re-reads the table): poll off, a figure stored by gwctl
  gwctl config set balance_poll_interval_s 0
  set_mock up '{"balance":61}'
  gwctl channel balance ds > /dev/null
  wait_until 10 is 61.000000 metric 'relayd_channel_balance{channel="ds",currency="CNY"}'
  # no key in any webhook body
  ! mock_requests hook | grep -q 'sk-'
}

@test "a channel auto-disabled by a 401 and re-enabled fires two webhook events; a pool key its own" {
  mock_start bad --status 401
  mock_start good
  mock_start hook
  add c1 openai "$MOCK_BAD_URL" --priority 10
  add c2 openai "$MOCK_GOOD_URL"
  gwctl config set webhook_url "$MOCK_HOOK_URL/webhook/relay"
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  chat
  [ "$status_code" = 200 ]
  wait_until 10 is 1 nhooks channel_disabled c1
  body=$(hooks channel_disabled c1)
  echo "$body" | $JGET 'd["reason"]' | grep -q 'HTTP 401'
  [ "$(echo "$body" | $JGET 'd["key_index"]')" = null ]
  wait_until 5 is 1 sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE '%c1 auto-disabled%'"
  gwctl config set channel_test_interval_s 1
  set_mock bad '{"status":200}'
  wait_until 15 is 1 nhooks channel_enabled c1
  [ "$(nhooks '' c1)" = 2 ]      # disabled, enabled: nothing else
  wait_until 5 is 1 sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE '%c1 re-enabled%'"
  # a key of a pool: its own events, with its index
  mock_start pool --mock '{"reject_keys":"sk-p-two"}'
  printf 'sk-p-one\nsk-p-two\n' | gwctl channel add --name p --type openai --base-url "$MOCK_POOL_URL" \
    --models gpt-4o-mini --priority 20 --key-mode round-robin > /dev/null
  gwctl channel disable c1 > /dev/null
  wait_until 10 is 2 sql "SELECT count(*) FROM channel_keys WHERE channel_id = (SELECT id FROM channels WHERE name = 'p')"
  for i in 1 2 3 4; do chat; [ "$status_code" = 200 ]; done
  wait_until 10 is 1 nhooks key_disabled p
  [ "$(hooks key_disabled p | $JGET 'd["key_index"]')" = 2 ]
  set_mock pool '{"reject_keys":null}'
  wait_until 15 is 1 nhooks key_enabled p
  [ "$(hooks key_enabled p | $JGET 'd["key_index"]')" = 2 ]
  ! mock_requests hook | grep -q 'sk-'
}

@test "a webhook receiver that never answers holds up no request; notify test reports it" {
  mock_start bad --status 401
  mock_start good
  # a receiver that accepts connections and never answers
  SINK_PORT=$(free_port)
  python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
conns=[]
while True:
    c,_=s.accept(); conns.append(c)' "$SINK_PORT" &
  SINK_PID=$!
  add c1 openai "$MOCK_BAD_URL" --priority 10
  add c2 openai "$MOCK_GOOD_URL"
  gwctl config set webhook_url "http://127.0.0.1:$SINK_PORT/hook"
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  # a budget alert that fires at once: its webhook goes to the silent receiver too
  gwctl alert set --user alice --remain 200000000 > /dev/null
  MPORT=$(free_port)
  relayd_start --metrics-listen "127.0.0.1:$MPORT"
  chat
  [ "$status_code" = 200 ]
  wait_until 5 is auto-disabled chan_status c1
  # the events (budget alert, channel_disabled) are queued, their POSTs stuck on the silent receiver
  wait_until 5 at_least 2 metric 'relayd_webhook_events_total{outcome="queued"}'
  wait_until 5 is 1 sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE 'budget alert:%'"
  # the monitor is not held: the periodic test re-enables c1 as soon as its upstream recovers
  gwctl config set channel_test_interval_s 1
  set_mock bad '{"status":200}'
  wait_until 6 is enabled chan_status c1
  # nor are the workers: 20 requests served while nothing has been delivered nor given up
  for i in $(seq 1 20); do chat; [ "$status_code" = 200 ]; done
  [ "$(metric 'relayd_webhook_events_total{outcome="delivered"}')" = 0 ]
  [ "$(metric 'relayd_webhook_events_total{outcome="failed"}')" = 0 ]
  wait_until 5 at_least 21 sql "SELECT count(*) FROM logs WHERE type = 2"
  # gwctl notify test against it: exit 5 (the upstream failed), after its own timeout
  run gwctl notify test --timeout 1
  [ "$status" -eq 5 ]
  # a closed port: unreachable, exit 5; no webhook_url: exit 4
  run gwctl notify test --url "http://127.0.0.1:$(free_port)/x"
  [ "$status" -eq 5 ]
  [[ "$output" == *"unreachable"* ]]
  gwctl config unset webhook_url
  run gwctl notify test
  [ "$status" -eq 4 ]
  [[ "$output" == *"webhook_url is not set"* ]]
  run gwctl notify test --url ftp://x
  [ "$status" -eq 2 ]
}

@test "notify test delivers a test event in the notifications' shape" {
  mock_start hook
  gwctl config set webhook_url "$MOCK_HOOK_URL/webhook/relay"
  run gwctl notify test
  [ "$status" -eq 0 ]
  [[ "$output" == *"HTTP 200"* ]]
  [ "$(hooks test | $JGET 'sorted(d.keys())')" = '["channel", "channel_id", "event", "key_index", "reason", "time"]' ]
  [ "$(gwctl notify test --json | $JGET '[d["ok"], d["status"]]')" = '[true, 200]' ]
  [ "$(nhooks test)" = 2 ]
}

@test "PostgreSQL: channel balance stores and lists; relayd's poll writes there too" {
  if [ "${RELAY_TEST_DB:-sqlite}" != postgres ]; then
    BAL_PGHOST=$(sh "$BATS_TEST_DIRNAME/../pg.sh" start)
    sh "$BATS_TEST_DIRNAME/../pg.sh" template "$BAL_PGHOST" "$RELAY_BIN/gwctl"
    export RELAY_TEST_PGHOST=$BAL_PGHOST RELAY_TEST_DB=postgres
    unset RELAY_DATA
    relay_env
  fi
  [[ "$RELAY_DB" == postgres* ]]
  mock_start up --mock '{"balance":33.3}'
  add or openrouter "$MOCK_UP_URL/api"
  add an anthropic "$MOCK_UP_URL"
  [ "$(gwctl channel balance or --json | $JGET '[d["balance"], d["balance_currency"]]')" = '[33.3, "USD"]' ]
  [ "$(gwctl channel list --json | $JGET '[[c["name"], c["balance"]] for c in d]')" = '[["or", 33.3], ["an", null]]' ]
  run gwctl channel balance an
  [ "$status" -eq 4 ]
  set_mock up '{"balance":5}'
  gwctl config set balance_poll_interval_s 1
  relayd_start
  wait_until 15 is '5 relayd' sql "SELECT balance || ' ' || source FROM channel_balances"
}
