#!/usr/bin/env bats
# gwctl import oneapi: fixture databases with One API's and New API's table layouts (shared/ref/
# newapi.md section 1), every mapping and every skip reason in the report, --dry-run and --json,
# the source left untouched, and an imported key authenticating through a running relayd.

load helpers
load gwctl_helpers

setup() {
  relay_env
  SRC="$BATS_TEST_TMPDIR/one-api.db"
}

# 48-character keys as One API generates them (stored without "sk-")
KEY_ALICE=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijkl
KEY_ALICE2=ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210zyxwvutsrqpo
KEY_DASH=abc-def-ghi-jkl-mno-pqr-stu-vwx-yz0-123-456-7890
KEY_GHOST=GhostGhostGhostGhostGhostGhostGhostGhostGhost1234
KEY_SK=sk-StoredWithPrefixStoredWithPrefixStoredWith12

# oneapi_fixture PATH [CHANNEL_BASE_URL]: a One API database (GORM's SQLite layout:
# import_sources.py ONEAPI_SQLITE) with one case of each mapping and skip reason.
oneapi_fixture() {
  import_py - "$1" "${2:-http://127.0.0.1:9}" "$KEY_ALICE" "$KEY_ALICE2" "$KEY_DASH" "$KEY_GHOST" "$KEY_SK" <<'PY'
import sqlite3, sys, json
from import_sources import ONEAPI_SQLITE
path, base, ka, ka2, kdash, kghost, ksk = sys.argv[1:8]
c = sqlite3.connect(path)
c.executescript(ONEAPI_SQLITE)
users = [  # id, username, role, status, quota, used, requests, group
    (1, "root", 100, 1, 500000000000000, 0, 0, "default"),
    (2, "alice", 1, 1, 5000000, 1200, 7, "vip"),
    (3, "bob", 10, 2, 100, 0, 0, "default"),
    (4, "gone", 1, 3, 0, 0, 0, "default"),          # deleted (One API status 3)
    (5, "my user", 1, 1, 10, 0, 0, "nogroup"),       # name with a blank; group not in GroupRatio
    (6, "taken", 1, 1, 10, 0, 0, "default"),         # relay already has it
    (7, "12345", 1, 1, 10, 0, 0, "default"),         # all digits
]
for u in users:
    c.execute("INSERT INTO users(id, username, password, role, status, quota, used_quota, request_count, `group`, access_token, aff_code) VALUES (?,?,'x',?,?,?,?,?,?,?,?)", u + ("at%d" % u[0], "af%d" % u[0]))
tokens = [  # id, user, key, status, name, expired, remain, unlimited, models, subnet
    (1, 2, ka, 1, "laptop", -1, 1000, 0, "gpt-4o-mini,gpt-4o", "10.0.0.0/8"),
    (2, 2, ka2, 1, "laptop", 4102444800, 0, 1, "", ""),         # same name again
    (3, 4, kghost, 1, "ghost", -1, 10, 0, "", ""),                # user deleted
    (4, 2, kdash, 1, "dash", -1, 10, 0, "", ""),                  # key with '-'
    (5, 5, ksk, 1, "", -1, 10, 0, "", ""),                        # stored with sk-
    (6, 6, "TakenTakenTakenTakenTakenTakenTakenTakenTaken1234", 1, "t", -1, 1, 0, "", ""),
]
for t in tokens:
    c.execute("INSERT INTO tokens(id, user_id, `key`, status, name, created_time, accessed_time, expired_time, remain_quota, unlimited_quota, models, subnet) VALUES (?,?,?,?,?,1700000000,1700000100,?,?,?,?,?)", t[:5] + t[5:])
channels = [  # id, type, key, status, name, base_url, other, models, group, mapping, priority, weight, config
    (1, 1, "sk-upstream-openai", 1, "openai main", base, "", "gpt-4o-mini,gpt-4o", "default,vip",
     '{"gpt-4o":"gpt-4o-mini"}', 5, 10, ""),
    (2, 3, "azkey", 1, "azure", "https://x.openai.azure.com", "2024-02-15-preview", "gpt-4o", "default", "", 0, 0, ""),
    (3, 36, "dskey", 2, "deepseek", "", "", "deepseek-chat", "default", "", 0, 0, ""),
    (4, 15, "ak|sk", 1, "baidu", "", "", "ERNIE-4.0", "default", "", 0, 0, ""),
    (5, 50, "k", 1, "compat", "", "", "m1", "default", "", 0, 0, ""),
    (6, 1, "k2", 1, "openai main", base, "", "gpt-4o-mini, bad model", "default", "not json", 0, 0, ""),
    (7, 29, "groqkey", 3, "groq", "", "", "llama3-70b", "default", "", 0, 0, ""),
    (8, 1, "k3", 1, "prompted", base, "", "x", "default", "", 0, 0, '{"region":"us"}'),
]
for ch in channels:
    c.execute("INSERT INTO channels(id, type, `key`, status, name, base_url, other, models, `group`, model_mapping, priority, weight, config, created_time, test_time, response_time, used_quota, system_prompt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1700000000,1700000200,321,77,?)", ch + ("be brief" if ch[0] == 8 else "",))
c.executemany("INSERT INTO redemptions(id, user_id, `key`, status, name, quota, created_time, redeemed_time) VALUES (?,?,?,?,?,?,1700000000,?)", [
    (1, 1, "0123456789abcdef0123456789abcdef", 1, "promo", 500000, 0),
    (2, 1, "fedcba9876543210fedcba9876543210", 3, "promo", 500000, 1700000500),
    (3, 1, "taken-code-taken-code-taken-code", 1, "old", 1, 0)])
opts = {"GroupRatio": json.dumps({"default": 1, "vip": 2}),
        "ModelRatio": json.dumps({"gpt-4o-mini": 0.075, "my-model": 2, "bad model": 1}),
        "CompletionRatio": json.dumps({"gpt-4o-mini": 4}),
        "RetryTimes": "3", "SMTPServer": "smtp.example.com", "QuotaPerUnit": "500000"}
c.executemany("INSERT INTO options(`key`, value) VALUES (?,?)", opts.items())
c.commit()
PY
}

