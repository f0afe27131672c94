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
  [ "${lines[0]}" = "$(printf 'ID  TIME                 TYPE     USER   TOKEN  MODEL        QUOTA  STATUS  MS  CONTENT')" ]
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
  [ "$(ids --type consume --limit 1)" = '["r3"]' ]
  [ "$(gwctl log list --json --type manage | $JGET 'len(d)')" = 4 ]
}

@test "log stats by model, user, channel and day" {
  run gwctl log stats
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$(printf 'KEY          REQUESTS  PROMPT  COMPLETION  QUOTA')" ]
  [ "$(gwj '[[r["key"], r["requests"], r["prompt_tokens"], r["completion_tokens"], r["quota"]] for r in d]' log stats --by model)" = \
    '[["gpt-4o", 3, 14, 6, 107], ["gpt-4o-mini", 1, 20, 10, 30]]' ]
  [ "$(gwj '[[r["key"], r["requests"], r["quota"]] for r in d]' log stats --by user)" = '[["alice", 2, 130], ["bob", 2, 7]]' ]
  [ "$(gwj '[[r["key"], r["requests"], r["quota"]] for r in d]' log stats --by channel)" = '[["c1", 2, 107], ["c2", 2, 30]]' ]
  [ "$(TZ=UTC gwctl log stats --by day --json | $JGET '[[r["key"], r["requests"]] for r in d]')" = '[["2025-01-01", 2], ["2025-01-02", 2]]' ]
  [ "$(gwj '[[r["key"], r["requests"]] for r in d]' log stats --by model --type consume --user bob)" = '[["gpt-4o", 1]]' ]
  refused 2 "--by must be model, user, channel or day" gwctl log stats --by colour
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
  refused 2 "is not a time" gwctl log prune --before yesterday --yes
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
  refused 2 "is not a time" gwctl log list --since 2025-13-01
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
