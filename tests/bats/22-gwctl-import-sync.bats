#!/usr/bin/env bats
# gwctl import oneapi, issue #22: a second import updates what the first created (import_sources,
# migration 010) and creates nothing twice; source channel ids are kept (admin pins sk-KEY-ID);
# the channel types that speak the OpenAI API come with their real base URL and path, full-URL
# ("compatible") channels where the path is not /v1; replayed requests cost what One API charges,
# and what New API charges (its completion ratio rules by name; its rounding to the nearest unit,
# which the import sets as relay's option quota_rounding=half_up: every bill equal).
#
# The fixture is One API's database as GORM AutoMigrate creates it on SQLite (import_sources.py
# ONEAPI_SQLITE, which cites songquanpeng/one-api model/*.go); its ratio options are a realistic
# subset written here (the real table has 566 rows: relay/billing/ratio/model.go), with the
# channel-type key form "llama3-8b-8192(33)" of that file.

load helpers
load gwctl_helpers
load import_replay

setup() {
  relay_env
  SRC="$BATS_TEST_TMPDIR/one-api.db"
}


# replay_source KIND FLAVOR (import_replay.bash): the sources here are the SQLite files themselves
replay_source() { echo "sqlite:$SRC"; }

@test "replayed requests cost what One API charges: derived completion ratios, mapped models, default ratio" {
  oneapi_replay sqlite
}

@test "replayed requests cost what New API charges: its completion ratio rules by name, self-use default, rounding" {
  newapi_replay sqlite
}

src_sql() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$SRC" "$1"; }
item() { echo "$report" | $JGET "[[i['result'], i['name'], i['note']] for i in d['items'] if i['kind'] == '$1' and i['source'] == '$2']"; }

@test "a second import changes nothing and creates nothing twice; a changed source updates and says so" {
  oneapi_db "$SRC" "http://127.0.0.1:9"
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(sql 'SELECT count(*) FROM channels')" = 6 ]
  [ "$(sql "SELECT count(*) FROM import_sources WHERE source = 'oneapi'")" = 11 ]   # 2 users, 2 tokens, 6 channels, 1 code
  before=$(db_dump)
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  report=$output
  # nothing at all changed: no channel NAME-<sourceid>, no second key, no manage log row
  [ "$(db_dump)" = "$before" ]
  for kind in users tokens channels redemptions groups; do
    [ "$(echo "$report" | $JGET "[i['result'] for i in d['items'] if i['kind'] == '$kind' and i['result'] != 'unchanged']")" = '[]' ]
  done
  [ "$(echo "$report" | $JGET 'd["counts"]["channels"]')" = '{"imported": 0, "mapped": 0, "skipped": 0, "updated": 0, "unchanged": 6}' ]
  # the source changes: a channel's priority and models, a user's quota, a channel's key; one new channel
  src_sql "UPDATE channels SET priority = 3, models = 'gpt-4o' WHERE id = 1"
  src_sql "UPDATE channels SET \`key\` = 'up-zhipu-2' WHERE id = 2"
  src_sql "UPDATE users SET quota = 123 WHERE id = 2"
  src_sql "INSERT INTO channels(id, type, \`key\`, status, name, base_url, models, \`group\`, priority) VALUES (7, 1, 'k7', 1, 'late', 'http://127.0.0.1:9', 'gpt-4o', 'default', 0)"
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  report=$output
  [[ "$(item channels 'id 1 main')" == *'"updated"'*"priority '10' -> '3'"* ]]
  [[ "$(item channels 'id 1 main')" == *"models"* ]]
  [ "$(sql "SELECT priority, models, model_mapping FROM channels WHERE id = 1")" = "$(printf '3\tgpt-4o\t{"fast":"gpt-4o-mini"}')" ]
  ( ! [[ "$(item channels 'id 1 main')" == *model_mapping* ]] )
  [[ "$(item channels 'id 2 zhipu')" == *'"updated"'*"key changed in the source: set again"* ]]
  [[ "$(item users 'id 2 plain')" == *'"updated"'*"quota '900000000' -> '123'"* ]]
  [ "$(sql "SELECT quota FROM users WHERE username = 'plain'")" = 123 ]
  [[ "$(item channels 'id 7 late')" == *'"imported", "late"'* ]]
  [ "$(sql 'SELECT count(*) FROM channels')" = 7 ]
  [ "$(sql "SELECT count(*) FROM channels WHERE name LIKE '%-_'")" = 0 ]
  [[ "$(item users 'id 1 vipuser')" == *'"unchanged"'* ]]
  # each update is a manage log row naming what changed
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 3 AND content LIKE 'import oneapi: channels id 1 updated from source id 1: %priority%'")" = 1 ]
}