# newapi_fixture PATH: a New API database (import_sources.py NEWAPI_SQLITE: the extra columns,
# soft deletes, model limits, allow_ips, token groups, channel tags and settings).
newapi_fixture() {
  import_py - "$1" <<'PY'
import sqlite3, sys, json
from import_sources import NEWAPI_SQLITE
c = sqlite3.connect(sys.argv[1])
c.executescript(NEWAPI_SQLITE)
c.executemany("INSERT INTO users(id, username, password, role, status, quota, `group`, deleted_at, access_token, aff_code) VALUES (?,?,'x',?,?,?,?,?,?,?)", [
    (1, "admin", 100, 1, 1000, "default", None, "a1", "f1"),
    (2, "carol", 1, 1, 2000000, "default", None, "a2", "f2"),
    (3, "erased", 1, 1, 5, "default", "2025-01-01 00:00:00", "a3", "f3")])
c.executemany("INSERT INTO tokens(id, user_id, `key`, status, name, created_time, accessed_time, expired_time, remain_quota, unlimited_quota, model_limits_enabled, model_limits, allow_ips, `group`, deleted_at) VALUES (?,?,?,1,?,1700000000,0,-1,?,?,?,?,?,?,?)", [
    (1, 2, "CarolKeyCarolKeyCarolKeyCarolKeyCarolKey12345678", "app", 500, 0, 1, "deepseek-chat,gpt-4o-mini", "10.1.2.3\nnot-an-ip\n192.168.0.0/16", "", None),
    (2, 2, "CarolAutoCarolAutoCarolAutoCarolAutoCarolAuto123", "auto", 0, 1, 0, "ignored,list", "", "auto", None),
    (3, 2, "CarolGoneCarolGoneCarolGoneCarolGoneCarolGone123", "old", 0, 1, 0, "", "", "", "2025-01-01 00:00:00"),
    (4, 2, "CarolVipCarolVipCarolVipCarolVipCarolVipCarol123", "vip", 0, 1, 0, "", "", "svip", None)])
c.executemany("INSERT INTO channels(id, type, `key`, status, name, base_url, other, models, `group`, model_mapping, priority, weight, tag, status_code_mapping, auto_ban, created_time) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1700000000)", [
    (1, 43, "dskey", 1, "ds", "", "", "deepseek-chat", "default", "{}", 0, 0, "cn", "", 1),
    (2, 4, "", 1, "local", "http://127.0.0.1:11434/", "", "llama3", "default", "", 0, 0, "", "", 1),
    (3, 2, "mjkey", 1, "mj", "", "", "midjourney", "default", "", 0, 0, "", "", 1),
    (4, 1, "key-a\nkey-b", 1, "multi", "https://api.openai.com", "", "gpt-4o", "default", "", 0, 0, "", "", 1),
    (5, 1, "oak", 1, "remapped", "https://api.openai.com", "", "gpt-4o-mini", "default,svip", "", 0, 0, "", '{"400":"500"}', 0),
    (6, 999, "x", 1, "future", "", "", "m", "default", "", 0, 0, "", "", 1)])
# GORM names OpenAIOrganization open_ai_organization (QuantumNous/new-api model/channel.go)
c.execute("UPDATE channels SET open_ai_organization = 'org-123', test_model = 'deepseek-chat' WHERE id = 1")
# a multi-key channel (New API's ChannelInfo): polling, its second key disabled automatically
c.execute("UPDATE channels SET channel_info = ? WHERE id = 4", (json.dumps({"is_multi_key": True, "multi_key_size": 2,
    "multi_key_status_list": {"1": 3}, "multi_key_disabled_reason": {"1": "invalid api key"},
    "multi_key_disabled_time": {"1": 1700000500}, "multi_key_polling_index": 0, "multi_key_mode": "polling"}),))
c.executemany("INSERT INTO redemptions(id, user_id, `key`, status, name, quota, created_time, redeemed_time, used_user_id, deleted_at) VALUES (?,1,?,?,?,?,1700000000,?,?,?)", [
    (1, "aaaabbbbccccddddaaaabbbbccccdddd", 3, "gift", 1000, 1700000900, 2, None),
    (2, "eeeeffff00001111eeeeffff00001111", 1, "gift", 1000, 0, 0, "2025-02-02 00:00:00")])
c.executemany("INSERT INTO options(`key`, value) VALUES (?,?)", {
    "GroupRatio": json.dumps({"default": 1, "svip": 0.8}),
    "UserUsableGroups": json.dumps({"default": "default group", "svip": "svip group"}),
    "ModelRatio": json.dumps({"deepseek-chat": 0.135}),
    "ModelPrice": json.dumps({"dall-e-3": 0.04}),
    "CacheRatio": json.dumps({"deepseek-chat": 0.25}),
    "CreateCacheRatio": json.dumps({"deepseek-chat": 1.5, "not-priced": 2}),
    "RetryTimes": "25"}.items())
c.commit()
PY
}

