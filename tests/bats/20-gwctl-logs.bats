#!/usr/bin/env bats
# gwctl log: list with every filter, stats by model/user/channel/day, export as CSV and JSON,
# prune; and the manage rows every change writes.

load helpers
load gwctl_helpers

# rows at fixed times: 2025-01-01 (1735732800 = 12:00 UTC) and 2025-01-02
seed() {
  gwctl user add alice --quota 1000 > /dev/null
  gwctl user add bob --quota 1000 > /dev/null
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url http://127.0.0.1:9 --models m > /dev/null
  printf 'k\n' | gwctl channel add --name c2 --type openai --base-url http://127.0.0.1:9 --models m > /dev/null
  sql "INSERT INTO logs(request_id, created_at, type, user_id, username, token_name, channel_id, model_name, prompt_tokens, completion_tokens, quota, status, content) VALUES
    ('r1', 1735732800, 2, 1, 'alice', 'ta', 1, 'gpt-4o', 10, 5, 100, 200, ''),
    ('r2', 1735732860, 2, 1, 'alice', 'ta', 2, 'gpt-4o-mini', 20, 10, 30, 200, ''),
    ('r3', 1735819200, 2, 2, 'bob', 'tb', 1, 'gpt-4o', 1, 1, 7, 200, 'a, \"quoted\" note'),
    ('r4', 1735819260, 5, 2, 'bob', 'tb', 2, 'gpt-4o', 3, 0, 0, 502, 'upstream said no')"
  sql "INSERT INTO tokens(user_id, name, key_hash) VALUES (1, 'ta', 'h1'), (2, 'tb', 'h2')"
}

setup() {
  relay_env
  seed
}

@test "log list: every filter, table and JSON" {
  run gwctl log list
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$(printf 'ID  TIME                 TYPE     USER   TOKEN  MODEL        QUOTA          STATUS  MS  API  CONTENT')" ]
  ids() { gwctl log list --json "$@" | $JGET '[r["request_id"] for r in d if r["request_id"]]'; }
  [ "$(ids)" = '["r4", "r3", "r2", "r1"]' ]
  [ "$(ids --user alice)" = '["r2", "r1"]' ]
  [ "$(ids --token tb)" = '["r4", "r3"]' ]
  [ "$(ids --model gpt-4o)" = '["r4", "r3", "r1"]' ]
  [ "$(ids --channel c2)" = '["r4", "r2"]' ]
  [ "$(ids --channel 1)" = '["r3", "r1"]' ]
  [ "$(ids --type error)" = '["r4"]' ]
  [ "$(ids --status 200 --user bob)" = '["r3"]' ]
  [ "$(ids --since 2025-01-02T00:00:00Z)" = '["r4", "r3"]' ]
  [ "$(ids --until 2025-01-02T00:00:00Z)" = '["r2", "r1"]' ]
  [ "$(ids --since 1735732801 --until 1735819201)" = '["r3", "r2"]' ]
  [ "$(ids --request-id r2)" = '["r2"]' ]
  # times as people say them (common/when.c): rows 1 h, 2 days and 9 days old
  now=$(date +%s)
  sql "UPDATE logs SET created_at = $now - 3600 WHERE request_id = 'r4'"
  sql "UPDATE logs SET created_at = $now - 2 * 86400 - 60 WHERE request_id = 'r3'"
  sql "UPDATE logs SET created_at = $now - 9 * 86400 WHERE request_id = 'r2'"
  [ "$(ids --since 2h)" = '["r4"]' ]
  [ "$(ids --since '3 days ago')" = '["r4", "r3"]' ]
  [ "$(ids --since 1w --until 30m)" = '["r4", "r3"]' ]
  [ "$(ids --since 10d --until '2 days ago')" = '["r3", "r2"]' ]
  [ "$(ids --since today)" = "$(ids --since "$(date +%Y-%m-%d)")" ]
  [ "$(ids --type consume --limit 1)" = '["r3"]' ]
  [ "$(gwctl log list --json --type manage | $JGET 'len(d)')" = 4 ]
}

