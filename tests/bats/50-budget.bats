#!/usr/bin/env bats
# Budget alerts and quota reminders: a webhook POST (received and recorded by a mock upstream's
# /webhook route) and a system log row, exactly once per crossing, re-armed by a top-up.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  mock_start up
  mock_start hook
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "$MOCK_UP_URL" --models gpt-4o-mini > /dev/null
  gwctl config set webhook_url "$MOCK_HOOK_URL/webhook/budget"
}

# chat: one request costing (1000 + 200 * 4) * 0.075 = 135 quota
chat() {
  status_code=$(curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"mock":{"prompt_tokens":1000,"completion_tokens":200}}')
}

# hooks [EVENT]: webhook bodies received (one JSON object a line)
hooks() {
  mock_requests hook | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r["path"].startswith("/webhook") and (len(sys.argv) < 2 or r["body"]["event"] == sys.argv[1]):
        print(json.dumps(r["body"]))' "$@"
}
nhooks() { hooks "$@" | wc -l; }
is() { local want=$1; shift; [ "$("$@")" = "$want" ]; }

@test "a token's percent alert fires its webhook and log row once; alert list shows it fired" {
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 500)
  id=$(gwctl alert set --token t1 --percent 50)
  [ "$(gwctl alert list --json | $JGET 'd[0]["fired_at"]')" = 0 ]
  relayd_start
  chat; [ "$status_code" = 200 ]          # 135 of 500 used: 27 %
  sleep 1.5
  [ "$(nhooks)" = 0 ]
  chat; [ "$status_code" = 200 ]          # 270 of 500: 54 %
  wait_until 5 is 1 nhooks budget_alert
  body=$(hooks budget_alert)
  [ "$(echo "$body" | $JGET 'd["who"]')" = '{"type": "token", "id": 1, "name": "t1", "user": "alice"}' ]
  [ "$(echo "$body" | $JGET 'd["threshold"]')" = '{"kind": "percent", "value": 50}' ]
  [ "$(echo "$body" | $JGET 'd["used"]')" = 270 ]
  [ "$(echo "$body" | $JGET 'd["remain"]')" = 230 ]
  [ "$(echo "$body" | $JGET 'd["quota"]')" = 500 ]
  mock_requests hook | tail -1 | $JGET 'd["headers"]["content-type"]' | grep -q application/json
  wait_until 5 is 1 sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE 'budget alert: token t1 crossed 50% used%'"
  [ "$(sql "SELECT user_id FROM logs WHERE type = 4 AND content LIKE 'budget alert%'")" = 1 ]
  wait_until 5 is true eval 'gwctl alert list --json | $JGET "d[0][\"fired_at\"] > 0"'
  # more spending does not fire again
  chat; [ "$status_code" = 200 ]
  sleep 1.5
  [ "$(nhooks)" = 1 ]
  # nor does a restart
  relayd_stop
  relayd_start
  sleep 1.5
  [ "$(nhooks)" = 1 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE 'budget alert%'")" = 1 ]
}

@test "a user's remain alert is re-armed by a top-up and fires again at the next crossing" {
  gwctl user add alice --quota 1000
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  gwctl alert set --user alice --remain 600 > /dev/null
  relayd_start
  chat; chat                               # 730 left
  sleep 1.2
  [ "$(nhooks)" = 0 ]
  chat                                     # 595 left
  wait_until 5 is 1 nhooks budget_alert
  [ "$(hooks | $JGET 'd["who"]["type"]')" = user ]
  [ "$(hooks | $JGET 'd["remain"]')" = 595 ]
  gwctl user topup alice 1000              # 1595 left, above 600 again: re-armed
  sleep 1.5
  [ "$(nhooks)" = 1 ]
  wait_until 5 is 0 sql "SELECT fired_at FROM budget_alerts"
  for i in 1 2 3 4 5 6 7; do chat; [ "$status_code" = 200 ]; done   # 650 left
  sleep 1.2
  [ "$(nhooks)" = 1 ]
  chat                                     # 515 left
  wait_until 5 is 2 nhooks budget_alert
  [ "$(hooks | tail -1 | $JGET 'd["remain"]')" = 515 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE 'budget alert: user alice%'")" = 2 ]
}

@test "quota reminder: once for a user below quota_remind_threshold, none for others" {
  gwctl user add alice --quota 100000000
  gwctl user add bob --quota 400
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  gwctl config set quota_remind_threshold 500
  relayd_start
  wait_until 5 is 1 nhooks quota_reminder
  [ "$(hooks quota_reminder | $JGET 'd["who"]["name"]')" = bob ]
  [ "$(hooks quota_reminder | $JGET 'd["remain"]')" = 400 ]
  [ "$(hooks quota_reminder | $JGET 'd["threshold"]')" = '{"kind": "remain_below", "value": 500}' ]
  wait_until 5 is 1 sql "SELECT count(*) FROM logs WHERE type = 4 AND content LIKE 'quota reminder: user bob%'"
  chat
  sleep 1.5
  [ "$(nhooks)" = 1 ]
  [ "$(sql 'SELECT user_id FROM quota_reminders')" = 2 ]
}

@test "alert set/list/rm: input checked, nothing stored on bad input" {
  gwctl user add alice --quota 1000
  run gwctl alert set --user alice --percent 0
  [ "$status" -eq 2 ]
  run gwctl alert set --user alice --percent 50 --remain 10
  [ "$status" -eq 2 ]
  run gwctl alert set --user nobody --percent 50
  [ "$status" -eq 3 ]
  [ "$(sql 'SELECT count(*) FROM budget_alerts')" = 0 ]
  id=$(gwctl alert set --user alice --percent 80)
  [ "$(gwctl alert list --user alice --json | $JGET '[(a["id"], a["kind"], a["threshold"], a["name"]) for a in d]')" = "[[$id, \"percent\", 80, \"alice\"]]" ]
  gwctl alert rm "$id"
  run gwctl alert rm "$id"
  [ "$status" -eq 3 ]
}