# item KIND SOURCE: the report item (from $report, the --json output) for SOURCE, as JSON
item() { echo "$report" | $JGET "[[i['result'], i['name'], i['note']] for i in d['items'] if i['kind'] == '$1' and i['source'] == '$2']"; }

@test "import from One API: every mapping and skip reason, reported; keys kept as hashes" {
  oneapi_fixture "$SRC"
  gwctl user add taken --quota 1
  gwctl redeem create --count 1 --quota 1 > /dev/null
  sql "UPDATE redemptions SET key = 'taken-code-taken-code-taken-code'"
  src_before=$(sha256sum < "$SRC")
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  report=$output
  [ "$(echo "$report" | $JGET 'd["flavor"]')" = oneapi ]
  # groups and prices from the options
  [ "$(sql "SELECT name, ratio, selectable FROM groups ORDER BY name" | tr '\t\n' ' |')" = "default 1.0 1|nogroup 1.0 0|vip 2.0 0|" ]
  [[ "$(item groups nogroup)" == *'"mapped", "nogroup", "not in GroupRatio but used by user my_user: created with ratio 1"'* ]]
  [ "$(sql "SELECT model_ratio, completion_ratio FROM prices WHERE model = 'gpt-4o-mini'")" = "$(printf '0.075\t4.0')" ]
  [ "$(sql "SELECT model_ratio, completion_ratio FROM prices WHERE model = 'my-model'")" = "$(printf '2.0\t1.0')" ]
  [[ "$(item prices my-model)" == *'"mapped"'*'no CompletionRatio'* ]]
  [[ "$(item prices 'bad model')" == *'"skipped"'*"may not contain blanks"* ]]
  # users
  [[ "$(item users 'id 2 alice')" == '[["imported", "alice", ""]]' ]]
  [[ "$(item users 'id 4 gone')" == '[["skipped", "", "deleted in the source"]]' ]]
  [[ "$(item users 'id 5 my user')" == *'"mapped", "my_user", "name '"'my user' -> 'my_user'"* ]]
  [[ "$(item users 'id 6 taken')" == *'"skipped"'*"relay already has a user named 'taken'"* ]]
  [[ "$(item users 'id 7 12345')" == *'"mapped", "user12345"'* ]]
  [ "$(sql "SELECT role, status, quota, used_quota, request_count, \"group\" FROM users WHERE username = 'alice'")" = "$(printf '1\t1\t5000000\t1200\t7\tvip')" ]
  [ "$(sql "SELECT role, status FROM users WHERE username = 'bob'")" = "$(printf '10\t2')" ]
  [ "$(sql "SELECT role FROM users WHERE username = 'root'")" = 100 ]
  # tokens: the hash of the stored key, never the key
  [ "$(sql "SELECT key_hash FROM tokens WHERE name = 'laptop'")" = "$(printf %s "$KEY_ALICE" | sha256sum | cut -d' ' -f1)" ]
  ( ! sql 'SELECT * FROM tokens' | grep -qF "$KEY_ALICE" )
  ( ! sql 'SELECT content FROM logs' | grep -qF "$KEY_ALICE" )
  ( ! echo "$report" | grep -qF "$KEY_ALICE" )
  [ "$(sql "SELECT remain_quota, models, subnet, expired_time, created_time FROM tokens WHERE name = 'laptop'")" = "$(printf '1000\tgpt-4o-mini,gpt-4o\t10.0.0.0/8\t-1\t1700000000')" ]
  [[ "$(item tokens 'id 2 laptop')" == *'"mapped", "alice/laptop-2", "name '"'laptop' -> 'laptop-2'"' (the user has another token by that name)'* ]]
  [ "$(sql "SELECT unlimited_quota, expired_time FROM tokens WHERE name = 'laptop-2'")" = "$(printf '1\t4102444800')" ]
  [[ "$(item tokens 'id 3 ghost')" == *'"skipped"'*"its user (source id 4) was not imported"* ]]
  [[ "$(item tokens 'id 4 dash')" == *'"skipped"'*"its key cannot be used with relay"* ]]
  [[ "$(item tokens 'id 5 ')" == *'"skipped"'*"starts with 'sk-'"* ]]
  [[ "$(item tokens 'id 6 t')" == *'"skipped"'*"its user (source id 6) was not imported"* ]]
  # channels: type ids mapped, defaults, what relay lacks named
  [ "$(sql "SELECT type, base_url, models, \"group\", model_mapping, priority, weight, status, response_time, used_quota FROM channels WHERE name = 'openai_main'")" = "$(printf 'openai\thttp://127.0.0.1:9\tgpt-4o-mini,gpt-4o\tdefault,vip\t{"gpt-4o":"gpt-4o-mini"}\t5\t10\t1\t321\t77')" ]
  # (its value reaches the upstream: see the relayd test below)
  [ "$(sql "SELECT key <> '' FROM channels WHERE name = 'openai_main'")" = 1 ]
  [ "$(sql "SELECT type, other FROM channels WHERE name = 'azure'")" = "$(printf 'azure\t{"api_version":"2024-02-15-preview"}')" ]
  [ "$(sql "SELECT type, base_url, status FROM channels WHERE name = 'deepseek'")" = "$(printf 'deepseek\thttps://api.deepseek.com\t2')" ]
  [[ "$(item channels 'id 3 deepseek')" == *'"mapped"'*"base_url empty -> https://api.deepseek.com"* ]]
  [[ "$(item channels 'id 4 baidu')" == *'"skipped"'*"type 15 (Baidu) has no relay equivalent"* ]]
  [[ "$(item channels 'id 5 compat')" == *'"skipped"'*"no base_url, and OpenAICompatible channels have no default one"* ]]
  [[ "$(item channels 'id 6 openai main')" == *'"mapped", "openai_main-6"'*"models dropped: 'bad model'"*"model_mapping dropped"* ]]
  [ "$(sql "SELECT type, base_url, status FROM channels WHERE name = 'groq'")" = "$(printf 'groq\thttps://api.groq.com/openai/v1\t3')" ]
  [[ "$(item channels 'id 7 groq')" == *"type 29 (Groq) -> groq (relay's OpenAI-compatible preset)"* ]]
  [[ "$(item channels 'id 8 prompted')" == *"system_prompt dropped"*"config dropped"* ]]
  # redemption codes
  [ "$(sql "SELECT status, quota, redeemed_time FROM redemptions WHERE key = 'fedcba9876543210fedcba9876543210'")" = "$(printf '3\t500000\t1700000500')" ]
  [[ "$(item redemptions 'id 3 old')" == *'"skipped"'*"relay already has this code"* ]]
  # options
  [ "$(sql "SELECT value FROM options WHERE key = 'retry_times'")" = 3 ]
  [[ "$(item options others)" == *'"skipped"'*"1 option relay has no equivalent for: SMTPServer"* ]]
  [[ "$(item options QuotaPerUnit)" == *'"unchanged"'*"relay's own unit"* ]]
  # counts; the source is not touched
  [ "$(echo "$report" | $JGET 'd["counts"]["users"]')" = '{"imported": 3, "mapped": 2, "skipped": 2, "updated": 0, "unchanged": 0}' ]
  [ "$(sha256sum < "$SRC")" = "$src_before" ]
  ( ! python3 -c 'import sqlite3,sys; sys.exit(0 if sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM sqlite_master WHERE name = \"schema_migrations\"").fetchone()[0] else 1)' "$SRC" )
  # manage rows name what was imported and who did it
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 3 AND content LIKE 'import oneapi: token %(by $(id -un))'")" = 2 ]
  # a second import finds what the first created (import_sources) and changes no user
  before=$(sql 'SELECT * FROM users ORDER BY id')
  run gwctl import oneapi --from "sqlite:$SRC"
  [ "$status" -eq 0 ]
  [[ "$output" == *"unchanged users       id 2 alice: id "*" (imported before; the source row is the same)"* ]]
  [[ "$output" == *"skipped   users       id 6 taken -> taken: relay already has a user named 'taken'"* ]]
  [ "$(sql 'SELECT * FROM users ORDER BY id')" = "$before" ]
}