@test "log stats by model, user, channel and day" {
  run gwctl log stats
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$(printf 'MODEL        REQUESTS  PROMPT  COMPLETION  QUOTA            ERRORS  P95_MS')" ]
  [ "$(gwj '[[r["key"], r["requests"], r["prompt_tokens"], r["completion_tokens"], r["quota"]] for r in d]' log stats --by model)" = \
    '[["gpt-4o", 3, 14, 6, 107], ["gpt-4o-mini", 1, 20, 10, 30]]' ]
  [ "$(gwj '[[r["key"], r["requests"], r["quota"]] for r in d]' log stats --by user)" = '[["alice", 2, 130], ["bob", 2, 7]]' ]
  [ "$(gwj '[[r["key"], r["requests"], r["quota"]] for r in d]' log stats --by channel)" = '[["c1", 2, 107], ["c2", 2, 30]]' ]
  [ "$(TZ=UTC gwctl log stats --by day --json | $JGET '[[r["key"], r["requests"]] for r in d]')" = '[["2025-01-01", 2], ["2025-01-02", 2]]' ]
  [ "$(gwj '[[r["key"], r["requests"]] for r in d]' log stats --by model --type consume --user bob)" = '[["gpt-4o", 1]]' ]
  refused 2 "--by: 'colour' is not one of day, hour, model, user, token, channel, group, status" gwctl log stats --by colour
}

@test "log export: CSV and JSON, filtered, oldest first" {
  run gwctl log export --type consume
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "id,request_id,created_at,type,user_id,username,token_id,token_name,channel_id,model,upstream_model,prompt_tokens,completion_tokens,quota,status,is_stream,elapsed_ms,first_byte_ms,end_reason,usage_source,group,content" ]
  [ "${#lines[@]}" -eq 4 ]
  [ "$(gwctl log export --type consume | python3 -c 'import csv,sys; r=list(csv.DictReader(sys.stdin)); print([x["request_id"] for x in r], r[2]["content"], r[0]["quota"])')" = "['r1', 'r2', 'r3'] a, \"quoted\" note 100" ]
  [ "$(gwctl log export --format json --user bob | $JGET '[r["request_id"] for r in d if r["request_id"]]')" = '["r3", "r4"]' ]
  [ "$(gwctl log export --json --request-id none | $JGET 'd')" = '[]' ]
  refused 2 "--format must be csv or json" gwctl log export --format xml
}

@test "log prune needs --yes, deletes only older rows, and is logged" {
  refused 2 "without --yes" gwctl log prune --before 2025-01-02
  refused 2 "missing --before" gwctl log prune --yes
  refused 2 "'soonish' is not a time; give a span" gwctl log prune --before soonish --yes
  run gwctl log prune --before 2025-01-02T00:00:00Z --yes
  [ "$status" -eq 0 ]
  [ "$output" = "2 log rows deleted" ]
  [ "$(sql "SELECT group_concat(request_id) FROM (SELECT request_id FROM logs WHERE type IN (2,5) ORDER BY id) l")" = "r3,r4" ]
  run gwctl log prune --before 2025-01-03 --type error --yes --json
  [ "$(echo "$output" | $JGET 'd["deleted"]')" = 1 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content LIKE 'log prune %'")" = 2 ]
}

@test "log: unknown names and bad values are refused" {
  refused 3 "no user named 'nobody'" gwctl log list --user nobody
  refused 3 "no token named 'nope'" gwctl log list --token nope
  refused 3 "no channel named 'nope'" gwctl log stats --channel nope
  refused 2 "--type must be one of" gwctl log list --type fun
  refused 2 "--status must be from 100 to 599" gwctl log list --status 42
  refused 2 "--limit must be from 1" gwctl log list --limit 0
  refused 2 "is not an ISO 8601 date" gwctl log list --since 2025-13-01
  refused 2 "unknown unit 'fortnights'" gwctl log list --since "2 fortnights ago"
  refused 2 "no fixed length: give days" gwctl log list --since 3mo
  refused 2 "--until must be later" gwctl log list --since 2025-01-02 --until 2025-01-01
}