@test "source channel ids are kept where relay has none by that id; a moved id is reported with its pin" {
  oneapi_db "$SRC" "http://127.0.0.1:9"
  printf 'k\n' | gwctl channel add --name mine --type openai --models m1 > /dev/null
  sql "UPDATE channels SET id = 2 WHERE name = 'mine'"
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  report=$output
  [ "$(sql "SELECT id FROM channels WHERE name = 'main'")" = 1 ]
  [ "$(sql "SELECT id FROM channels WHERE name = 'doubao'")" = 3 ]
  [ "$(sql "SELECT id FROM channels WHERE name = 'gemini-oai'")" = 6 ]
  moved=$(sql "SELECT id FROM channels WHERE name = 'zhipu'")
  [ "$moved" -gt 6 ]
  [[ "$(item channels 'id 2 zhipu')" == *"source id 2 is taken in relay: imported as id $moved; admin keys pinned to it (sk-KEY-2) must now end -$moved"* ]]
  # a channel added later gets a fresh id
  printf 'k\n' | gwctl channel add --name after --type openai --models m1 > /dev/null
  [ "$(sql "SELECT id FROM channels WHERE name = 'after'")" -gt "$moved" ]
}

@test "OpenAI-speaking channel types come with their base URL and path; a full-URL channel reaches .../api/paas/v4/chat/completions" {
  mock_start up
  oneapi_db "$SRC" "$MOCK_URL"
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  report=$output
  [ "$(sql "SELECT type, base_url FROM channels WHERE name = 'zhipu'")" = "$(printf 'compatible\t%s/api/paas/v4' "$MOCK_URL")" ]
  [ "$(sql "SELECT type, base_url FROM channels WHERE name = 'doubao'")" = "$(printf 'doubao\t%s/api/v3' "$MOCK_URL")" ]
  [ "$(sql "SELECT type, base_url FROM channels WHERE name = 'aigc2d'")" = "$(printf 'openai\thttps://api.aigc2d.com')" ]
  [ "$(sql "SELECT type, base_url FROM channels WHERE name = 'bailian'")" = "$(printf 'qwen\thttps://dashscope.aliyuncs.com/compatible-mode/v1')" ]
  [ "$(sql "SELECT type, base_url FROM channels WHERE name = 'gemini-oai'")" = "$(printf 'compatible\thttps://generativelanguage.googleapis.com/v1beta/openai')" ]
  [[ "$(item channels 'id 2 zhipu')" == *"type 50 (OpenAICompatible) -> compatible (a full-URL channel: relayd calls $MOCK_URL/api/paas/v4/chat/completions"* ]]
  # a source type relay has a preset for becomes that preset (issue #23)
  [[ "$(item channels 'id 3 doubao')" == *"type 40 (Doubao) -> doubao (its base is the API root: relayd calls $MOCK_URL/api/v3/chat/completions"* ]]
  # the web UI's empty config is not a dropped setting
  ( ! echo "$report" | grep -q 'config dropped' )
  relayd_start
  chat_as "sk-$KEY_U2" glm-4
  [ "$status_code" = 200 ] || { echo "$body"; false; }
  [ "$(mock_requests up | $JGET 'd["path"]')" = /api/paas/v4/chat/completions ]
  [ "$(mock_requests up | $JGET 'd["headers"]["authorization"]')" = "Bearer up-zhipu" ]
  mock_reset up
  chat_as "sk-$KEY_U2" doubao-pro-32k
  [ "$status_code" = 200 ] || { echo "$body"; false; }
  [ "$(mock_requests up | $JGET 'd["path"]')" = /api/v3/chat/completions ]
}