@test "import from New API: its types, soft deletes, model limits, IP lists, token groups, fixed prices" {
  newapi_fixture "$SRC"
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  report=$output
  [ "$(echo "$report" | $JGET 'd["flavor"]')" = newapi ]
  [ "$(sql "SELECT name, ratio, selectable FROM groups ORDER BY name" | tr '\t\n' ' |')" = "default 1.0 1|svip 0.8 1|" ]
  [ "$(sql "SELECT fixed_price FROM prices WHERE model = 'dall-e-3'")" = 0.04 ]
  [ "$(sql "SELECT model_ratio, cache_ratio FROM prices WHERE model = 'deepseek-chat'")" = "$(printf '0.135\t0.25')" ]
  # CreateCacheRatio: the 5-minute cache write ratio; New API bills the 1-hour one at 1.6 times it
  [ "$(sql "SELECT cache_write_ratio, round(cache_write_1h_ratio, 9) FROM prices WHERE model = 'deepseek-chat'")" = "$(printf '1.5\t2.4')" ]
  [[ "$(item prices deepseek-chat)" == *"cache write ratio 1.5 (1h: 2.4, CreateCacheRatio x 1.6)"* ]]
  [ "$(sql "SELECT count(*) FROM prices WHERE model = 'not-priced'")" = 0 ]
  [[ "$(item users 'id 3 erased')" == *'"skipped"'*"deleted in the source"* ]]
  [ "$(sql "SELECT models, subnet FROM tokens WHERE name = 'app'")" = "$(printf 'deepseek-chat,gpt-4o-mini\t10.1.2.3,192.168.0.0/16')" ]
  [[ "$(item tokens 'id 1 app')" == *'"mapped"'*"addresses dropped (not an IP or CIDR): 'not-an-ip'"* ]]
  # limits off: the list does not apply
  [ "$(sql "SELECT models, \"group\" FROM tokens WHERE name = 'auto'")" = "$(printf '\t')" ]
  [[ "$(item tokens 'id 2 auto')" == *"group 'auto' -> the user's group"* ]]
  [ "$(sql "SELECT \"group\" FROM tokens WHERE name = 'vip'")" = svip ]
  [[ "$(item tokens 'id 3 old')" == *'"skipped"'*"deleted in the source"* ]]
  [ "$(sql "SELECT type, base_url, tag FROM channels WHERE name = 'ds'")" = "$(printf 'deepseek\thttps://api.deepseek.com\tcn')" ]
  # test_model is relay's channel test model; the organization is named when dropped
  [ "$(sql "SELECT test_model FROM channels WHERE name = 'ds'")" = deepseek-chat ]
  [[ "$(item channels 'id 1 ds')" == *"open_ai_organization dropped (relay has no equivalent)"* ]]
  [ "$(sql "SELECT type, base_url, key <> '' FROM channels WHERE name = 'local'")" = "$(printf 'ollama\thttp://127.0.0.1:11434\t0')" ]
  [[ "$(item channels 'id 2 local')" == *"no key in the source"* ]]
  [[ "$(item channels 'id 3 mj')" == *'"skipped"'*"type 2 (Midjourney) has no relay equivalent"* ]]
  # New API's multi-key channel is a key pool: each key, the source's key status, polling -> round-robin
  [[ "$(item channels 'id 4 multi')" == *'"mapped"'*"2 keys (one a line) -> a key pool, key mode round-robin"* ]]
  [ "$(gwctl channel key list multi --json | $JGET '[k["status"] for k in d]')" = '["enabled", "auto-disabled"]' ]
  [ "$(gwctl channel key list multi --json | $JGET 'd[1]["status_reason"]')" = "invalid api key" ]
  [ "$(sql "SELECT key_mode FROM channels WHERE name = 'multi'")" = round-robin ]
  [ "$(sql "SELECT count(*) FROM channel_keys WHERE key LIKE 'enc:%'")" = 2 ]
  [[ "$(item channels 'id 5 remapped')" == *'"mapped"'*"status_code_mapping dropped"*"auto_ban 0 -> auto disable off"* ]]
  [ "$(sql "SELECT auto_disable FROM channels WHERE name = 'remapped'")" = 0 ]
  [[ "$(item channels 'id 6 future')" == *'"skipped"'*"type 999 (unknown)"* ]]
  [ "$(sql "SELECT status, used_user_id FROM redemptions WHERE name = 'gift'")" = "$(printf '3\t%s' "$(sql "SELECT id FROM users WHERE username = 'carol'")")" ]
  [[ "$(item redemptions 'id 2 gift')" == *'"skipped"'*"deleted in the source"* ]]
  [[ "$(item options RetryTimes)" == *'"skipped"'*"must be an integer from 0 to 10"* ]]
  # --flavor overrides the detection
  run gwctl import oneapi --from "sqlite:$SRC" --flavor oneapi --dry-run --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET 'd["flavor"]')" = oneapi ]
}