@test "every change is a manage row without secrets" {
  key=$(gwctl token create --user alice --name t --quota 5)
  printf 'upstream-secret-123\n' | gwctl channel edit c1 --key-stdin
  gwctl user edit bob --quota 3
  gwctl config set retry_times 1
  gwctl price set zz --ratio 1
  gwctl group set g2 --ratio 1
  code=$(gwctl redeem create --count 1 --quota 5)
  all=$(sql "SELECT content FROM logs")
  ( ! echo "$all" | grep -qF "${key#sk-}" )
  ( ! echo "$all" | grep -q upstream-secret-123 )
  ( ! echo "$all" | grep -qF "$code" )
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3")" -ge 11 ]
}

# log explain: rows with a breakdown in logs.billing, written directly (relayd fills it; these rows
# fix every number so the output can be checked exactly)
RATIO_BD='{"mode":"ratio","usage_source":"upstream","tokens":{"prompt":1200,"cached":600,"cache_write_5m":300,"cache_write_1h":100,"completion":500,"reasoning":120},"model_ratio":1.5,"completion_ratio":5,"cache_ratio":0.1,"cache_write_ratio":1.25,"cache_write_1h_ratio":2,"group":"vip","group_ratio":1,"reserved":200000,"charged":5003}'

explain_row() {   # REQUEST_ID QUOTA BILLING [PROMPT COMPLETION]
  sql "INSERT INTO logs(request_id, created_at, type, user_id, username, token_name, channel_id, model_name, upstream_model, prompt_tokens, completion_tokens, quota, status, is_stream, elapsed_ms, end_reason, usage_source, \"group\", billing) VALUES ('$1', 1735732800, 2, 1, 'alice', 'ta', 1, 'claude-sonnet-4-0', 'claude-sonnet-4-20250514', ${4:-1200}, ${5:-500}, $2, 200, 1, 830, 'done', 'upstream', 'vip', '$3')"
}

@test "log explain: tokens by kind, every ratio, the formula, reserved/charged/refunded, and a check that matches" {
  explain_row rx 5003 "$RATIO_BD"
  run env TZ=UTC "$RELAY_BIN/gwctl" log explain rx
  [ "$status" -eq 0 ]
  echo "$output"
  [ "${lines[0]}" = "request rx" ]
  [[ "$output" == *"row "*": consume at 2025-01-01 12:00:00"* ]]
  [[ "$output" == *"user / token    alice / ta"* ]]
  [[ "$output" == *"model           claude-sonnet-4-0 -> claude-sonnet-4-20250514"* ]]
  [[ "$output" == *"channel         1 (c1)"* ]]
  [[ "$output" == *"status          200, end done, stream, 830 ms"* ]]
  [[ "$output" == *"usage source    upstream (the provider's usage)"* ]]
  [[ "$output" == *"tokens          prompt 1200 = uncached 200 + cached 600 + cache write 5m 300 + cache write 1h 100"* ]]
  [[ "$output" == *"completion 500 (reasoning 120, inside completion)"* ]]
  [[ "$output" == *"price           ratio: model_ratio 1.5 (3 USD per 1M prompt tokens)"* ]]
  [[ "$output" == *"completion_ratio 5, cache_ratio 0.1, cache_write_ratio 1.25, cache_write_1h_ratio 2"* ]]
  [[ "$output" == *"group           vip: group_ratio 1"* ]]
  [[ "$output" == *"formula         ceil((1200 - 600 - 300 - 100 + 600 x 0.1 + 300 x 1.25 + 100 x 2 + 500 x 5) x 1.5 x 1) = ceil(3335 x 1.5 x 1) = ceil(5002.5) = 5003"* ]]
  [[ "$output" == *"charged         5003 quota = 0.010006 USD"* ]]
  [[ "$output" == *"settlement      reserved 200000, charged 5003, refunded 194997"* ]]
  [[ "$output" == *"check           re-computed 5003 = logs.quota 5003: matches"* ]]
  [[ "$output" != *MISMATCH* ]]
  [ "${lines[${#lines[@]}-1]}" = "1 row, 5003 quota charged in all (0.010006 USD)" ]
  # --json: the row, the breakdown object as stored, and the check
  gwctl log explain rx --json > "$BATS_TEST_TMPDIR/x.json"
  [ "$($JGET '[d["request_id"], len(d["rows"]), d["total_quota"], d["mismatches"]]' < "$BATS_TEST_TMPDIR/x.json")" = '["rx", 1, 5003, 0]' ]
  [ "$($JGET 'd["rows"][0]["billing"]' < "$BATS_TEST_TMPDIR/x.json")" = "$(echo "$RATIO_BD" | $JGET 'd')" ]
  [ "$($JGET '[d["rows"][0][k] for k in ("model", "upstream_model", "quota", "channel_name", "group")]' < "$BATS_TEST_TMPDIR/x.json")" = '["claude-sonnet-4-0", "claude-sonnet-4-20250514", 5003, "c1", "vip"]' ]
  [ "$($JGET '[d["rows"][0]["check"]["recomputed"], d["rows"][0]["check"]["matches"]]' < "$BATS_TEST_TMPDIR/x.json")" = '[5003, true]' ]
}