@test "the report: source logs counted, settings with a relay equivalent imported, the rest named" {
  oneapi_db "$SRC" "http://127.0.0.1:9"
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  report=$output
  [[ "$(item logs logs)" == *'"skipped"'*"2 log rows of the source not imported"* ]]
  [ "$(sql "SELECT value FROM options WHERE key = 'quota_remind_threshold'")" = 1000 ]
  [ "$(sql "SELECT value FROM options WHERE key = 'channel_auto_disable'")" = 0 ]
  # every setting with a relay equivalent comes across (model/option.go names)
  [ "$(sql "SELECT value FROM options WHERE key = 'retry_times'")" = 2 ]
  [ "$(sql "SELECT value FROM options WHERE key = 'display_in_currency'")" = 0 ]
  [ "$(sql "SELECT value FROM options WHERE key = 'display_token_stat'")" = 0 ]
  [ "$(sql "SELECT value FROM options WHERE key = 'channel_test_interval_s'")" = 0 ]
  [[ "$(item options AutomaticEnableChannelEnabled)" == *'"imported"'*"never re-enables a channel"* ]]
  # One API's rounding is relay's default: a One API import leaves it
  [ "$(sql "SELECT count(*) FROM options WHERE key = 'quota_rounding'")" = 0 ]
  # those without one are each named with why; a different quota unit is said loudly
  [[ "$(item options QuotaForNewUser)" == *'"skipped"'*"relay has no self-registration"* ]]
  [[ "$(item options PreConsumedQuota)" == *'"skipped"'*"worst case"* ]]
  [[ "$(item options QuotaPerUnit)" == *'"skipped"'*"QUOTA UNIT DIFFERS"* ]]
  [[ "$(item options others)" == *"1 option relay has no equivalent for: Notice (and empty ones, ignored)"* ]]
  ( ! [[ "$(item options others)" == *"SMTPServer"* ]] )
  # a channel-type ratio key prices the model where all its channels are of that type, and a
  # model its channels bill differently is said loudly
  [ "$(sql "SELECT model_ratio FROM prices WHERE model = 'deepseek-chat'")" = 0.08 ]
  [[ "$(item prices 'deepseek-chat')" == *"ratio of deepseek-chat(1) (type 1 channels)"* ]]
  [[ "$(item prices 'gemini-1.5-pro')" == *"CHANNELS BILL IT DIFFERENTLY"*"gemini-oai bills it at model ratio 0.7"* ]]
  [ "$(sql "SELECT model_ratio FROM prices WHERE model = 'gemini-1.5-pro'")" = 0.625 ]
  # the channel-type ratio key is explained, not imported as a model name
  [[ "$(item prices 'llama3-8b-8192(33)')" == *'"skipped"'*"only on type 33 (AWS) channels"* ]]
  [ "$(sql "SELECT count(*) FROM prices WHERE model LIKE '%(%'")" = 0 ]
}



# newapi_db PATH BASE_URL: New API's layout as GORM creates it on SQLite (import_sources.py
# NEWAPI_SQLITE): one user, one token, one channel that maps the requested model alias-model to
# upstream-x.
newapi_db() {
  import_py - "$1" "$2" "$KEY_U2" <<'PY'
import sqlite3, sys, json
from import_sources import NEWAPI_SQLITE
path, base, key = sys.argv[1:4]
c = sqlite3.connect(path)
c.executescript(NEWAPI_SQLITE)
c.execute("INSERT INTO users(id, username, password, quota, `group`, access_token, aff_code) VALUES (1, 'nauser', 'x', 900000000, 'default', 'a1', 'f1')")
c.execute("INSERT INTO tokens(id, user_id, `key`, name, created_time, accessed_time, expired_time, unlimited_quota, model_limits_enabled) VALUES (1, 1, ?, 'main', 1700000000, 0, -1, 1, 0)", (key,))
c.execute("INSERT INTO channels(id, type, `key`, name, base_url, models, `group`, model_mapping, auto_ban, test_model, created_time) VALUES (1, 1, 'up', 'na', ?, 'alias-model', 'default', ?, 1, '', 1700000000)", (base, json.dumps({"alias-model": "upstream-x"})))
c.executemany("INSERT INTO options(`key`, value) VALUES (?,?)", {
    "GroupRatio": json.dumps({"default": 1}),
    "ModelRatio": json.dumps({"alias-model": 2, "upstream-x": 0.5}),
    "CompletionRatio": json.dumps({"alias-model": 3})}.items())
c.commit()
PY
}

@test "New API bills the requested model, not the mapped one: relay bills the same after import" {
  mock_start up
  newapi_db "$SRC" "$MOCK_URL"
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(echo "$output" | $JGET 'd["flavor"]')" = newapi ]
  [ "$(sql "SELECT model_ratio, completion_ratio FROM prices WHERE model = 'alias-model'")" = "$(printf '2.0\t3.0')" ]
  relayd_start
  # New API (Calcium-Ion/new-api relay/relay-text.go postConsumeQuota, priced by OriginModelName):
  # (prompt + completion * 3) * 2 * 1 = 1000 + 2000*3 = 7000 * 2 = 14,000; at upstream-x's 0.5 it would be 3,500
  curl -s -o /dev/null "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer sk-$KEY_U2" \
    -H 'Content-Type: application/json' \
    --data-binary '{"model":"alias-model","messages":[{"role":"user","content":"hi"}],"mock":{"prompt_tokens":1000,"completion_tokens":2000}}'
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'alias-model'"
  [ "$(sql "SELECT quota FROM logs WHERE type = 2 AND model_name = 'alias-model'")" = 14000 ]
  [ "$(mock_requests up | $JGET 'd["body"]["model"]')" = upstream-x ]
}