@test "--dry-run reports the same and changes nothing; bad sources are refused" {
  oneapi_fixture "$SRC"
  gwctl user list > /dev/null     # relay's database exists
  before=$(db_dump)
  run gwctl import oneapi --from "sqlite:$SRC" --dry-run --json
  [ "$status" -eq 0 ]
  dry=$(echo "$output" | $JGET 'd["items"]')
  [ "$(echo "$output" | $JGET 'd["dry_run"]')" = true ]
  [ "$(db_dump)" = "$before" ]
  run gwctl import oneapi --from "sqlite:$SRC" --dry-run
  [ "$status" -eq 0 ]
  [[ "${lines[-1]}" == "would import (dry run, nothing changed) from oneapi: "* ]]
  [ "$(db_dump)" = "$before" ]
  run gwctl import oneapi --from "sqlite:$SRC" --json
  [ "$(echo "$output" | $JGET 'd["items"]')" = "$dry" ]
  refused 1 'not a readable SQLite database|cannot open' gwctl import oneapi --from "sqlite:$BATS_TEST_TMPDIR/none.db"
  python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE t(x)"); c.commit()' "$BATS_TEST_TMPDIR/other.db"
  refused 1 'not a One API / New API database' gwctl import oneapi --from "sqlite:$BATS_TEST_TMPDIR/other.db"
  refused 2 'missing --from' gwctl import oneapi
  refused 2 '--flavor must be' gwctl import oneapi --from "sqlite:$SRC" --flavor x
}

@test "an imported key authenticates through a running relayd, on an imported channel" {
  mock_start up
  oneapi_fixture "$SRC" "$MOCK_URL"
  relayd_start
  gwctl import oneapi --from "sqlite:$SRC" > /dev/null
  # relayd reloaded: the One API client key works as it did there (laptop-2 has no address list)
  chat_as "sk-$KEY_ALICE2" gpt-4o-mini
  [ "$status_code" = 200 ] || { echo "$body"; false; }
  [ "$(mock_requests up | $JGET 'd["headers"]["authorization"]')" = "Bearer sk-upstream-openai" ]
  # billed to the imported token and user
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE type = 2 AND token_name = 'laptop-2' AND username = 'alice'"
  # the address list came along: the other key is refused from 127.0.0.1
  chat_as "sk-$KEY_ALICE" gpt-4o-mini
  [ "$status_code" = 403 ]
  # a key that was skipped does not work
  chat_as "sk-$KEY_GHOST" gpt-4o-mini
  [ "$status_code" = 401 ]
}