@test "log explain: a charge that does not match its breakdown is flagged (for auditing)" {
  explain_row bad 5000 "$RATIO_BD"
  run gwctl log explain bad
  [ "$status" -eq 0 ]
  [[ "$output" == *"check           MISMATCH: the breakdown says charged 5003, logs.quota is 5000"* ]]
  [[ "$output" == *"check           MISMATCH: re-computed 5003, logs.quota is 5000 (difference -3)"* ]]
  [[ "$output" == *"quota charged in all"*"; MISMATCH: see the check lines above" ]]
  [ "$(gwj '[d["mismatches"], d["rows"][0]["check"]["recomputed"], d["rows"][0]["check"]["matches"]]' log explain bad)" = '[1, 5003, false]' ]
  # token counts that differ from the row's columns are flagged too
  explain_row tok 5003 "$RATIO_BD" 1100 500
  run gwctl log explain tok
  [[ "$output" == *"MISMATCH: tokens.prompt 1200, logs.prompt_tokens 1100"* ]]
}

@test "log explain: fixed prices, a restart row, an old row without breakdown, an unreadable one" {
  explain_row img 60000 '{"mode":"fixed","usage_source":"local","fixed_price":0.04,"units":2,"unit":"image","group":"vip","group_ratio":1.5,"reserved":60000,"charged":60000}' 0 0
  run gwctl log explain img
  [ "$status" -eq 0 ]
  [[ "$output" == *"usage source    local (relay's own count: the upstream gave no usage, or usage that could not be used)"* ]]
  [[ "$output" == *"price           fixed: fixed_price 0.04 USD per image, units 2"* ]]
  [[ "$output" == *"formula         round(0.04 x 2 x 500000 x 1.5) = round(60000) = 60000"* ]]
  [[ "$output" == *"re-computed 60000 = logs.quota 60000: matches"* ]]
  # a reservation resolved at a restart: the request's second row, with its own small breakdown
  explain_row img 0 '{"reserved":700,"charged":0,"usage_source":"none","note":"restart"}' 0 0
  run gwctl log explain img
  [[ "$output" == *"usage source    none (nothing was charged)"* ]]
  [[ "$output" == *"settlement      reserved 700, charged 0, refunded 700"* ]]
  [[ "$output" == *"note            restart"* ]]
  [ "${lines[${#lines[@]}-1]}" = "2 rows, 60000 quota charged in all (0.120000 USD)" ]
  [ "$(gwj '[len(d["rows"]), d["rows"][1]["billing"]["note"], d["rows"][1]["check"]["matches"]]' log explain img)" = '[2, "restart", true]' ]
  # rows written before breakdowns (billing '') are explained from their columns
  run gwctl log explain r1
  [ "$status" -eq 0 ]
  [[ "$output" == *"breakdown       no breakdown recorded (explained from the row's columns)"* ]]
  [[ "$output" == *"tokens          prompt 10, completion 5"* ]]
  [[ "$output" == *"charged         100 quota = 0.000200 USD"* ]]
  [[ "$output" == *"cannot re-compute the charge without a breakdown"* ]]
  [ "$(gwj '[d["rows"][0]["billing"], d["rows"][0]["check"]["matches"], d["rows"][0]["check"]["reason"]]' log explain r1)" = '[null, null, "no breakdown recorded"]' ]
  # a breakdown that is not what relayd writes is reported, never guessed; control characters in
  # it do not reach the terminal
  explain_row odd 7 '{"mode":"ratio","tokens":{"prompt":"12"}}'
  run gwctl log explain odd
  [ "$status" -eq 0 ]
  [[ "$output" == *"breakdown       unreadable: tokens.prompt is not a number"* ]]
  [ "$(gwj '[d["rows"][0]["billing"], d["rows"][0]["billing_error"]]' log explain odd)" = '[null, "tokens.prompt is not a number"]' ]
  explain_row esc 1 '{"mode":"ratio","tokens":{"prompt":1},"model_ratio":0.001,"group_ratio":1,"note":"a\u001b[31mred"}' 1 0
  run gwctl log explain esc
  [[ "$output" == *"note            a?[31mred"* ]]
  [[ "$output" == *"re-computed 1 = logs.quota 1: matches"* ]]
}

@test "log explain: an unknown request id exits 3, a missing one 2" {
  refused 3 "no log row for request 'nope'" gwctl log explain nope
  refused 2 "missing REQUEST_ID|REQUEST_ID" gwctl log explain
  refused 2 "REQUEST_ID must be 1 to 128 bytes" gwctl log explain "$(printf 'x%.0s' $(seq 200))"
}

@test "log explain: relayd's restart rows carry a breakdown (refunded, then charged in full)" {
  key=$(gwctl token create --user alice --name tr --quota 100000)
  uid=$(sql "SELECT id FROM users WHERE username='alice'")
  tid=$(sql "SELECT id FROM tokens WHERE name='tr'")
  sql "INSERT INTO reservations(request_id, node, created_at, user_id, username, token_id, token_name, model_name, \"group\", quota) VALUES ('rr-1', 'explain-node', 1, $uid, 'alice', $tid, 'tr', 'gpt-4o', 'default', 700)"
  relayd_start --node-name explain-node
  relayd_stop
  [ "$(sql "SELECT billing FROM logs WHERE request_id='rr-1'" | $JGET 'd')" = '{"reserved": 700, "charged": 0, "usage_source": "none", "note": "restart"}' ]
  run gwctl log explain rr-1
  [[ "$output" == *"settlement      reserved 700, charged 0, refunded 700"* ]]
  [[ "$output" == *"charged 0 = logs.quota 0: matches"* ]]
  sql "INSERT INTO reservations(request_id, node, created_at, user_id, username, token_id, token_name, model_name, \"group\", quota) VALUES ('rr-2', 'explain-node', 1, $uid, 'alice', $tid, 'tr', 'gpt-4o', 'default', 900)"
  relayd_start --node-name explain-node --unsettled-reservations charge
  relayd_stop
  run gwctl log explain rr-2
  [[ "$output" == *"usage source    reserved (no usage known: the reservation was charged)"* ]]
  [[ "$output" == *"settlement      reserved 900, charged 900, refunded 0"* ]]
  [[ "$output" == *"charged 900 = logs.quota 900: matches"* ]]
}
